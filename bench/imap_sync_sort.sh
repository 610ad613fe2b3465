#!/usr/bin/env bash
# SORT speed and QRESYNC resync size of ferrymail's imapd against the reference Dovecot, same
# machine, one run, rounds alternating (bench/imap_sync_sort.py: 10,000 messages preloaded by
# APPEND; SORT ARRIVAL/DATE/SUBJECT/FROM/REVERSE DATE; the bytes of a QRESYNC reconnect after
# 100 messages changed flags, against a full FETCH 1:* (FLAGS)).
#
#   NMSGS=10000 CHANGES=100 RUNS=3 WARMUP=1   passed to imap_sync_sort.py
#   IMAP_PORT=12144 (IMAPS_PORT=12994)
#   REF_IMAP_PORT=10143               also bench the refstack Dovecot (user3@bench.test / pass)
#   KEEP=1                            keep the state dir
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export SHARED=${SHARED:-$ROOT/../shared}
export NMSGS=${NMSGS:-10000} CHANGES=${CHANGES:-100} RUNS=${RUNS:-3}
PORT=${IMAP_PORT:-12144}; SPORT=${IMAPS_PORT:-12994}
STATE=$(mktemp -d "${TMPDIR:-/tmp}/ferrymail-sync-sort.XXXXXX")

cargo build --release --quiet -p imapd --bin imapd --example imap_bench_env --manifest-path "$ROOT/Cargo.toml"
eval "$("$ROOT/target/release/examples/imap_bench_env" "$STATE" "$PORT" "$SPORT" 'bench{n}@bench.test' 3 benchpass 50)"
"$ROOT/target/release/imapd" -c "$CONFIG" 2>"$STATE/imapd.log" &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; [ "${KEEP:-0}" = 1 ] || rm -rf "$STATE"; }
trap cleanup EXIT
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

TARGETS="ferrymail=127.0.0.1:$PORT:bench3@bench.test:benchpass"
if [ -n "${REF_IMAP_PORT:-}" ]; then
  TARGETS="$TARGETS,dovecot=127.0.0.1:$REF_IMAP_PORT:user3@bench.test:pass"
fi
TARGETS=$TARGETS python3 "$ROOT/bench/imap_sync_sort.py"
