#!/usr/bin/env python3
"""Writes a corrupted copy of a .safetensors file, for tests/test_bad_inputs.sh.
usage: corrupt_safetensors.py SRC DST KIND [TENSOR]
KIND: truncate | hlen_too_big | header_not_json | offsets_outside | overlap | dtype | shape | nan | inf
Prints the name of the tensor that was damaged (empty for whole-file damage).
Only the standard library: any python3 works."""
import json, struct, sys

src, dst, kind = sys.argv[1:4]
want = sys.argv[4] if len(sys.argv) > 4 else None
raw = open(src, "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
hdr = json.loads(raw[8:8 + n])
data = bytearray(raw[8 + n:])
names = sorted(k for k in hdr if k != "__metadata__")
# The damaged tensor: the one asked for, else the largest F32 one (a tensor every model loads).
name = want or max((k for k in names if hdr[k]["dtype"] == "F32"),
                   key=lambda k: hdr[k]["data_offsets"][1] - hdr[k]["data_offsets"][0])
t = hdr[name]
b, e = t["data_offsets"]
damaged = name


def pack(h, d):
    s = json.dumps(h).encode()
    s += b" " * (-len(s) % 8)
    return struct.pack("<Q", len(s)) + s + bytes(d)


if kind == "truncate":
    out, damaged = raw[: len(raw) // 2], ""
elif kind == "hlen_too_big":
    out, damaged = struct.pack("<Q", len(raw) * 4) + raw[8:], ""
elif kind == "header_not_json":
    out, damaged = struct.pack("<Q", n) + b"{not json" + raw[17:], ""
elif kind == "offsets_outside":
    t["data_offsets"] = [len(data) + 16, len(data) + 16 + (e - b)]
    out = pack(hdr, data)
elif kind == "overlap":
    other = min((k for k in names if k != name and hdr[k]["data_offsets"][1] - hdr[k]["data_offsets"][0] > 4),
                key=lambda k: hdr[k]["data_offsets"][0])
    ob, oe = hdr[other]["data_offsets"]
    # Keep the size right so that only the overlap is wrong.
    t["data_offsets"] = [ob, ob + (e - b)] if ob + (e - b) <= len(data) else [0, e - b]
    out = pack(hdr, data)
elif kind == "dtype":
    t["dtype"] = "F7"
    out = pack(hdr, data)
elif kind == "shape":
    t["shape"] = [t["shape"][0] + 1] + t["shape"][1:]
    out = pack(hdr, data)
elif kind in ("nan", "inf"):
    assert t["dtype"] == "F32"
    v = struct.pack("<I", 0x7FC00000 if kind == "nan" else 0x7F800000)
    mid = b + ((e - b) // 8) * 4
    data[mid:mid + 4] = v
    out = pack(hdr, data)
else:
    sys.exit("unknown KIND " + kind)
open(dst, "wb").write(out)
print(damaged)
