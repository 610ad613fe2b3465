#!/usr/bin/env bash
# The scale target: K (default 50,000) concurrent IDLE connections against ferrymail's
# imapd on this machine, with the server's memory per connection (bench/imap_idle_many.py).
# Optionally the reference Dovecot's memory per idle connection at REF_K (default 1,000; one
# process per connection makes 50,000 impractical for it) with the shared
# ../shared/bench/imap_idle_conns.py, and ours at the same REF_K, for the ratio.
#
#   K=50000 USERS=100 CONCURRENCY=200   passed to imap_idle_many.py
#   IMAP_PORT=12143 (IMAPS_PORT=12993)
#   REF_IMAP_PORT=10143 REF_K=1000      also measure refstack Dovecot (user1@bench.test / pass)
#   KEEP=1                              keep the state dir
# Needs root for the file-descriptor limit (ulimit -Hn) when K is large.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
K=${K:-50000}; USERS=${USERS:-100}
PORT=${IMAP_PORT:-12143}; SPORT=${IMAPS_PORT:-12993}
ulimit -Hn $(( K + 10000 )) 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
# One process holds every connection, so the file-descriptor limit bounds K. Without
# CAP_SYS_RESOURCE the hard limit cannot be raised: say so and measure what fits.
HARD=$(ulimit -Hn)
if [ "$HARD" != unlimited ] && [ $(( K + 1000 )) -gt "$HARD" ]; then
  echo "NOTE: RLIMIT_NOFILE hard limit is $HARD here and cannot be raised; K=$K capped to $(( HARD - 1000 ))"
  K=$(( HARD - 1000 ))
fi
PER_USER=$(( (K + USERS - 1) / USERS + 10 ))
STATE=$(mktemp -d "${TMPDIR:-/tmp}/ferrymail-imap-idle.XXXXXX")
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

cargo build --release --quiet -p imapd --bin imapd --example imap_bench_env --manifest-path "$ROOT/Cargo.toml"
eval "$("$TARGET/release/examples/imap_bench_env" "$STATE" "$PORT" "$SPORT" 'bench{n}@bench.test' "$USERS" benchpass "$PER_USER")"
PID=
start_imapd() {
  "$TARGET/release/imapd" -c "$CONFIG" 2>>"$STATE/imapd.log" &
  PID=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
}
stop_imapd() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
cleanup() { stop_imapd; [ "${KEEP:-0}" = 1 ] || rm -rf "$STATE"; }
trap cleanup EXIT

# The comparison first, each server freshly started: an allocator keeps what a bigger run
# freed, which would hide the per-connection cost of a later, smaller run.
if [ -n "${REF_IMAP_PORT:-}" ]; then
  RK=${REF_K:-1000}
  start_imapd
  echo "== ferrymail imapd, shared imap_idle_conns.py, K=$RK"
  OURS=$(IMAP_HOST=127.0.0.1 IMAP_PORT=$PORT USER_PATTERN='bench{n}@bench.test' USER_COUNT=$USERS \
    PASS=benchpass K=$RK SERVER_PID=$PID python3 "$SHARED/bench/imap_idle_conns.py" | tee /dev/stderr)
  stop_imapd
  echo "== Dovecot (refstack), shared imap_idle_conns.py, K=$RK"
  REF=$(IMAP_HOST=127.0.0.1 IMAP_PORT=$REF_IMAP_PORT BENCH_USER=user1@bench.test PASS=pass K=$RK \
    python3 "$SHARED/bench/imap_idle_conns.py" | tee /dev/stderr)
  val() { echo "$1" | awk -v k="$2" '$1=="RESULT" { split($2, kv, "="); if (kv[1]==k) print kv[2] }'; }
  for m in imap_idle_pss_delta_per_conn_kb imap_idle_rss_delta_per_conn_kb; do
    o=$(val "$OURS" $m); r=$(val "$REF" $m)
    echo "$m: ferrymail $o, dovecot $r"
    [ -n "$o" ] && [ -n "$r" ] && python3 -c "print(f'RATIO $m dovecot/ferrymail = {float(\"$r\")/max(float(\"$o\"),0.001):.1f}')"
  done
fi

start_imapd
echo "== ferrymail imapd, K=$K over $USERS users"
IMAP_HOST=127.0.0.1 IMAP_PORT=$PORT USER_PATTERN='bench{n}@bench.test' USER_COUNT=$USERS PASS=benchpass \
  K=$K SERVER_PID=$PID python3 "$ROOT/bench/imap_idle_many.py"
