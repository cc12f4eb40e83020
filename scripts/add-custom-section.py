#!/usr/bin/env python3
"""Appends a deliberately malformed custom section to a wasm module.

usage: add-custom-section.py IN OUT NAME KIND
  KIND garbage    the payload is bytes that do not parse as NAME's format
  KIND truncated  the payload announces more entries than it holds

Custom sections may stand anywhere after the header, so the module stays
valid and runnable: only the section is hostile.
"""
import sys


def leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def main() -> None:
    src, dst, name, kind = sys.argv[1:5]
    module = open(src, "rb").read()
    if kind == "garbage":
        payload = bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x05]) + b"\x80\x80\x80"
    elif kind == "truncated":
        # 3 fields announced, one started: "language" with 9 values, one given.
        payload = leb128(3) + leb128(8) + b"language" + leb128(9) + leb128(4) + b"Rust"
    else:
        sys.exit(f"unknown kind {kind}")
    body = leb128(len(name)) + name.encode() + payload
    section = bytes([0]) + leb128(len(body)) + body
    open(dst, "wb").write(module + section)


if __name__ == "__main__":
    main()
