#!/usr/bin/env bash
# Every throughput figure of the suite against the reference stack (../shared/refstack: Postfix,
# Dovecot), each as a ratio measured in one run with the two systems alternating:
#   1. bench/throughput.sh: end to end (SMTP 250 -> Maildir), SMTP acceptance while delivering,
#      unloaded latency, and ferrymail's disk flushes per message
#   2. bench/imap_bench.sh: the IMAP command figures on NMSGS (10,000) messages
#   3. imaptest stress from one address: ferrymail with the hashes mailctl writes (Argon2id)
#      against Dovecot with {PLAIN}, STRESS_ROUNDS rounds of 30 s each (the length
#      ../shared/imaptest/run.sh uses), alternating
#      (needs IMAPTEST_DIR, see README.md "IMAP compliance"; otherwise SKIP)
# Output: the RESULT/RATIO/FLUSHES lines of each part, then a summary of every RATIO.
#   bench/all.sh                    (from the project root, as root)
# Env: ONLY="throughput imap stress" (a subset), and each part's own variables.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
ONLY=${ONLY:-"throughput imap stress"}
STRESS_SECS=30; STRESS_ROUNDS=${STRESS_ROUNDS:-2}
[ "$STRESS_ROUNDS" -le 10 ] || { echo "all: STRESS_ROUNDS<=10" >&2; exit 1; }
OUT=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-all.XXXXXX")
cd "$ROOT"

# The reference stack, started once for every part.
if ! (exec 3<>/dev/tcp/127.0.0.1/10143) 2>/dev/null; then "$SHARED/refstack/up.sh" >"$OUT/refstack.out"; fi

case " $ONLY " in *" throughput "*)
  echo "== end to end and acceptance (bench/throughput.sh)"
  bench/throughput.sh 2>"$OUT/throughput.err" | tee "$OUT/throughput.out" ;;
esac

case " $ONLY " in *" imap "*)
  echo "== IMAP commands (bench/imap_bench.sh)"
  REF_IMAP_PORT=10143 bench/imap_bench.sh 2>"$OUT/imap.err" | tee "$OUT/imap.out" ;;
esac

case " $ONLY " in *" stress "*)
  echo "== imaptest stress from one address: ferrymail (Argon2id) vs Dovecot ({PLAIN})"
  if [[ -z "${IMAPTEST_DIR:-}" || ! -x "${IMAPTEST_DIR}/imaptest" ]]; then
    echo "SKIP: imaptest stress needs IMAPTEST_DIR (an imaptest build, see README.md)"
  else
    mbox="$OUT/stress.mbox"
    python3 "$SHARED/imaptest/make-mbox.py" "$mbox" >/dev/null
    # The first column of imaptest's totals is LOGIN commands completed.
    logins() { grep -A4 '^Totals:' "$1" | tail -1 | awk -v s="$STRESS_SECS" '{ printf "%.1f", $1 / s }'; }
    for r in $(seq 1 "$STRESS_ROUNDS"); do
      (cd "$OUT" && timeout $((STRESS_SECS + 300)) "$ROOT/tests/imaptest.sh" stress "$STRESS_SECS") \
        >"$OUT/stress-ferry-$r.txt" 2>&1 || true
      timeout $((STRESS_SECS + 120)) "$SHARED/imaptest/run.sh" stress "$IMAPTEST_DIR" 127.0.0.1 10143 \
        'user%d@bench.test' pass "$mbox" >"$OUT/stress-ref-$r.txt" 2>&1 || true
      f=$(logins "$OUT/stress-ferry-$r.txt"); d=$(logins "$OUT/stress-ref-$r.txt")
      echo "RESULT stress.logins_per_s round $r ferrymail=$f dovecot=$d" | tee -a "$OUT/stress.out"
      echo "$f $d" >>"$OUT/stress.vals"
    done
    (python3 - "$OUT/stress.vals" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
f = statistics.median(r[0] for r in rows); d = statistics.median(r[1] for r in rows)
print(f"RATIO stress.logins_per_s ferrymail vs reference = {f / d:.2f}" if d else "RATIO stress: no Dovecot figure")
PY
    ) | tee -a "$OUT/stress.out"
  fi ;;
esac

echo "== summary (raw output in $OUT)"
cat "$OUT"/*.out 2>/dev/null | grep -E '^(RATIO|FLUSHES)' || true
