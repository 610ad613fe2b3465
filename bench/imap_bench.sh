#!/usr/bin/env bash
# IMAP command figures of ferrymail's imapd against the reference Dovecot, same machine, same
# run, with the shared ../shared/bench/imap_bench.py (10,000 messages preloaded by APPEND:
# LOGIN+SELECT, UID FETCH ENVELOPE, BODY[] MB/s, SEARCH FROM/TEXT, STORE +/-FLAGS).
#
#   NMSGS=10000 RUNS=3           passed to imap_bench.py
#   IMAP_PORT=12143 (IMAPS_PORT=12993)
#   REF_IMAP_PORT=10143          also bench the refstack Dovecot (user2@bench.test / pass)
#   KEEP=1                       keep the state dir
# Prints both sets of RESULT lines and, with the reference, one RATIO line per figure
# (>1 means ferrymail is faster).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
export NMSGS=${NMSGS:-10000} RUNS=${RUNS:-3}
PORT=${IMAP_PORT:-12143}; SPORT=${IMAPS_PORT:-12993}
STATE=$(mktemp -d "${TMPDIR:-/tmp}/ferrymail-imap-bench.XXXXXX")

. "$ROOT/bench/imapd_env.sh"
start_bench_imapd "$STATE" "$PORT" "$SPORT" 2

echo "== ferrymail imapd"
OURS=$(IMAP_HOST=127.0.0.1 IMAP_PORT=$PORT BENCH_USER=bench2@bench.test PASS=benchpass \
  python3 "$SHARED/bench/imap_bench.py" | tee /dev/stderr)

if [ -n "${REF_IMAP_PORT:-}" ]; then
  echo "== Dovecot (refstack)"
  REF=$(IMAP_HOST=127.0.0.1 IMAP_PORT=$REF_IMAP_PORT BENCH_USER=user2@bench.test PASS=pass \
    python3 "$SHARED/bench/imap_bench.py" | tee /dev/stderr)
  val() { echo "$1" | awk -v k="$2" '$1=="RESULT" { split($2, kv, "="); if (kv[1]==k) print kv[2] }'; }
  for k in $(echo "$OURS" | awk '$1=="RESULT" { split($2, kv, "="); print kv[1] }'); do
    o=$(val "$OURS" "$k"); r=$(val "$REF" "$k")
    [ -n "$o" ] && [ -n "$r" ] || continue
    python3 - "$k" "$o" "$r" <<'PY'
import sys
k, o, r = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
# Rates: higher is better; times: lower is better. Ratio > 1 = ferrymail faster.
ratio = o / r if ("MBps" in k or "rate" in k or "per_s" in k) else r / max(o, 1e-9)
print(f"RATIO {k} ferrymail vs dovecot = {ratio:.2f}")
PY
  done
fi
