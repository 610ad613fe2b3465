#!/usr/bin/env bash
# POP3 RETR throughput of ferrymail's pop3d, measured with the shared bench script
# (../shared/bench/pop3_bench.py), optionally against the reference Dovecot in the same run.
#
#   NMSGS=2000 RUNS=3        passed to pop3_bench.py
#   POP3_PORT=12110          port for ferrymail's pop3d (POP3S_PORT=12995)
#   REF_POP3_PORT / REF_IMAP_PORT   if set, also bench the refstack Dovecot on these ports
#                            (user3@bench.test / pass, preloaded via IMAP APPEND as in BASELINE.md)
#   PRELOAD=maildir          how ferrymail's maildrop is filled: files written straight into the
#                            Maildir (imap = APPEND via ferrymail's imapd, once it exists)
#   KEEP=1                   keep the state dir
# Prints the bench's RESULT lines for each server and, with the reference, the RETR ratio.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
export NMSGS=${NMSGS:-2000} RUNS=${RUNS:-3}
PORT=${POP3_PORT:-12110}; SPORT=${POP3S_PORT:-12995}
STATE=$(mktemp -d "${TMPDIR:-/tmp}/ferrymail-pop3-bench.XXXXXX")
LOGIN=bench3@bench.test; PW=benchpass

cargo build --release --quiet -p pop3d --bin pop3d --example bench_env --manifest-path "$ROOT/Cargo.toml"
eval "$("$ROOT/target/release/examples/bench_env" "$STATE" "$PORT" "$SPORT" "$LOGIN" "$PW")"
"$ROOT/target/release/pop3d" -c "$CONFIG" 2>"$STATE/pop3d.log" &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; [ "${KEEP:-0}" = 1 ] || rm -rf "$STATE"; }
trap cleanup EXIT
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

echo "== ferrymail pop3d (PRELOAD=${PRELOAD:-maildir})"
OURS=$(POP3_HOST=127.0.0.1 POP3_PORT=$PORT BENCH_USER=$LOGIN PASS=$PW MAILDIR=$MAILDIR \
  PRELOAD=${PRELOAD:-maildir} python3 "$SHARED/bench/pop3_bench.py" | tee /dev/stderr)

if [ -n "${REF_POP3_PORT:-}" ]; then
  echo "== Dovecot (refstack, PRELOAD=imap)"
  REF=$(POP3_HOST=127.0.0.1 POP3_PORT=$REF_POP3_PORT IMAP_HOST=127.0.0.1 IMAP_PORT=${REF_IMAP_PORT:-10143} \
    BENCH_USER=user3@bench.test PASS=pass PRELOAD=imap python3 "$SHARED/bench/pop3_bench.py" | tee /dev/stderr)
  val() { echo "$1" | awk -v k="$2" '$1=="RESULT" { split($2, kv, "="); if (kv[1]==k) print kv[2] }'; }
  o=$(val "$OURS" pop3_retr_MBps); r=$(val "$REF" pop3_retr_MBps)
  python3 -c "print(f'RATIO pop3_retr_MBps ferrymail/dovecot = {float(\"$o\")/float(\"$r\"):.2f}')"
fi
