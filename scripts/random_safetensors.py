"""random_safetensors.py: write a model.safetensors of seeded random weights (for scripts/make_random_*.py).

The checkpoint makers differ in which tensors a family has; what they share is here: the header
(8-byte length, JSON with dtype/shape/data_offsets, padded to 8 bytes as the safetensors format asks)
and the values HF's initialisation gives a fresh model, as attrun's benchmarks need them: norms' weights
1, biases 0, everything else N(0, 0.02²), drawn tensor by tensor from one numpy generator.
"""

import json
import struct

import numpy as np


def to_bf16(x):
    """float32 -> bfloat16 bits, round to nearest even (as torch's .to(torch.bfloat16))."""
    u = x.astype(np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def write(path, entries, dtype="F32", seed=1):
    """entries: [(name, shape, init)], init "ones", "zeros" or "normal"; dtype "F32" or "BF16".
    Returns (parameters, bytes of tensor data)."""
    esize = {"F32": 4, "BF16": 2}[dtype]
    tensors, off, nparam = {}, 0, 0
    for name, shape, _ in entries:
        n = int(np.prod(shape))
        nparam += n
        tensors[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + n * esize]}
        off += n * esize
    tensors["__metadata__"] = {"format": "pt"}
    header = json.dumps(tensors, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        for _, shape, init in entries:
            if init == "ones":
                x = np.ones(shape, np.float32)
            elif init == "zeros":
                x = np.zeros(shape, np.float32)
            else:
                x = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
            f.write((to_bf16(x) if dtype == "BF16" else x).tobytes())
            del x
    return nparam, off
