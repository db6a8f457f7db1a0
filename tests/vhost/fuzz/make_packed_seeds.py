#!/usr/bin/env python3
"""Writes the seed inputs of the packed_walker fuzz target (format: packed_walker_fuzz.cc)
into corpus/packed_walker: well-formed rings a correct driver would write, so the fuzzer
starts from chains that get past the availability checks."""
import os
import struct

AVAIL, USED, NEXT, WRITE, INDIRECT = 1 << 7, 1 << 15, 1, 2, 4
here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "corpus", "packed_walker")
os.makedirs(out, exist_ok=True)


def desc(addr, length, ident, flags):
    return struct.pack("<QIHH", addr, length, ident, flags)


def seed(name, opts, qsize, base, order, ring, extra):
    """ring: list of descriptors (bytes); extra: {offset: bytes} written after the ring."""
    region = bytearray(8192)
    for i, d in enumerate(ring):
        region[16 * i:16 * i + 16] = d
    for off, b in extra.items():
        region[off:off + len(b)] = b
    header = struct.pack("<BHIB", opts, qsize - 1, base, order)
    with open(os.path.join(out, name), "wb") as f:
        f.write(header + bytes(region))


buf = 0x1000  # buffers from 4 KiB on, past any ring below 256 entries
hdr_and_payload = bytes(12) + bytes(range(60))
# One TX packet per descriptor, wrap counter 1.
seed("tx_simple", 0, 8, 1 << 15, 0,
     [desc(buf, 72, 0, AVAIL), desc(buf + 0x100, 72, 1, AVAIL)],
     {buf: hdr_and_payload, buf + 0x100: hdr_and_payload})
# A chain of three (ID in the last), then an indirect table of two.
seed("tx_chain_indirect", 2, 8, 1 << 15, 1,
     [desc(buf, 5, 0, AVAIL | NEXT), desc(buf + 5, 7, 0, AVAIL | NEXT), desc(buf + 12, 60, 4, AVAIL),
      desc(buf + 0x200, 32, 5, AVAIL | INDIRECT)],
     {buf: hdr_and_payload,
      buf + 0x200: desc(buf + 0x300, 12, 0, 0) + desc(buf + 0x400, 60, 0, 0)})
# Resuming on the second lap (wrap 0) at index 5 of 7, a chain across the ring's end.
seed("tx_wrap", 0, 7, 5, 2,
     [desc(buf, 60, 1, AVAIL), b"\0" * 16, b"\0" * 16, b"\0" * 16, b"\0" * 16,
      desc(buf, 6, 0, USED | NEXT), desc(buf + 6, 6, 0, USED | NEXT)],
     {buf: hdr_and_payload})
# RX buffers for a mergeable enqueue.
seed("rx_merge", 4 | 16, 16, 1 << 15, 0,
     [desc(buf + 0x100 * i, 256, i, AVAIL | WRITE) for i in range(8)], {})
