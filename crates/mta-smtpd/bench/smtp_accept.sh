#!/usr/bin/env bash
# Accepted messages per second, fsync on, mta-smtpd vs the reference Postfix, measured in one run
# with the same load (Postfix's smtp-source via ../shared/bench/smtp_accept.sh).
#
#   crates/mta-smtpd/bench/smtp_accept.sh          (from the project root, as root)
#
# Env: MSGS (5000) SESSIONS (20) MSG_SIZE (4096) RUNS (3) REUSE (0|1), FERRY_PORT (12525),
#      SKIP_POSTFIX=1 to measure ferrymail only,
#      WITH_DELIVERY=1 to also run queue-runner and local-delivery (delivering into Maildir while
#      the load runs, like the reference stack; each run then starts with an empty queue).
# Prints the RESULT lines of both and the ratio. ferrymail's spool commit fsyncs the data file,
# the data dir, the envelope and the queue dir before every 250; Postfix fsyncs its queue file.
# Without WITH_DELIVERY only mta-smtpd runs on the ferrymail side (nothing drains the queue),
# while the reference Postfix also delivers into Dovecot during the run (see BASELINE.md): say
# so when quoting the ratio.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
export MSGS=${MSGS:-5000} SESSIONS=${SESSIONS:-20} MSG_SIZE=${MSG_SIZE:-4096} RUNS=${RUNS:-3}
export REUSE=${REUSE:-0}
FERRY_PORT=${FERRY_PORT:-12525}
STATE=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench.XXXXXX")
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$STATE"' EXIT

cd "$ROOT"
cargo build --release -q -p mta-smtpd --bin mta-smtpd --example smtpd_bench_env
CONF=$(target/release/examples/smtpd_bench_env "$STATE/env" "$FERRY_PORT")
FERRY_WAIT=
if [ "${WITH_DELIVERY:-0}" = 1 ]; then
  cargo build --release -q -p queue-runner -p local-delivery
  target/release/local-delivery -c "$CONF" 2> "$STATE/local-delivery.log" &
  PIDS+=($!)
  sleep 0.5
  target/release/queue-runner -c "$CONF" 2> "$STATE/queue-runner.log" &
  PIDS+=($!)
  FERRY_WAIT="end=\$((\$(date +%s) + 300)); while [ \$(find '$STATE/env/spool/queue' -type f | wc -l) -gt 0 ]; do [ \$(date +%s) -ge \$end ] && exit 1; sleep 0.2; done"
fi
target/release/mta-smtpd -c "$CONF" 2> "$STATE/mta-smtpd.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
  (exec 3<>/dev/tcp/127.0.0.1/"$FERRY_PORT") 2>/dev/null && break
  sleep 0.1
done

echo "== ferrymail mta-smtpd 127.0.0.1:$FERRY_PORT"
out=$(SMTP_HOST=127.0.0.1 SMTP_PORT=$FERRY_PORT RCPT=user1@bench.test WAIT_CMD="$FERRY_WAIT" \
  "$SHARED/bench/smtp_accept.sh")
echo "$out"
ferry=$(echo "$out" | sed -n 's/^RESULT [a-z_]*=\([0-9.]*\).*/\1/p')
if [ "${WITH_DELIVERY:-0}" = 1 ]; then
  delivered=$(find "$STATE/env/mail" -path '*/new/*' -type f | wc -l)
  echo "ferrymail: $delivered messages in Maildir new/ at the end"
else
  queued=$(find "$STATE/env/spool/queue" -type f | wc -l)
  echo "ferrymail queue files after the runs: $queued (expected $((MSGS * RUNS)))"
fi

if [ "${SKIP_POSTFIX:-0}" = 1 ]; then exit 0; fi
echo "== reference Postfix (../shared/refstack)"
"$SHARED/refstack/up.sh" > "$STATE/refstack.out"
REFSTACK_DIR=$(sed -n 's/^REFSTACK_DIR=//p' "$STATE/refstack.out" | head -1)
[ -n "$REFSTACK_DIR" ] || REFSTACK_DIR=$(cat "${TMPDIR:-/tmp}/refstack.current")
# shellcheck disable=SC1091
. "$REFSTACK_DIR/env"
out=$(cd "$SHARED" && WAIT_CMD=refstack/queue_drain.sh RCPT=user1@bench.test bench/smtp_accept.sh)
echo "$out"
postfix_rate=$(echo "$out" | sed -n 's/^RESULT [a-z_]*=\([0-9.]*\).*/\1/p')
awk -v f="$ferry" -v p="$postfix_rate" \
  'BEGIN{printf "RESULT smtp_accept ferrymail=%s postfix=%s ratio=%.2f\n", f, p, f/p}'
