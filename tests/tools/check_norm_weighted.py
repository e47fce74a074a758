"""Recomputes the norm-weighted attention datasets of an attrun result (docs/analysis.md §11) in
numpy, from the checkpoint's weights (read here with a small safetensors reader) and the file's
raw data, never from the C code:

  /attention/norm_weighted/value_norm   ||(x_j W_V + b_V) W_O^h|| from the layer inputs: layer 0's
                                        from the embeddings (word + position + type, LayerNorm) of
                                        /tokens/ids, layer l's from /hidden/states[:, l-1]; pre-norm
                                        decoders apply the layer's input RMSNorm first; GQA query
                                        head h reads KV head h // (NH/NKV)
  /attention/norm_weighted/stats/*      from /attention/probs and those numpy value norms,
                                        normalised per query row; the same numpy statistics are
                                        first checked against /attention/stats/* on the raw probs
  /attention/norm_weighted/categories/received  (when present) from the same and /tokens/category

Families: BERT, RoBERTa (encoders, post-LN), Llama, Mistral, Qwen2 (pre-RMSNorm decoders).
Needs attention.save, analysis.save_hidden and attention.norm_weighted in the job.

usage: check_norm_weighted.py result.h5 model_dir [tolerance]   (exit 1 with the first mismatch)
"""
import json
import os
import struct
import sys

import h5py
import numpy as np


def read_safetensors(path):
    """{name: float64 array}; F32, F16 and BF16 tensors."""
    with open(path, "rb") as fh:
        raw = fh.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        if v["dtype"] == "BF16":
            a = (np.frombuffer(data[s:e], "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(data[s:e], {"F32": "<f4", "F16": "<f2"}[v["dtype"]])
        out[k] = a.astype(np.float64).reshape(v["shape"])
    return out


def find(w, suffix):
    """The one tensor whose name ends with suffix (HF prefixes differ: bert., roberta., model.)."""
    hits = [k for k in w if k.endswith(suffix)]
    assert len(hits) == 1, f"{suffix}: {hits}"
    return w[hits[0]]


def find_opt(w, suffix):
    hits = [k for k in w if k.endswith(suffix)]
    return w[hits[0]] if hits else None


def layernorm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


PUNCT = set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~')


def is_punct(t):
    for p in ("##", "\u0120"):  # WordPiece continuation, byte-BPE space (docs/analysis.md §1)
        if t.startswith(p) and len(t) > len(p):
            t = t[len(p):]
            break
    return len(t) > 0 and all(c in PUNCT for c in t)


def stats(p, cls, sep, pun):
    """p [L,H,T,T] -> name -> [L,H], docs/analysis.md §1 and §7 (first, bos at position 0)."""
    T = p.shape[-1]
    i, j = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0).sum(-1).mean(-1)
    nan = np.full(p.shape[:2], np.nan)
    return {"cls": p[..., cls].sum(-1).mean(-1), "sep": p[..., sep].sum(-1).mean(-1),
            "punct": p[..., pun].sum(-1).mean(-1), "self": np.einsum("lhii->lhi", p).mean(-1),
            "prev": np.stack([p[..., a, a - 1] for a in range(1, T)], -1).mean(-1) if T > 1 else nan,
            "next": np.stack([p[..., a, a + 1] for a in range(T - 1)], -1).mean(-1) if T > 1 else nan,
            "entropy": ent, "distance": (p * np.abs(i - j)).sum(-1).mean(-1), "first": p[..., 0].mean(-1)}


def main():
    f = h5py.File(sys.argv[1], "r")
    mdir = sys.argv[2]
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
    cfg = json.load(open(os.path.join(mdir, "config.json")))
    w = read_safetensors(os.path.join(mdir, "model.safetensors"))
    mt = cfg["model_type"]
    enc = mt in ("bert", "roberta")
    assert enc or mt in ("llama", "mistral", "qwen2"), f"model_type {mt} not covered by this checker"
    D, NH, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    NKV = cfg.get("num_key_value_heads", NH)
    hs = cfg.get("head_dim", D // NH)
    pre = "encoder.layer." if enc else "layers."

    off = f["tokens/offsets"][:]
    aoff = f["attention/offsets"][:]
    ids_all = f["tokens/ids"][:]
    types_all = f["tokens/type_ids"][:]
    special = f["tokens/special"][:]
    span = f["tokens/char_span"][:]
    toks = [t.decode() if isinstance(t, bytes) else t for t in f["tokens/text"][:]]
    hidden = f["hidden/states"]  # [M, L, D]
    vn_file = f["attention/norm_weighted/value_norm"]  # [M, L, H]
    assert vn_file.shape == (off[-1], L, NH), vn_file.shape
    has_stats = "stats" in f["attention/norm_weighted"]
    has_cat = "categories" in f["attention/norm_weighted"]
    if has_cat:
        cat = f["tokens/category"][:]
        K = len(f["tokens/category"].attrs["names"])
    eps_sink = f["attention/norm_weighted/stats/sink"].attrs["epsilon"] if has_stats else None
    worst = {"value_norm": 0.0, "raw stats": 0.0, "norm-weighted stats": 0.0, "categories": 0.0}

    for e in range(len(off) - 1):
        a, b = off[e], off[e + 1]
        T = b - a
        ids = ids_all[a:b]
        # ---- each layer's input ----
        if enc:
            if mt == "roberta":  # HF create_position_ids_from_input_ids: pad + 1 + running count
                pos = cfg["pad_token_id"] + 1 + np.arange(T)
            else:
                pos = np.arange(T)
            x0 = find(w, "embeddings.word_embeddings.weight")[ids] + \
                find(w, "embeddings.position_embeddings.weight")[pos] + \
                find(w, "embeddings.token_type_embeddings.weight")[types_all[a:b]]
            x0 = layernorm(x0, find(w, "embeddings.LayerNorm.weight"), find(w, "embeddings.LayerNorm.bias"),
                           cfg["layer_norm_eps"])
        else:
            x0 = find(w, "embed_tokens.weight")[ids]
        hid = hidden[a:b].astype(np.float64)  # [T, L, D]
        vn = np.empty((L, NH, T))
        for l in range(L):
            x = x0 if l == 0 else hid[:, l - 1]
            if enc:
                Wv = find(w, f"{pre}{l}.attention.self.value.weight")
                bv = find(w, f"{pre}{l}.attention.self.value.bias")
                Wo = find(w, f"{pre}{l}.attention.output.dense.weight")
            else:
                g = find(w, f"{pre}{l}.input_layernorm.weight")
                x = x / np.sqrt((x * x).mean(-1, keepdims=True) + cfg["rms_norm_eps"]) * g
                Wv = find(w, f"{pre}{l}.self_attn.v_proj.weight")
                bv = find_opt(w, f"{pre}{l}.self_attn.v_proj.bias")
                Wo = find(w, f"{pre}{l}.self_attn.o_proj.weight")
            v = x @ Wv.T + (bv if bv is not None else 0)  # [T, NKV*hs]
            for h in range(NH):
                g_ = h // (NH // NKV)
                fx = v[:, g_ * hs:(g_ + 1) * hs] @ Wo[:, h * hs:(h + 1) * hs].T  # [T, D]
                vn[l, h] = np.sqrt((fx * fx).sum(-1))
        got = vn_file[a:b].astype(np.float64).transpose(1, 2, 0)  # [L, H, T]
        rel = np.abs(got - vn).max() / np.abs(vn).max()
        assert rel <= tol, f"example {e}: value_norm max rel error {rel:.3g} > {tol}"
        worst["value_norm"] = max(worst["value_norm"], rel)

        # ---- statistics of the raw and the norm-weighted attention ----
        P = f["attention/probs"][aoff[e]:aoff[e + 1]].astype(np.float64).reshape(L, NH, T, T)
        Nw = P * vn[:, :, None, :]
        Nw = Nw / Nw.sum(-1, keepdims=True)
        assert np.allclose(Nw.sum(-1), 1)
        cls = np.array([t in ("[CLS]", "<s>") for t in toks[a:b]]) & (special[a:b] != 0)
        sep = np.array([t in ("[SEP]", "</s>") for t in toks[a:b]]) & (special[a:b] != 0)
        pun = np.array([is_punct(t) for t in toks[a:b]])
        bos = T > 0 and special[a] != 0 and span[a, 0] == 0 and span[a, 1] == 0
        if has_stats:
            for name, p, where in (("raw stats", P, "attention/stats"),
                                   ("norm-weighted stats", Nw, "attention/norm_weighted/stats")):
                ref = stats(p, cls, sep, pun)
                ref["bos"] = ref["first"] if bos else np.full((L, NH), np.nan)
                ref["sink"] = np.where(ref["first"] > eps_sink, 1.0, 0.0)
                assert ("cls" in f[where]) == enc and ("sep" in f[where]) == enc, f"{where}: cls/sep only for encoders"
                for k, want in ref.items():
                    if not enc and k in ("cls", "sep"):
                        continue
                    gotk = f[f"{where}/{k}"][e].astype(np.float64)
                    nan = np.isnan(want)
                    assert (np.isnan(gotk) == nan).all(), f"example {e} {where}/{k}: NaN placement"
                    # relative to max(1, |value|): distance grows with T
                    err = (np.abs(gotk[~nan] - want[~nan]) / np.maximum(1, np.abs(want[~nan]))).max(initial=0)
                    assert err <= tol, f"example {e} {where}/{k}: max error {err:.3g} > {tol}"
                    worst[name] = max(worst[name], err)
        if has_cat:
            c = cat[a:b]
            want = np.stack([Nw[..., c == k].sum(-1).mean(-1) for k in range(K)], -1)
            err = np.abs(f["attention/norm_weighted/categories/received"][e] - want).max()
            assert err <= tol, f"example {e} norm-weighted categories: max abs error {err:.3g} > {tol}"
            worst["categories"] = max(worst["categories"], err)
        # the norm weighting must matter: N differs from P (value norms are not all equal)
        assert np.abs(Nw - P).max() > 1e-3, f"example {e}: norm-weighted attention equals the raw attention"
    print(f"{sys.argv[1]} ({mt}, {len(off) - 1} examples, NH {NH} NKV {NKV}): worst " +
          ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))


if __name__ == "__main__":
    main()
