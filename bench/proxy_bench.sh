#!/usr/bin/env bash
# What the front end costs: the same IMAP load against imapd directly and through proxyd in
# front of it (one host, loopback; proxyd logs in to imapd over STARTTLS as the cluster login),
# alternating the two in one run. Figures from ../shared/bench/imap_bench.py (10,000 messages:
# LOGIN+SELECT, UID FETCH ENVELOPE, BODY[] MB/s, SEARCH, STORE) and, with IMAPTEST_DIR, the
# imaptest stress mode (10 clients, users 1-100, logins and commands per second).
#
#   NMSGS=10000 RUNS=3 ROUNDS=2   imap_bench.py settings; ROUNDS alternations of the pair
#   STRESS_SECS=30                imaptest stress length (with IMAPTEST_DIR)
#   IMAP_PORT=12143 PROXY_PORT=12144 KEEP=1
# Prints RESULT lines per round and target, and RATIO lines (proxied vs direct, > 1 means the
# front end is faster, so the overhead is 1 - RATIO).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
export NMSGS=${NMSGS:-10000} RUNS=${RUNS:-3}
ROUNDS=${ROUNDS:-2}; STRESS_SECS=${STRESS_SECS:-30}
PORT=${IMAP_PORT:-12143}; SPORT=$((PORT + 850)); PPORT=${PROXY_PORT:-12144}
STATE=$(mktemp -d "${TMPDIR:-/tmp}/ferrymail-proxy-bench.XXXXXX")
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

cargo build --release --quiet -p imapd -p proxyd --bins --example imap_bench_env \
  --manifest-path "$ROOT/Cargo.toml"
eval "$("$TARGET/release/examples/imap_bench_env" "$STATE" "$PORT" "$SPORT" \
  'bench{n}@bench.test' 100 benchpass 50 "$PPORT")"
"$TARGET/release/imapd" -c "$CONFIG" 2>"$STATE/imapd.log" & IMAPD=$!
"$TARGET/release/proxyd" -c "$CONFIG" 2>"$STATE/proxyd.log" & PROXYD=$!
trap 'kill $IMAPD $PROXYD 2>/dev/null || true; wait 2>/dev/null || true; [ "${KEEP:-0}" = 1 ] || rm -rf "$STATE"' EXIT
for p in "$PORT" "$PPORT"; do
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.1; done
done

bench() { # name port
  IMAP_HOST=127.0.0.1 IMAP_PORT=$2 BENCH_USER=bench2@bench.test PASS=benchpass \
    python3 "$SHARED/bench/imap_bench.py" | awk -v n="$1" '$1=="RESULT" { print "RESULT", n, $2 }'
}
stress() { # name port
  [[ -n "${IMAPTEST_DIR:-}" && -x "${IMAPTEST_DIR}/imaptest" ]] || return 0
  local mbox=$STATE/stress.mbox
  [ -f "$mbox" ] || python3 "$SHARED/imaptest/make-mbox.py" "$mbox" >/dev/null
  # imaptest's last totals line: the first column counts LOGINs, the sum all commands.
  LD_LIBRARY_PATH=/usr/lib/dovecot timeout $((STRESS_SECS + 60)) "$IMAPTEST_DIR/imaptest" \
    host=127.0.0.1 port="$2" user='bench%d@bench.test' users=1-100 pass=benchpass \
    mbox="$mbox" clients=10 secs="$STRESS_SECS" 2>&1 | tee "$STATE/stress-$1.log" |
    awk -v n="$1" -v s="$STRESS_SECS" '/^[0-9]+ +[0-9]+ +[0-9]+/ { l=$1; t=0; for (i=1;i<=NF;i++) t+=$i }
      END { if (t) { printf "RESULT %s stress_logins_per_s=%.1f\nRESULT %s stress_cmds_per_s=%.1f\n", n, l/s, n, t/s } }'
}

[[ -n "${IMAPTEST_DIR:-}" ]] || echo "SKIP: imaptest stress needs IMAPTEST_DIR (an imaptest build)"
OUT=$STATE/results
for r in $(seq 1 "$ROUNDS"); do
  for t in direct:$PORT proxied:$PPORT; do
    echo "== round $r: ${t%%:*}" >&2
    { bench "${t%%:*}" "${t##*:}"; stress "${t%%:*}" "${t##*:}"; } | tee -a "$OUT"
  done
done
python3 - "$OUT" <<'PY'
import sys, statistics
vals = {}
for line in open(sys.argv[1]):
    _, who, kv = line.split()
    k, v = kv.split("=")
    vals.setdefault((who, k), []).append(float(v))
for (who, k), v in sorted(vals.items()):
    # Counts (messages, search hits) are sanity checks, not figures.
    if who != "direct" or ("proxied", k) not in vals or k.endswith(("_hits", "_messages")):
        continue
    d, p = statistics.median(v), statistics.median(vals[("proxied", k)])
    rate = "MBps" in k or "rate" in k or "per_s" in k
    ratio = p / d if rate else d / max(p, 1e-9)
    print(f"RATIO {k} proxied vs direct = {ratio:.3f} (direct {d:g}, proxied {p:g})")
PY
