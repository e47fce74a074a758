"""Recomputes the second-round analysis datasets (docs/analysis.md sections 6-8) of an attrun
result in numpy, from the file's raw data and an independent lexer, never from the C code:

  /tokens/category                  tests/tools/javalex.py on /examples/text, sub-tokens mapped by
                                    span (majority overlap, ties to the earlier span), specials
  /attention/categories/received    from /attention/probs and those categories
  /conductance/categories/received  from /conductance/attention (when present)
  /attributions/<m>/category_mass   from /attributions/<m>/token_sum
  /examples/category_count
  /attention/stats/first, bos, sink from /attention/probs (epsilon from the attribute)
  /hidden/massive/*                 from /hidden/states (analysis.save_hidden)

usage: check_analysis2.py result.h5 [tolerance]   (exit 1 with the first mismatch)
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import javalex  # noqa: E402

f = h5py.File(sys.argv[1], "r")
tol = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-6
off = f["tokens/offsets"][:]
N = len(off) - 1
L, H = int(f["attention"].attrs["num_layers"]), int(f["attention"].attrs["num_heads"])
names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["tokens/category"].attrs["names"]]
assert names == javalex.NAMES, names
K = len(names)
span = f["tokens/char_span"][:]
texts = [t.decode() if isinstance(t, bytes) else t for t in f["examples/text"][:]]
cat = f["tokens/category"][:]
assert cat.dtype == np.int16 and cat.shape == (off[-1],)
# specials: tokenizer-added ones have the span (0, 0); <mask> is written in the text
ids = f["tokens/ids"][:]
toks = [t.decode() if isinstance(t, bytes) else t for t in f["tokens/text"][:]]
SPECIAL_STRINGS = {"<s>", "</s>", "<pad>", "<mask>", "<unk>", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"}


def categories(e):
    a, b = off[e], off[e + 1]
    lexed = javalex.lex(texts[e])
    out = np.empty(b - a, np.int16)
    for t in range(a, b):
        if toks[t] in SPECIAL_STRINGS:
            out[t - a] = names.index("special")
            continue
        s0, s1 = span[t]
        best, bov = None, 0
        for (x0, x1, c) in lexed:  # text order: on a tie the earlier span stays
            ov = min(s1, x1) - max(s0, x0)
            if ov > bov:
                best, bov = c, ov
        out[t - a] = names.index(best) if best else names.index("unknown")
    return out


def close(got, want, what):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs {want.shape}"
    nan = np.isnan(want)
    assert (np.isnan(got) == nan).all(), f"{what}: NaN placement"
    err = np.max(np.abs(got[~nan] - want[~nan]), initial=0)
    assert err <= tol, f"{what}: max abs error {err:.3g} > {tol}"
    return err


aoff = f["attention/offsets"][:]
rec = f["attention/categories/received"]
assert rec.shape == (N, L, H, K), rec.shape
eps = float(f["attention/stats/sink"].attrs["epsilon"])
cond = "conductance/attention" in f
worst = {}
counts = np.zeros(K, np.int64)
for e in range(N):
    a, b = off[e], off[e + 1]
    T = b - a
    c = categories(e)
    assert (cat[a:b] == c).all(), f"example {e}: categories differ at {np.flatnonzero(cat[a:b] != c)[:5]}"
    counts += np.bincount(c, minlength=K)
    onehot = np.eye(K)[c]  # [T, K]
    P = f["attention/probs"][aoff[e]:aoff[e + 1]].reshape(L, H, T, T).astype(np.float64)
    want = (P @ onehot).mean(2)  # [L, H, K]: sum over the category's keys, mean over queries
    worst["received"] = max(worst.get("received", 0), close(rec[e], want, f"example {e} received"))
    if cond:
        C = f["conductance/attention"][aoff[e]:aoff[e + 1]].reshape(L, H, T, T).astype(np.float64)
        worst["cond_received"] = max(worst.get("cond_received", 0),
                                     close(f["conductance/categories/received"][e], (C @ onehot).mean(2),
                                           f"example {e} conductance received"))
    first = P[..., :, 0].mean(-1)
    worst["first"] = max(worst.get("first", 0), close(f["attention/stats/first"][e], first, f"example {e} first"))
    bos = first if (span[a] == 0).all() and toks[a] in SPECIAL_STRINGS else np.full((L, H), np.nan)
    close(f["attention/stats/bos"][e], bos, f"example {e} bos")
    alpha = P[..., 0:, 0].mean(-1)  # Gu et al. k = 0: queries i >= 0
    sink = np.where(alpha > eps, 1.0, 0.0)
    assert (f["attention/stats/sink"][e] == sink).all(), f"example {e} sink"
    assert (f["examples/category_count"][e] == np.bincount(c, minlength=K)).all(), f"example {e} counts"
    for m in f["attributions"]:
        if "category_mass" not in f["attributions"][m]:
            continue
        s = np.abs(f[f"attributions/{m}/token_sum"][a:b].astype(np.float64))
        want = (s @ onehot) / s.sum() if s.sum() > 0 else np.full(K, np.nan)
        worst["mass_" + m] = max(worst.get("mass_" + m, 0), close(f[f"attributions/{m}/category_mass"][e], want,
                                                                  f"example {e} {m} category_mass"))
    if "hidden/states" in f:
        hs = f["hidden/states"][a:b]  # [T, L, D]
        D = hs.shape[2]
        for l in range(L):
            v = np.abs(hs[:, l, :]).ravel()  # flat index t*D + d
            order = np.lexsort((np.arange(v.size), -v))[:3]  # decreasing, ties to the lower index
            assert (f["hidden/massive/top_values"][e, l] == v[order]).all(), f"example {e} layer {l} top values"
            assert (f["hidden/massive/top_positions"][e, l] == order // D).all(), f"example {e} layer {l} positions"
            assert (f["hidden/massive/top_dims"][e, l] == order % D).all(), f"example {e} layer {l} dims"
            worst["median"] = max(worst.get("median", 0),
                                  close(f["hidden/massive/median_abs"][e, l], np.median(v.astype(np.float64)),
                                        f"example {e} layer {l} median"))
print(f"{N} examples, tokens per category:", {n: int(k) for n, k in zip(names, counts) if k})
print("max abs errors:", {k: float(f"{v:.2g}") for k, v in worst.items()})
