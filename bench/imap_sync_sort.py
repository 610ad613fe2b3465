#!/usr/bin/env python3
"""SORT speed and QRESYNC resync size on a 10,000-message mailbox, for several IMAP servers
measured in one run, rounds alternating between them.

Env:
  TARGETS   name=host:port:user:password[,name=...]   (the first is "ours", the rest references)
  NMSGS=10000   messages the mailbox must hold (preloaded by APPEND, all \\Seen)
  CHANGES=100   messages whose flags change between the two QRESYNC connections
  RUNS=3        rounds per server; RESULT lines are medians
  WARMUP=1      rounds per server first, printed but not counted (the first SORT after a
                preload parses or loads every message's facts; steady state is what is compared)
  MAILBOX=SyncSort
Figures per server, per round:
  sort_<key>_ms     SORT (<key>) UTF-8 ALL for ARRIVAL, DATE, SUBJECT, FROM (and REVERSE DATE)
  full_flags_bytes  bytes a client without QRESYNC receives for FETCH 1:* (FLAGS)
  resync_bytes      bytes both ways for ENABLE QRESYNC + SELECT (QRESYNC (v m)) after CHANGES
                    messages changed flags (the FETCHes it must send, and nothing else)
Prints RESULT lines and RATIO lines (ours vs each reference; > 1 means ours is faster / smaller).
"""
import os
import re
import sys
import time

SHARED = os.environ.get("SHARED") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "..", "shared")
sys.path.insert(0, os.path.join(SHARED, "bench"))
import benchlib as B  # noqa: E402

N = B.env_int("NMSGS", 10000, 1, 200000)
CHANGES = B.env_int("CHANGES", 100, 1, 100000)
RUNS = B.env_int("RUNS", 3, 1, 20)
WARMUP = B.env_int("WARMUP", 1, 0, 20)
MBOX = os.environ.get("MAILBOX", "SyncSort")
SORT_KEYS = ("ARRIVAL", "DATE", "SUBJECT", "FROM", "REVERSE DATE")
PREFIXES = ("", "Re: ", "Fwd: ", "RE: [list] ", "")


class Counted(B.Imap):
    """An IMAP client that counts the bytes it sends and receives."""

    def __init__(self, *a, **kw):
        self.rx = 0
        self.tx = 0
        super().__init__(*a, **kw)

    def _fill(self):
        before = len(self.buf)
        super()._fill()
        self.rx += len(self.buf) - before

    def send(self, data):
        self.tx += len(data)
        super().send(data)


def message(i, to):
    """A bench message with a varied sent date and subject prefixes, so SORT has work."""
    m = B.make_message(i, 2048, to).decode("ascii")
    day, hour = 1 + (i * 7919) % 28, (i * 31) % 24
    m = m.replace("Date: Mon, 01 Jan 2024 00:00:00 +0000",
                  f"Date: {day:02d} Mar 2024 {hour:02d}:{i % 60:02d}:00 +0000")
    m = m.replace("Subject: ", "Subject: " + PREFIXES[i % len(PREFIXES)], 1)
    return m.encode("ascii")


class Target:
    def __init__(self, spec):
        name, rest = spec.split("=", 1)
        host, port, user, pw = rest.split(":", 3)
        self.name, self.host, self.port, self.user, self.pw = name, host, int(port), user, pw
        self.rounds = []
        self.qresync = False

    def connect(self):
        c = Counted(self.host, self.port)
        c.login(self.user, self.pw)
        c.capability()
        return c

    def preload(self):
        c = self.connect()
        self.qresync = "QRESYNC" in c.caps
        try:
            c.cmd(f'CREATE "{MBOX}"')
        except B.ImapError:
            pass
        have = c.select(MBOX)
        if have < N:
            print(f"{self.name}: preloading {N - have} messages", flush=True)
            for i in range(have, N):
                c.append(MBOX, message(i, self.user), "\\Seen")
        elif have > N:
            sys.exit(f"{self.name}: {MBOX} holds {have} > NMSGS={N} messages")
        c.logout()

    def sort_round(self, out):
        c = self.connect()
        exists = c.select(MBOX)
        for key in SORT_KEYS:
            t0 = time.monotonic()
            _, unt, _, _ = c.cmd(f"SORT ({key}) UTF-8 ALL")
            out["sort_" + key.lower().replace(" ", "_") + "_ms"] = (time.monotonic() - t0) * 1000
            got = sum(len(u.split()) - 2 for u in unt if u.upper().startswith(b"* SORT"))
            if got != exists:
                sys.exit(f"{self.name}: SORT ({key}) returned {got} of {exists} messages")
        c.logout()

    def qresync_round(self, out):
        # The messages that will change, spread over the mailbox, start unflagged.
        b = self.connect()
        exists = b.select(MBOX)
        step = max(1, exists // CHANGES)
        seqs = ",".join(str(1 + k * step) for k in range(min(CHANGES, exists)))
        b.cmd(f"STORE {seqs} -FLAGS.SILENT (\\Flagged)", keep=False)
        b.logout()

        # The state a synchronised client keeps: UIDVALIDITY and HIGHESTMODSEQ.
        a = self.connect()
        a.cmd("ENABLE QRESYNC")
        _, unt, _, _ = a.cmd(f'SELECT "{MBOX}"')
        text = b"".join(unt).decode(errors="replace")
        validity = re.search(r"UIDVALIDITY (\d+)", text).group(1)
        modseq = re.search(r"HIGHESTMODSEQ (\d+)", text).group(1)
        a.logout()

        # What a client without QRESYNC pays to learn the flags again.
        full = self.connect()
        full.select(MBOX)
        rx0 = full.rx
        full.cmd("FETCH 1:* (FLAGS)", keep=False)
        out["full_flags_bytes"] = full.rx - rx0
        full.logout()

        # Another client flags them.
        b = self.connect()
        b.select(MBOX)
        b.cmd(f"STORE {seqs} +FLAGS.SILENT (\\Flagged)", keep=False)
        b.logout()

        # The reconnect: only what changed may come back.
        c = self.connect()
        rx0, tx0 = c.rx, c.tx
        c.cmd("ENABLE QRESYNC")
        _, unt, _, _ = c.cmd(f'SELECT "{MBOX}" (QRESYNC ({validity} {modseq}))')
        out["resync_bytes"] = (c.rx - rx0) + (c.tx - tx0)
        fetches = sum(1 for u in unt if b" FETCH " in u)
        if fetches != min(CHANGES, exists):
            sys.exit(f"{self.name}: resync sent {fetches} FETCH responses, "
                     f"{min(CHANGES, exists)} messages changed")
        c.logout()
        out["resync_pct_of_full"] = 100.0 * out["resync_bytes"] / out["full_flags_bytes"]


def main():
    specs = [s for s in os.environ.get("TARGETS", "").split(",") if s]
    if not specs:
        sys.exit("TARGETS=name=host:port:user:password[,...] is required")
    targets = [Target(s) for s in specs]
    for t in targets:
        t.preload()
    for r in range(1 - WARMUP, RUNS + 1):
        for t in targets:
            out = {}
            t.sort_round(out)
            if t.qresync:
                t.qresync_round(out)
            if r > 0:
                t.rounds.append(out)
            label = f"round {r}" if r > 0 else "warm-up"
            print(f"{label} {t.name}: " + " ".join(f"{k}={v:.1f}" for k, v in out.items()),
                  flush=True)
    print(f"# RESULT values are medians of {RUNS} rounds", flush=True)
    med = {}
    for t in targets:
        if not t.qresync:
            print(f"SKIP: {t.name} does not offer QRESYNC; no resync figures", flush=True)
        med[t.name] = {k: B.median([o[k] for o in t.rounds]) for k in t.rounds[0]}
        for k, v in med[t.name].items():
            B.result(f"{t.name}_{k}", v, "%" if k.endswith("pct_of_full") else
                     ("ms" if k.endswith("_ms") else "bytes"))
    ours = targets[0].name
    for t in targets[1:]:
        for k in med[ours]:
            if k in med[t.name] and k.endswith("_ms"):
                print(f"RATIO {k} {ours} vs {t.name} = {med[t.name][k] / max(med[ours][k], 1e-9):.2f}")


if __name__ == "__main__":
    main()
