#!/usr/bin/env bash
# Regenerates <name>.dovecot: Dovecot's answer to FETCH 1 (ENVELOPE BODY BODYSTRUCTURE) for
# each <name>.eml, used by tests/bodystructure.rs as the reference. Needs dovecot-imapd and
# root (Dovecot's imap runs as `nobody` here, preauthenticated, on a scratch Maildir).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/dcref.XXXXXX)
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
printf 'mail_location = maildir:%s/md\nlog_path = /dev/stderr\nssl = no\n' "$W" > "$W/dc.conf"
# Sections fetched for the section test (tests/bodystructure.rs has the same list).
SECTIONS='BODY.PEEK[1] BODY.PEEK[2] BODY.PEEK[1.MIME] BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[2.1] BODY.PEEK[2.2.MIME] BODY.PEEK[1.1] BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)] BODY.PEEK[HEADER.FIELDS.NOT (FROM SUBJECT DATE)] BODY.PEEK[TEXT]<5.10> RFC822.HEADER'
run() {
  setpriv --reuid=nobody --regid=nogroup --clear-groups env USER=nobody HOME="$W" \
      /usr/lib/dovecot/imap -c "$W/dc.conf" 2>/dev/null |
    python3 -c '
import sys
data = sys.stdin.buffer.read()
start = data.index(b"* 1 FETCH ")
end = data.index(b"\r\nb OK", start)
sys.stdout.buffer.write(data[start:end])
'
}
for eml in "$HERE"/*.eml; do
  name=$(basename "$eml" .eml)
  rm -rf "$W/md"; mkdir -p "$W/md"/{cur,new,tmp}
  cp "$eml" "$W/md/cur/1.msg:2,S"
  chown -R nobody "$W"
  printf 'a select inbox\r\nb fetch 1 (ENVELOPE BODY BODYSTRUCTURE)\r\nc logout\r\n' | run > "$HERE/$name.dovecot"
  printf 'a select inbox\r\nb fetch 1 (%s)\r\nc logout\r\n' "$SECTIONS" | run > "$HERE/$name.sections.dovecot"
done
