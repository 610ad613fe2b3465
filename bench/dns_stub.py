#!/usr/bin/env python3
"""A DNS server on loopback that answers every question at once with NXDOMAIN, for benchmarks
whose content filter (rspamd) looks names up: without it each lookup waits for a server that
is not there, and the figure measures timeouts instead of the mail system.

    python3 bench/dns_stub.py PORT        (UDP on 127.0.0.1:PORT until killed)
"""
import socket
import struct
import sys


def answer(query: bytes) -> bytes | None:
    if len(query) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000 or qdcount != 1:  # a response, or not one question: ignore
        return None
    # Walk the question's name to find its end; keep name, type and class as asked.
    i = 12
    while i < len(query) and query[i] != 0:
        if query[i] & 0xC0:
            return None
        i += query[i] + 1
    end = i + 5
    if end > len(query):
        return None
    rd = flags & 0x0100
    # QR, the client's RD, RA, RCODE 3 (NXDOMAIN); one question, no records.
    return struct.pack("!HHHHHH", qid, 0x8000 | rd | 0x0080 | 3, 1, 0, 0, 0) + query[12:end]


def main() -> None:
    port = int(sys.argv[1])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    while True:
        data, peer = s.recvfrom(4096)
        reply = answer(data)
        if reply:
            s.sendto(reply, peer)


if __name__ == "__main__":
    main()
