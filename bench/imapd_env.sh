# Sourced by the IMAP benchmarks: builds imapd (release) and starts it alone on loopback in a
# throw-away dev environment with users bench1..benchN@bench.test (password benchpass, `{PLAIN}`
# like the reference Dovecot's), stopped and removed on exit (KEEP=1 keeps the state dir).
#   start_bench_imapd STATE PORT IMAPS_PORT USERS
start_bench_imapd() {
  local state=$1 port=$2 sport=$3 users=$4
  local target=${CARGO_TARGET_DIR:-$ROOT/target}
  cargo build --release --quiet -p imapd --bin imapd --example imap_bench_env --manifest-path "$ROOT/Cargo.toml"
  eval "$("$target/release/examples/imap_bench_env" "$state" "$port" "$sport" 'bench{n}@bench.test' "$users" benchpass 50)"
  "$target/release/imapd" -c "$CONFIG" 2>"$state/imapd.log" &
  BENCH_IMAPD_PID=$!
  BENCH_STATE=$state
  trap 'kill "$BENCH_IMAPD_PID" 2>/dev/null || true; wait "$BENCH_IMAPD_PID" 2>/dev/null || true; [ "${KEEP:-0}" = 1 ] || rm -rf "$BENCH_STATE"' EXIT
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
}
