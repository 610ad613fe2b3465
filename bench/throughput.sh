#!/usr/bin/env bash
# The whole suite's throughput against the reference stack (Postfix -> LMTP -> Dovecot), same
# machine, same run, the two systems alternating round by round:
#   e2e      SMTP 250 -> file in the recipient's Maildir, 2,000 x 4 KB over 8 sessions
#            (../shared/bench/e2e_delivery.py), and the unloaded per-message latency (1 session,
#            each message waited for)
#   accept   SMTP acceptance, 2,000 x 4 KB, 20 sessions, a new session per message, while the
#            suite delivers (../shared/bench/smtp_accept.sh with Postfix's smtp-source)
# Prints every round's RESULT lines and, per figure, the medians and one RATIO line (> 1 means
# ferrymail is better), and ferrymail's disk flushes per message on each daemon (file and
# directory flushes, from the daemons' /metrics, counted over each e2e run).
#
#   bench/throughput.sh                         (from the project root, as root)
# Env: ROUNDS (3)  N (2000)  THREADS (8)  SESSIONS (20)  MSG_SIZE (4096)  LAT_N (200)
#      ONLY="e2e accept latency" (a subset)  SYSTEMS="ferry ref" (SYSTEMS=ferry: ferrymail alone)
#      FERRY_PORT (12525)  METRICS_PORT (12535: mta-smtpd, +1 queue-runner, +2 local-delivery)
#      KEEP=1 keeps the state dir
# Needs the reference stack (../shared/refstack/up.sh is run if it is not up) and Postfix's
# smtp-source. Both systems fsync before answering 250.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
ROUNDS=${ROUNDS:-3}; N=${N:-2000}; THREADS=${THREADS:-8}; SESSIONS=${SESSIONS:-20}
MSG_SIZE=${MSG_SIZE:-4096}; LAT_N=${LAT_N:-200}; ONLY=${ONLY:-"e2e accept latency"}
FERRY_PORT=${FERRY_PORT:-12525}; METRICS_PORT=${METRICS_PORT:-12535}
[ "$ROUNDS" -le 10 ] && [ "$N" -le 50000 ] || { echo "throughput: ROUNDS<=10 N<=50000" >&2; exit 1; }
STATE=$(mktemp -d "${TMPDIR:-/tmp}/ferry-throughput.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$STATE"
}
trap cleanup EXIT

# --- the reference stack
if ! [ -f "${TMPDIR:-/tmp}/refstack.current" ] || ! [ -f "$(cat "${TMPDIR:-/tmp}/refstack.current")/env" ] \
   || ! (exec 3<>/dev/tcp/127.0.0.1/10025) 2>/dev/null; then
  "$SHARED/refstack/up.sh" >"$STATE/refstack.out"
fi
REFSTACK_DIR=$(cat "${TMPDIR:-/tmp}/refstack.current")
REF_MAIL=$REFSTACK_DIR/mail/bench.test

# --- ferrymail: mta-smtpd, queue-runner and local-delivery in a throw-away environment
cd "$ROOT"
cargo build --release -q -p mta-smtpd -p queue-runner -p local-delivery --bins --example smtpd_bench_env
CONF=$(target/release/examples/smtpd_bench_env "$STATE/env" "$FERRY_PORT" "$METRICS_PORT")
FERRY_MAIL=$STATE/env/mail/bench.test
for u in 1 2 3 4 5 6 7 8 9 10; do mkdir -p "$FERRY_MAIL/user$u/Maildir/"{new,cur,tmp}; done
target/release/local-delivery -c "$CONF" 2>"$STATE/local-delivery.log" & PIDS+=($!)
target/release/queue-runner -c "$CONF" 2>"$STATE/queue-runner.log" & PIDS+=($!)
target/release/mta-smtpd -c "$CONF" 2>"$STATE/mta-smtpd.log" & PIDS+=($!)
for p in "$FERRY_PORT" "$METRICS_PORT" $((METRICS_PORT + 1)) $((METRICS_PORT + 2)); do
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null && break; sleep 0.1; done
done
FERRY_DRAIN="end=\$((\$(date +%s) + 300)); while [ -n \"\$(ls -A '$STATE/env/spool/queue')\" ]; do [ \$(date +%s) -ge \$end ] && exit 1; sleep 0.1; done"
REF_DRAIN="$SHARED/refstack/queue_drain.sh"

# flushes: "daemon kind count" lines of every daemon's flush counters.
flushes() {
  local i=0
  for d in mta-smtpd queue-runner local-delivery; do
    python3 - "$d" "$((METRICS_PORT + i))" <<'PY'
import sys, urllib.request
d, port = sys.argv[1], sys.argv[2]
text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
for line in text.splitlines():
    if line.startswith("ferrymail_disk_flushes_total{"):
        kind = line.split('kind="')[1].split('"')[0]
        print(d, kind, line.rsplit(" ", 1)[1])
PY
    i=$((i + 1))
  done
}

# run SYSTEM LABEL CMD...: runs CMD with the system's SMTP port, keeps its RESULT lines per round.
run() {
  local sys=$1 label=$2; shift 2
  local port=$FERRY_PORT; [ "$sys" = ref ] && port=10025
  echo "== $label $sys" >&2
  SMTP_HOST=127.0.0.1 SMTP_PORT=$port "$@" | tee -a "$STATE/$sys.$label.log" >&2
}
e2e() {
  local sys=$1 user=$2 n=$3 threads=$4 each=$5 label=$6 mail=$FERRY_MAIL drain=$FERRY_DRAIN
  [ "$sys" = ref ] && { mail=$REF_MAIL; drain=$REF_DRAIN; }
  bash -c "$drain"
  [ "$sys" = ferry ] && [ "$label" = e2e ] && flushes > "$STATE/flushes.before"
  run "$sys" "$label" env BENCH_USER="$user@bench.test" MAILDIR="$mail/$user/Maildir" N="$n" \
    THREADS="$threads" WAIT_EACH="$each" MSG_SIZE="$MSG_SIZE" RUNS=1 python3 "$SHARED/bench/e2e_delivery.py"
  if [ "$sys" = ferry ] && [ "$label" = e2e ]; then
    bash -c "$drain"
    flushes > "$STATE/flushes.after"
    paste "$STATE/flushes.before" "$STATE/flushes.after" | awk -v n="$n" \
      '{ printf "FLUSHES %s %s per message %.3f\n", $1, $2, ($6 - $3) / n }' | tee -a "$STATE/flushes.log" >&2
  fi
}
accept() {
  local sys=$1 drain=$FERRY_DRAIN
  [ "$sys" = ref ] && drain=$REF_DRAIN
  run "$sys" accept env MSGS="$N" SESSIONS="$SESSIONS" MSG_SIZE="$MSG_SIZE" RCPT=user1@bench.test \
    RUNS=1 REUSE=0 WAIT_CMD="$drain" bash "$SHARED/bench/smtp_accept.sh"
}

for r in $(seq 1 "$ROUNDS"); do
  # Alternate which system goes first, so neither always meets the other's leftover work.
  order="ferry ref"; [ $((r % 2)) = 0 ] && order="ref ferry"
  for sys in $order; do
    case " ${SYSTEMS:-ferry ref} " in *" $sys "*) ;; *) continue ;; esac
    case " $ONLY " in *" e2e "*) e2e "$sys" user5 "$N" "$THREADS" 0 e2e ;; esac
    case " $ONLY " in *" accept "*) accept "$sys" ;; esac
    case " $ONLY " in *" latency "*) e2e "$sys" user6 "$LAT_N" 1 1 latency ;; esac
  done
done

# Medians and ratios. Rates: higher is better; times: lower is better.
python3 - "$STATE" <<'PY'
import glob, os, re, statistics, sys
state = sys.argv[1]
vals = {}
for path in glob.glob(os.path.join(state, "*.log")):
    name = os.path.basename(path)
    if name.count(".") != 2:
        continue
    sys_, label, _ = name.split(".")
    for line in open(path):
        m = re.match(r"RESULT (\S+)=([0-9.]+)", line)
        if m:
            vals.setdefault((label, m.group(1)), {}).setdefault(sys_, []).append(float(m.group(2)))
wanted = [("e2e", "e2e_rate_msgs_per_s"), ("e2e", "e2e_smtp_accept_msgs_per_s"),
          ("e2e", "e2e_latency_p50_ms"), ("accept", "smtp_accept_msgs_per_s"),
          ("latency", "e2e_latency_p50_ms"), ("latency", "e2e_latency_p99_ms"),
          ("latency", "e2e_smtp_txn_p50_ms")]
for label, key in wanted:
    v = vals.get((label, key))
    if not v or "ferry" not in v or "ref" not in v:
        continue
    f, r = statistics.median(v["ferry"]), statistics.median(v["ref"])
    better = r / f if key.endswith("_ms") else f / r
    print(f"RESULT {label}.{key} ferrymail={f:.2f} reference={r:.2f} "
          f"(rounds ferrymail {v['ferry']} reference {v['ref']})")
    print(f"RATIO {label}.{key} ferrymail vs reference = {better:.2f}")
PY
[ -f "$STATE/flushes.log" ] && sort "$STATE/flushes.log" | uniq
