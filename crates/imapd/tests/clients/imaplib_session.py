"""A scripted session with Python's imaplib against imapd (a client nobody here wrote).

Environment: HOST, PORT (143-style), TLS_PORT (993-style), USER, PASSWORD, CAFILE.
Prints one "ok <step>" line per step; any failure raises and exits non-zero.
"""
import imaplib
import os
import ssl
import time

host = os.environ["HOST"]
port = int(os.environ["PORT"])
tls_port = int(os.environ["TLS_PORT"])
user = os.environ["USER"]
password = os.environ["PASSWORD"]
ctx = ssl.create_default_context(cafile=os.environ["CAFILE"])
ctx.check_hostname = False


def check(result, what):
    typ, data = result
    assert typ == "OK", f"{what}: {typ} {data}"
    print("ok", what, flush=True)
    return data


m = imaplib.IMAP4(host, port)
assert "LOGINDISABLED" in m.capabilities and "STARTTLS" in m.capabilities, m.capabilities
check(m.starttls(ssl_context=ctx), "starttls")
assert "AUTH=PLAIN" in m.capabilities and "LOGINDISABLED" not in m.capabilities, m.capabilities
check(m.login(user, password), "login")
boxes = check(m.list(), "list")
names = [b.decode() for b in boxes]
assert any('"Sent"' in n and "\\Sent" in n for n in names), names
check(m.create("Reports/2024"), "create")
msg = (
    b"From: Script <script@example.org>\r\n"
    b"To: " + user.encode() + b"\r\n"
    b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n"
    b"Date: Mon, 20 Nov 2023 10:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Hello from imaplib\r\n"
)
data = check(m.append("INBOX", r"(\Flagged)", imaplib.Time2Internaldate(time.time()), msg), "append")
assert b"APPENDUID" in data[0], data
typ, data = m.select("INBOX")
assert typ == "OK" and int(data[0]) >= 1, data
print("ok select", flush=True)
# The non-ASCII key goes as a literal (imaplib sends `literal` after the other criteria);
# the subject is an RFC 2047 encoded word, which SEARCH must decode.
m.literal = "Grüße".encode()
data = check(m.search("UTF-8", "FLAGGED", "SUBJECT"), "search")
assert data[0].split(), data
seq = data[0].split()[-1]
data = check(m.fetch(seq, "(UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)"), "fetch")
head = data[0] if isinstance(data[0], bytes) else data[0][0]
assert b"\\Flagged" in head and b"RFC822.SIZE %d" % len(msg) in head, data
data = check(m.fetch(seq, "(BODY.PEEK[TEXT])"), "fetch-body")
assert data[0][1] == b"Hello from imaplib\r\n", data
check(m.store(seq, "+FLAGS", r"(\Seen \Answered)"), "store")
data = check(m.fetch(seq, "(FLAGS)"), "fetch-flags")
assert b"\\Seen" in data[0] and b"\\Answered" in data[0], data
data = check(m.copy(seq, "Reports/2024"), "copy")
typ, data = m.fetch(seq, "(UID)")
uid = data[0].decode().split("UID ")[1].rstrip(")")
check(m.uid("MOVE", uid, "Archive"), "uid-move")
check(m.status("Archive", "(MESSAGES UIDNEXT)"), "status")
check(m.status("Reports/2024", "(MESSAGES)"), "status-copy")
check(m.rename("Reports/2024", "Reports/Old"), "rename")
check(m.delete("Reports/Old"), "delete")
check(m.close(), "close")
typ, _ = m.logout()
assert typ == "BYE", typ
print("ok logout", flush=True)

s = imaplib.IMAP4_SSL(host, tls_port, ssl_context=ctx)
check(s.login(user, password), "imaps-login")
typ, data = s.select("Archive", readonly=True)
assert typ == "OK" and int(data[0]) == 1, data
print("ok imaps-examine", flush=True)
data = check(s.fetch("1", "(BODY[HEADER.FIELDS (SUBJECT)])"), "imaps-fetch")
assert b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=" in data[0][1], data
check(s.noop(), "noop")
s.logout()
print("done", flush=True)
