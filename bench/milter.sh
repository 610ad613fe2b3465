#!/usr/bin/env bash
# SMTP acceptance with rspamd attached as a milter: ferrymail's mta-smtpd against the reference
# Postfix, both talking to the same rspamd (tests/rspamd/, its proxy worker in milter mode), same
# machine, same run, alternating round by round. Each message goes through rspamd's full scan
# before the 250, on both systems; both deliver meanwhile (ferrymail to its Maildirs, Postfix to
# Dovecot over LMTP), so the figure is acceptance under a delivering suite, as in throughput.sh.
# Prints every round's RESULT lines, the medians and a RATIO line (> 1: ferrymail is faster).
#
#   bench/milter.sh                             (from the project root, as root)
# Env: ROUNDS (3)  N (2000)  SESSIONS (20)  MSG_SIZE (4096)  FERRY_PORT (12525)
#      MILTER_PORT (11332)  DNS_PORT (11353)  KEEP=1 keeps the state dir
# Needs Debian's rspamd, Postfix's smtp-source and the reference stack (../shared/refstack/up.sh
# is run if it is not up). The reference Postfix's smtpd_milters is set for the run and
# removed afterwards.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
ROUNDS=${ROUNDS:-3}; N=${N:-2000}; SESSIONS=${SESSIONS:-20}; MSG_SIZE=${MSG_SIZE:-4096}
FERRY_PORT=${FERRY_PORT:-12525}; MILTER_PORT=${MILTER_PORT:-11332}; DNS_PORT=${DNS_PORT:-11353}
[ "$ROUNDS" -le 10 ] && [ "$N" -le 50000 ] || { echo "milter: ROUNDS<=10 N<=50000" >&2; exit 1; }
command -v rspamd >/dev/null || { echo "milter: rspamd is not installed" >&2; exit 1; }
STATE=$(mktemp -d "${TMPDIR:-/tmp}/ferry-milter.XXXXXX")
chmod 755 "$STATE"
PIDS=()
PF_ETC=
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ -n "$PF_ETC" ]; then
    postconf -c "$PF_ETC" -X smtpd_milters milter_default_action 2>/dev/null || true
    postfix -c "$PF_ETC" reload >/dev/null 2>&1 || true
  fi
  [ "${KEEP:-0}" = 1 ] || rm -rf "$STATE"
}
trap cleanup EXIT

# --- rspamd, shared by both systems; its DNS lookups answered at once (bench/dns_stub.py)
python3 "$ROOT/bench/dns_stub.py" "$DNS_PORT" & PIDS+=($!)
mkdir -p "$STATE/rspamd"; chown _rspamd:_rspamd "$STATE/rspamd"
rspamd -f -u _rspamd -g _rspamd -c "$ROOT/tests/rspamd/rspamd.conf" \
  --var LOCAL_CONFDIR="$ROOT/tests/rspamd" --var DBDIR="$STATE/rspamd" --var RUNDIR="$STATE/rspamd" \
  --var LOGDIR="$STATE/rspamd" --var MILTER_PORT="$MILTER_PORT" --var DNS_PORT="$DNS_PORT" \
  >/dev/null 2>&1 & PIDS+=($!)
for _ in $(seq 1 1200); do (exec 3<>/dev/tcp/127.0.0.1/"$MILTER_PORT") 2>/dev/null && break; sleep 0.1; done
(exec 3<>/dev/tcp/127.0.0.1/"$MILTER_PORT") 2>/dev/null || { echo "milter: rspamd did not start" >&2; exit 1; }

# --- the reference stack, with the same milter
if ! [ -f "${TMPDIR:-/tmp}/refstack.current" ] || ! [ -f "$(cat "${TMPDIR:-/tmp}/refstack.current")/env" ] \
   || ! (exec 3<>/dev/tcp/127.0.0.1/10025) 2>/dev/null; then
  "$SHARED/refstack/up.sh" >"$STATE/refstack.out"
fi
REFSTACK_DIR=$(cat "${TMPDIR:-/tmp}/refstack.current")
PF_ETC=$REFSTACK_DIR/postfix/etc
postconf -c "$PF_ETC" -e "smtpd_milters=inet:127.0.0.1:$MILTER_PORT" milter_default_action=tempfail
postfix -c "$PF_ETC" reload >/dev/null

# --- ferrymail: mta-smtpd, queue-runner and local-delivery, mta-smtpd with the milter
cd "$ROOT"
cargo build --release -q -p mta-smtpd -p queue-runner -p local-delivery --bins --example smtpd_bench_env
CONF=$(BENCH_MILTER="inet:127.0.0.1:$MILTER_PORT" target/release/examples/smtpd_bench_env "$STATE/env" "$FERRY_PORT")
FERRY_MAIL=$STATE/env/mail/bench.test
for u in 1 2 3 4 5 6 7 8 9 10; do mkdir -p "$FERRY_MAIL/user$u/Maildir/"{new,cur,tmp}; done
target/release/local-delivery -c "$CONF" 2>"$STATE/local-delivery.log" & PIDS+=($!)
target/release/queue-runner -c "$CONF" 2>"$STATE/queue-runner.log" & PIDS+=($!)
target/release/mta-smtpd -c "$CONF" 2>"$STATE/mta-smtpd.log" & PIDS+=($!)
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$FERRY_PORT") 2>/dev/null && break; sleep 0.1; done
FERRY_DRAIN="end=\$((\$(date +%s) + 300)); while [ -n \"\$(ls -A '$STATE/env/spool/queue')\" ]; do [ \$(date +%s) -ge \$end ] && exit 1; sleep 0.1; done"
REF_DRAIN="$SHARED/refstack/queue_drain.sh"

# Both refuse a message rspamd cannot scan (tempfail): a run that got every 250 was scanned.
probe() {
  local port=$1 sys=$2
  local out
  out=$(swaks --server "127.0.0.1:$port" --from bench@client.test --to user1@bench.test \
    --body "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X" 2>&1 || true)
  grep -q "^<\*\* 554 5.7.1" <<<"$out" || {
    printf 'milter: %s does not pass mail through rspamd:\n%s\n' "$sys" "$out" >&2; exit 1; }
}
probe "$FERRY_PORT" ferrymail
probe 10025 reference

for r in $(seq 1 "$ROUNDS"); do
  order="ferry ref"; [ $((r % 2)) = 0 ] && order="ref ferry"
  for sys in $order; do
    port=$FERRY_PORT; drain=$FERRY_DRAIN
    [ "$sys" = ref ] && { port=10025; drain=$REF_DRAIN; }
    echo "== accept+rspamd $sys" >&2
    SMTP_HOST=127.0.0.1 SMTP_PORT=$port MSGS="$N" SESSIONS="$SESSIONS" MSG_SIZE="$MSG_SIZE" \
      RCPT=user1@bench.test RUNS=1 REUSE=0 WAIT_CMD="$drain" bash "$SHARED/bench/smtp_accept.sh" \
      | tee -a "$STATE/$sys.log" >&2
  done
done

python3 - "$STATE" <<'PY'
import re, statistics, sys, os
vals = {}
for sys_ in ("ferry", "ref"):
    for line in open(os.path.join(sys.argv[1], f"{sys_}.log")):
        m = re.match(r"RESULT smtp_accept_msgs_per_s=([0-9.]+)", line)
        if m:
            vals.setdefault(sys_, []).append(float(m.group(1)))
f, r = statistics.median(vals["ferry"]), statistics.median(vals["ref"])
print(f"RESULT accept_with_rspamd_msgs_per_s ferrymail={f:.1f} reference={r:.1f} "
      f"(rounds ferrymail {vals['ferry']} reference {vals['ref']})")
print(f"RATIO accept_with_rspamd ferrymail vs reference = {f / r:.2f}")
PY
