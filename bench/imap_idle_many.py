#!/usr/bin/env python3
"""Tens of thousands of idle IMAP connections at once, and what they cost the server.

The shared ../shared/bench/imap_idle_conns.py stops at 5,000 connections (one thread each);
the target is 50,000 concurrent IDLE clients. This client is asyncio, one event loop, and
spreads its source addresses over 127.0.0.2.. so that more than one source address's worth of
ephemeral ports (about 28,000) can be used. Each connection: LOGIN, SELECT INBOX, IDLE. Then:
the server's memory (RSS and PSS of SERVER_PID and its descendants, before and after), a fresh
client's LOGIN/SELECT/NOOP/LOGOUT latency while all are idle, a sample of idle connections
leaving IDLE (DONE → tagged OK: they are alive, not just open), and LOGOUT on all.

Env: IMAP_HOST=127.0.0.1 IMAP_PORT  USER_PATTERN="bench{n}@bench.test" USER_COUNT=100 PASS
  K=50000 (<= 120000)  CONCURRENCY=200  SETTLE=5  TIMEOUT=900 (setup bound, seconds)
  SERVER_PID (required: the server's main process)
Prints RESULT lines like the shared scripts.
"""
import asyncio
import os
import random
import resource
import sys
import time


def env_int(name, default, lo, hi):
    v = int(os.environ.get(name, default))
    if not lo <= v <= hi:
        sys.exit(f"{name}={v} out of range {lo}..{hi}")
    return v


HOST = os.environ.get("IMAP_HOST", "127.0.0.1")
PORT = env_int("IMAP_PORT", 143, 1, 65535)
PATTERN = os.environ.get("USER_PATTERN", "bench{n}@bench.test")
UCOUNT = env_int("USER_COUNT", 100, 1, 100000)
PW = os.environ.get("PASS", "pass")
K = env_int("K", 50000, 1, 120000)
CONC = env_int("CONCURRENCY", 200, 1, 2000)
SETTLE = float(os.environ.get("SETTLE", "5"))
TIMEOUT = float(os.environ.get("TIMEOUT", "900"))
PORTS_PER_SOURCE = 25000


def result(name, value, unit):
    if isinstance(value, float):
        value = f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    print(f"RESULT {name}={value} {unit}", flush=True)


def descendants(root):
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
            children.setdefault(int(s[s.rindex(")") + 2:].split()[1]), []).append(int(p))
        except (OSError, ValueError):
            pass
    out, stack = set(), [root]
    while stack:
        p = stack.pop()
        if p not in out:
            out.add(p)
            stack.extend(children.get(p, []))
    return out


def mem_kb(root):
    rss = pss = 0
    for pid in descendants(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                rss += sum(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))
            with open(f"/proc/{pid}/smaps_rollup") as f:
                pss += sum(int(ln.split()[1]) for ln in f if ln.startswith("Pss:"))
        except OSError:
            pass
    return rss, pss


class Conn:
    def __init__(self, reader, writer):
        self.r, self.w = reader, writer

    async def until(self, prefix, need_ok=True):
        while True:
            line = await self.r.readline()
            if not line:
                raise ConnectionError("closed by server")
            if line.startswith(prefix):
                if need_ok and not line[len(prefix):].startswith(b"OK"):
                    raise ConnectionError(line.decode(errors="replace").strip())
                return line

    async def cmd(self, tag, text):
        self.w.write(f"{tag} {text}\r\n".encode())
        await self.until(tag.encode() + b" ")


async def open_idle(i, sem, deadline):
    async with sem:
        if time.monotonic() > deadline:
            raise TimeoutError("setup TIMEOUT exceeded")
        src = f"127.0.0.{2 + i // PORTS_PER_SOURCE}"
        reader, writer = await asyncio.open_connection(HOST, PORT, local_addr=(src, 0), limit=4096)
        c = Conn(reader, writer)
        await c.until(b"* OK", need_ok=False)
        user = PATTERN.replace("{n}", str(i % UCOUNT + 1))
        await c.cmd("a", f'LOGIN "{user}" "{PW}"')
        await c.cmd("b", "SELECT INBOX")
        c.w.write(b"c IDLE\r\n")
        await c.until(b"+", need_ok=False)
        return c


async def fresh_client_ms():
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection(HOST, PORT, local_addr=("127.0.0.1", 0))
    c = Conn(reader, writer)
    await c.until(b"* OK", need_ok=False)
    await c.cmd("a", f'LOGIN "{PATTERN.replace("{n}", "1")}" "{PW}"')
    await c.cmd("b", "SELECT INBOX")
    await c.cmd("c", "NOOP")
    await c.cmd("d", "LOGOUT")
    writer.close()
    return (time.monotonic() - t0) * 1000


async def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < K + 256:
        sys.exit(f"RLIMIT_NOFILE hard limit {hard} < K+256; raise it (ulimit -Hn, as root)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pid = int(os.environ["SERVER_PID"])
    rss0, pss0 = mem_kb(pid)
    print(f"server before: RSS {rss0} kB, PSS {pss0} kB", flush=True)
    sem = asyncio.Semaphore(CONC)
    deadline = time.monotonic() + TIMEOUT
    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(open_idle(i, sem, deadline)) for i in range(K)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    setup = time.monotonic() - t0
    conns = [c for c in results if isinstance(c, Conn)]
    errors = [repr(e) for e in results if not isinstance(e, Conn)]
    print(f"opened {len(conns)}/{K} idle connections in {setup:.1f} s"
          + (f"; {len(errors)} errors, first: {errors[0]}" if errors else ""), flush=True)
    await asyncio.sleep(SETTLE)
    rss1, pss1 = mem_kb(pid)
    print(f"server after: RSS {rss1} kB, PSS {pss1} kB", flush=True)
    n = max(1, len(conns))
    result("imap_idle_conns", len(conns), "conns")
    result("imap_idle_setup_conns_per_s", len(conns) / setup, "conn/s")
    result("imap_idle_rss_total_kb", rss1, "kB")
    result("imap_idle_rss_per_conn_kb", (rss1 - rss0) / n, "kB")
    result("imap_idle_pss_per_conn_kb", (pss1 - pss0) / n, "kB")
    lat = sorted([await fresh_client_ms() for _ in range(20)])
    result("imap_fresh_client_p50_ms_under_idle_load", lat[len(lat) // 2], "ms")
    result("imap_fresh_client_max_ms_under_idle_load", lat[-1], "ms")
    sample = random.Random(7).sample(conns, min(200, len(conns)))
    alive = 0
    for c in sample:
        try:
            c.w.write(b"DONE\r\n")
            await asyncio.wait_for(c.until(b"c "), 30)
            alive += 1
        except Exception:  # noqa: BLE001
            pass
    result("imap_idle_sample_alive", f"{alive}/{len(sample)}", "conns")
    for c in conns:
        c.w.close()
    ok = len(conns) == K and alive == len(sample)
    print("OK" if ok else "FAILED: not every connection was opened and alive", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
