#!/usr/bin/python3
"""Builds test checkpoints from a reference checkpoint directory (numpy only).

safetensors is [u64 little-endian N][N bytes of JSON header][data]; this file reads and
writes it by hand so that the fixtures do not depend on the code under test nor on the
safetensors package.

  st_fixture.py convert SRC DST DTYPE [--as-f32] [--scale-err K]
        every floating tensor of SRC stored as DTYPE (F32, F16, BF16; round to nearest even).
        --as-f32: store the DTYPE-rounded values as F32 (the values a correct loader must see).
        --scale-err K: store x + K·(round(x) − x) as F32 (the rounding error scaled by K).
  st_fixture.py shard SRC DST N
        the tensors of SRC split over N files model-0000i-of-0000N.safetensors (name order,
        about equal tensor counts) + model.safetensors.index.json; dtypes and bytes unchanged.
  st_fixture.py add-score SRC DST NUM_LABELS SEED
        SRC's tensors without lm_head.weight plus a random score.weight [NUM_LABELS, hidden]
        (F32, N(0, 1/hidden)); config.json changes are the caller's.
  st_fixture.py stack-layers SRC DST L
        a Llama-family checkpoint with L layers: layer l is a copy of SRC's layer l mod L0
        (config.json changes are the caller's).
  st_fixture.py random-llama DST HIDDEN LAYERS HEADS KV FFN VOCAB SEED
        a Llama checkpoint with random BF16 weights written tensor by tensor (low memory).
In every mode the other files of SRC (config.json, tokenizer files) are copied to DST.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

ITEM = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}


def read(path):
    """{name: (dtype, shape, raw bytes)} in file order, and the header's __metadata__."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    meta = hdr.pop("__metadata__", None)
    out = {}
    for name, t in sorted(hdr.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, e = t["data_offsets"]
        out[name] = (t["dtype"], t["shape"], data[b:e])
    return out, meta


def to_f32(dtype, shape, raw):
    if dtype == "F32":
        a = np.frombuffer(raw, "<f4")
    elif dtype == "F16":
        a = np.frombuffer(raw, "<f2").astype(np.float32)
    elif dtype == "BF16":
        a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
    elif dtype == "F64":
        a = np.frombuffer(raw, "<f8").astype(np.float32)
    else:
        raise SystemExit(f"unsupported dtype {dtype}")
    return a.reshape(shape)


def llama_layer0_qk(model_dir, ids, H, KV, hs):
    """Layer 0's queries (T, H, hs) and keys (T, KV, hs) of a Llama-family checkpoint over token
    ids, in float64 from the weights (without attrun): RMSNorm (eps 1e-5), the q/k projections,
    HF's rotate_half RoPE (base 10000, angles in float32 as HF computes them)."""
    ts, _ = read(model_dir + "/model.safetensors")
    w = {n: to_f32(*v).astype(np.float64) for n, v in ts.items()}
    T = len(ids)
    x = w["model.embed_tokens.weight"][ids]
    n1 = x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-5) * w["model.layers.0.input_layernorm.weight"]
    Q = (n1 @ w["model.layers.0.self_attn.q_proj.weight"].T).reshape(T, H, hs)
    K = (n1 @ w["model.layers.0.self_attn.k_proj.weight"].T).reshape(T, KV, hs)
    inv = (1.0 / (10000.0 ** (np.arange(0, hs, 2, dtype=np.float32) / hs))).astype(np.float32)
    ang = (np.arange(T, dtype=np.float32)[:, None] * inv[None, :]).astype(np.float32)
    cos = np.concatenate([np.cos(ang)] * 2, -1).astype(np.float64)[:, None, :]
    sin = np.concatenate([np.sin(ang)] * 2, -1).astype(np.float64)[:, None, :]
    rot = lambda v: np.concatenate([-v[..., hs // 2:], v[..., :hs // 2]], -1)
    return Q * cos + rot(Q) * sin, K * cos + rot(K) * sin


def bf16_bits(a):
    """float32 -> BF16 bits, round to nearest even (finite inputs)."""
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype("<u2")


def encode(a, dtype):
    if dtype == "F32":
        return np.ascontiguousarray(a, "<f4").tobytes()
    if dtype == "F16":
        h = a.astype("<f2")
        if not np.isfinite(h).all():
            raise SystemExit("a value overflows F16")
        return h.tobytes()
    if dtype == "BF16":
        return bf16_bits(a).tobytes()
    raise SystemExit(f"cannot write {dtype}")


def rounded(a, dtype):
    return to_f32(dtype, a.shape, encode(a, dtype))


def write(path, tensors, meta=None):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    hdr, off = {}, 0
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dt, shape, raw in tensors:
        assert len(raw) == ITEM[dt] * int(np.prod(shape, dtype=np.int64))
        hdr[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for t in tensors:
            f.write(t[3])


def copy_side_files(src, dst):
    os.makedirs(dst, exist_ok=True)
    for n in os.listdir(src):
        if n.endswith(".safetensors") or n == "model.safetensors.index.json":
            continue
        shutil.copyfile(os.path.join(src, n), os.path.join(dst, n))


def main(argv):
    mode = argv[1]
    if mode == "random-llama":
        return random_llama(*argv[2:])
    src, dst = argv[2], argv[3]
    copy_side_files(src, dst)
    ts, meta = read(os.path.join(src, "model.safetensors"))
    out = os.path.join(dst, "model.safetensors")
    if mode == "convert":
        dtype, rest = argv[4], argv[5:]
        k = float(rest[rest.index("--scale-err") + 1]) if "--scale-err" in rest else None
        lst = []
        for name, (dt, shape, raw) in ts.items():
            a = to_f32(dt, shape, raw)
            r = rounded(a, dtype)
            if k is not None:
                lst.append((name, "F32", shape, encode(a + np.float32(k) * (r - a), "F32")))
            elif "--as-f32" in rest:
                lst.append((name, "F32", shape, encode(r, "F32")))
            else:
                lst.append((name, dtype, shape, encode(a, dtype)))
        write(out, lst, meta)
    elif mode == "shard":
        n = int(argv[4])
        items = sorted(ts.items())
        total = sum(len(v[2]) for _, v in items)
        groups = [[] for _ in range(n)]
        for j, (name, (dt, shape, raw)) in enumerate(items):
            groups[j * n // len(items)].append((name, dt, shape, raw))
        assert all(groups), "more shards than tensors"
        wm = {}
        for i, g in enumerate(groups):
            fn = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
            write(os.path.join(dst, fn), g, meta)
            wm.update({t[0]: fn for t in g})
        with open(os.path.join(dst, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": wm}, f, indent=2)
    elif mode == "add-score":
        nl, seed = int(argv[4]), int(argv[5])
        lst = [(k, *v) for k, v in ts.items() if k != "lm_head.weight"]
        D = next(v[1][1] for k, v in ts.items() if k.endswith(("wte.weight", "embed_tokens.weight")))
        w = np.random.default_rng(seed).standard_normal((nl, D)).astype(np.float32) / np.float32(np.sqrt(D))
        lst.append(("score.weight", "F32", [nl, D], encode(w, "F32")))
        write(out, lst, meta)
    elif mode == "stack-layers":
        L = int(argv[4])
        pre = "model.layers."
        L0 = 1 + max(int(k[len(pre):].split(".")[0]) for k in ts if k.startswith(pre))
        lst = [(k, *v) for k, v in ts.items() if not k.startswith(pre)]
        for l in range(L):
            src = f"{pre}{l % L0}."
            lst += [(f"{pre}{l}." + k[len(src):], *v) for k, v in ts.items() if k.startswith(src)]
        write(out, lst, meta)
    else:
        raise SystemExit(f"unknown mode {mode}")
    return 0


def random_llama(dst, hidden, layers, heads, kv, ffn, vocab, seed):
    D, L, H, KV, FF, V = (int(x) for x in (hidden, layers, heads, kv, ffn, vocab))
    hs = D // H
    shapes = [("model.embed_tokens.weight", [V, D])]
    for l in range(L):
        p = f"model.layers.{l}."
        shapes += [(p + "input_layernorm.weight", [D]), (p + "post_attention_layernorm.weight", [D]),
                   (p + "self_attn.q_proj.weight", [H * hs, D]), (p + "self_attn.k_proj.weight", [KV * hs, D]),
                   (p + "self_attn.v_proj.weight", [KV * hs, D]), (p + "self_attn.o_proj.weight", [D, H * hs]),
                   (p + "mlp.gate_proj.weight", [FF, D]), (p + "mlp.up_proj.weight", [FF, D]),
                   (p + "mlp.down_proj.weight", [D, FF])]
    shapes += [("model.norm.weight", [D]), ("lm_head.weight", [V, D])]
    os.makedirs(dst, exist_ok=True)
    hdr, off = {}, 0
    for name, shape in shapes:
        nb = 2 * int(np.prod(shape))
        hdr[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + nb]}
        off += nb
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    rng = np.random.default_rng(int(seed))
    with open(os.path.join(dst, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name, shape in shapes:
            if name.endswith("norm.weight"):
                a = np.ones(shape, np.float32)
            else:
                a = rng.standard_normal(shape, dtype=np.float32) * np.float32(1 / np.sqrt(shape[-1]))
            f.write(bf16_bits(a).tobytes())
            del a
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": D,
           "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": KV, "intermediate_size": FF,
           "vocab_size": V, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
           "hidden_act": "silu", "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2,
           "torch_dtype": "bfloat16"}
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
