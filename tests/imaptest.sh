#!/usr/bin/env bash
# Run Dovecot's imaptest (https://github.com/dovecot/imaptest) against a freshly started imapd.
#
#   IMAPTEST_DIR=/path/to/imaptest-build tests/imaptest.sh compliance [TEST_FILE]
#   IMAPTEST_DIR=/path/to/imaptest-build tests/imaptest.sh stress [SECONDS]
#   PASSWORDS=plain IMAPTEST_DIR=... tests/imaptest.sh stress [SECONDS]
#
# IMAPTEST_DIR holds the `imaptest` binary and its `tests/` directory (a build of imaptest's git tree
# against dovecot-dev). Without it the script prints SKIP and exits 0: imaptest is not packaged.
#
# The script builds imapd and mailctl (release profile unless PROFILE=debug), writes a throw-away
# dev environment with `mailctl dev --prepare-only` (users testuser@example.test and
# test1..test100@example.test, password "pass"), allows plaintext LOGIN on loopback for the run
# (imaptest speaks no TLS), starts imapd alone on a free port and runs imaptest against it.
# The passwords keep the hashes mailctl writes (Argon2id), so a stress run measures logins as
# deployed; PASSWORDS=plain stores them as {PLAIN} instead, to measure the IMAP server alone.
# Exit status: imaptest's own (non-zero when a command failed in compliance mode).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-compliance}
dir=${IMAPTEST_DIR:-}
if [[ -z "$dir" || ! -x "$dir/imaptest" ]]; then
    echo "SKIP: imaptest not available (set IMAPTEST_DIR to a directory holding an imaptest build" \
        "and its tests/; see README.md, \"IMAP compliance\")"
    exit 0
fi

profile=${PROFILE:-release}
if [[ "$profile" == release ]]; then flag=--release; else flag=; fi
cargo build -q $flag -p imapd -p mailctl
bin="${CARGO_TARGET_DIR:-$PWD/target}/$profile"

state=$(mktemp -d /tmp/ferrymail-imaptest.XXXXXX)
imapd_pid=
cleanup() {
    [[ -n "$imapd_pid" ]] && kill "$imapd_pid" 2>/dev/null && wait "$imapd_pid" 2>/dev/null
    rm -rf "$state"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
users=(--user testuser@example.test:pass)
for i in $(seq 1 100); do users+=(--user "test$i@example.test:pass"); done
"$bin/mailctl" dev --prepare-only --state-dir "$state" --imap-port "$port" "${users[@]}" >/dev/null
conf="$state/ferrymail.toml"
case "${PASSWORDS:-default}" in
default) ;;
plain) sed -i -E 's/^([^:]+):\{[A-Z0-9-]+\}[^:]*/\1:{PLAIN}pass/' "$state/passwd" ;;
*)
    echo "PASSWORDS is default (mailctl's Argon2id) or plain" >&2
    exit 2
    ;;
esac
# imaptest logs in with plaintext LOGIN and no TLS.
python3 - "$conf" <<'EOF'
import re, sys
path = sys.argv[1]
text = open(path).read()
if re.search(r"^plaintext_auth_on_loopback\s*=", text, re.M):
    text = re.sub(r"^plaintext_auth_on_loopback\s*=.*$", "plaintext_auth_on_loopback = true", text, flags=re.M)
elif "[imapd.limits]" in text:
    text = text.replace("[imapd.limits]", "[imapd.limits]\nplaintext_auth_on_loopback = true", 1)
else:
    text += "\n[imapd.limits]\nplaintext_auth_on_loopback = true\n"
open(path, "w").write(text)
EOF

"$bin/imapd" -c "$conf" >"$state/imapd.log" 2>&1 &
imapd_pid=$!
for _ in $(seq 1 100); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then break; fi
    sleep 0.1
done

export LD_LIBRARY_PATH=/usr/lib/dovecot${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
case "$mode" in
compliance)
    test=${2:-}
    # imaptest has no per-command timeout: a server that never answers would hang the run.
    timeout 600 "$dir/imaptest" host=127.0.0.1 port="$port" user=testuser@example.test pass=pass \
        test="$dir/tests${test:+/$test}"
    ;;
stress)
    secs=${2:-30}
    mbox="$state/stress.mbox"
    # 200 messages with unique Message-IDs (imaptest tracks messages by Message-ID).
    python3 - "$mbox" <<'EOF'
import random, sys
random.seed(7)
out = []
for i in range(200):
    body = "".join(random.choice("abcdefghij klmnop\n") for _ in range(random.randint(50, 8000)))
    head = (f"From: a{i}@ex.test\nTo: b@ex.test\nSubject: stress {i}\n"
            f"Date: Mon, 1 Jan 2024 10:{i % 60:02d}:00 +0000\nMessage-ID: <stress{i}@ex.test>\n")
    if i % 4 == 0:
        msg = (head + f"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX{i}\n\n"
               f"--XX{i}\nContent-Type: text/plain\n\n{body}\n--XX{i}\nContent-Type: text/plain\n\n"
               f"part2\n--XX{i}--\n")
    else:
        msg = head + f"\n{body}\n"
    lines = [">" + ln if ln.startswith("From ") else ln for ln in msg.split("\n")]
    out.append(f"From a{i}@ex.test Mon Jan  1 10:00:00 2024\n" + "\n".join(lines) + "\n")
open(sys.argv[1], "w").write("".join(out))
EOF
    timeout $((secs + 60)) "$dir/imaptest" host=127.0.0.1 port="$port" user='test%d@example.test' \
        users=1-100 pass=pass mbox="$mbox" clients=10 secs="$secs"
    ;;
*)
    echo "usage: tests/imaptest.sh compliance [TEST_FILE] | stress [SECONDS]" >&2
    exit 2
    ;;
esac
