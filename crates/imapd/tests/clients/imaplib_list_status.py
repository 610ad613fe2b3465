"""LIST-EXTENDED / LIST-STATUS through Python's imaplib, which has no command for them:
the client sends `LIST (SUBSCRIBED) "" "*" RETURN (STATUS (MESSAGES UNSEEN))` with
_simple_command and reads back the untagged LIST and STATUS data. Prints one line per
mailbox: `<name> <messages> <unseen>`, then `done`."""

import imaplib
import os
import re

imap = imaplib.IMAP4(os.environ["HOST"], int(os.environ["PORT"]))
typ, _ = imap.login(os.environ["USER"], os.environ["PASSWORD"])
assert typ == "OK", typ
caps = imap.capabilities
assert "LIST-EXTENDED" in caps and "LIST-STATUS" in caps, caps
typ, data = imap._simple_command(
    "LIST", '(SUBSCRIBED)', '""', '"*"', "RETURN", "(STATUS (MESSAGES UNSEEN))"
)
assert typ == "OK", (typ, data)
_, lists = imap._untagged_response(typ, data, "LIST")
_, statuses = imap._untagged_response(typ, data, "STATUS")
listed = []
for line in lists:
    m = re.match(rb'\(([^)]*)\) "/" "?([^"]*)"?', line)
    assert m, line
    listed.append((m.group(2).decode(), m.group(1).decode()))
counts = {}
for line in statuses:
    m = re.match(rb'"?([^"]*)"? \(MESSAGES (\d+) UNSEEN (\d+)\)', line)
    assert m, line
    counts[m.group(1).decode()] = (int(m.group(2)), int(m.group(3)))
for name, attrs in listed:
    assert "\\Subscribed" in attrs, (name, attrs)
    if "\\NonExistent" in attrs:
        assert name not in counts, name
        print(name, "nonexistent")
    else:
        print(name, *counts[name])
imap.logout()
print("done")
