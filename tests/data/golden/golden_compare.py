#!/usr/bin/python3
"""golden_compare.py GOLDEN.h5 NEW.h5: is NEW what the pre-redesign code wrote (GOLDEN), bit for bit?

Compared, for the whole file:
  - the set of objects (groups and datasets, by path and kind);
  - every dataset: HDF5 datatype (H5Tequal: class, size, byte order, string kind and character set),
    shape, storage layout (chunk shape, filters and their options), and the raw bytes of the values
    (numbers via tobytes(), so a NaN must sit at the same place with the same bits; strings byte by byte);
  - every attribute of every object (root, groups, datasets): same set of names, datatype, shape, bytes.

New objects, attributes and config keys that later work added on purpose are allowed in NEW only when
listed in ADDED / ADDED_CONFIG_KEYS below (each with the issue that added it); everything the golden file
has must still be there, unchanged, except the objects a later change of a default removed on purpose,
listed in REMOVED (each with the issue, why, and the condition under which it may be missing).

Not compared, because they legitimately differ from one run to the next (each listed with its reason):
"""
import os
import re
import sys

import h5py
import numpy as np

# (object path, attribute name) -> why it is not compared bit for bit
EXCLUDED = {
    ("/", "start_time"): "wall-clock time the job started (UTC)",
    ("/", "end_time"): "wall-clock time the job finished (UTC)",
    ("/", "attrun_git"): "git commit of the binary that ran: the point of the test is that it changes",
}
# Additions after the redesign: regular expressions over object paths ("/group/dataset") and attribute
# names ("/path@attr"), and leaf keys of the printed config, that may exist only in the new file.
ADDED = {
    r"/tokens/special": "issue 19: the tokenizer's special flags, the one rule for special tokens",
    r"/@precision": "issue 17 (bf16): the precision of the linear layers, fp32 or bf16",
    # issue 16 (docs/analysis.md §6-8): sinks, massive activations, token categories and their statistics
    r"/attention/stats/(first|bos|sink)": "issue 16: attention to position 0 / BOS, sink indicator",
    r"/attention/stats/sink@epsilon": "issue 16: the sink threshold",
    r"/hidden": "issue 16: group of the massive activations",
    r"/hidden/massive": "issue 16",
    r"/hidden/massive/(top_values|top_positions|top_dims|median_abs)(@description)?": "issue 16",
    r"/hidden/states(@description)?": "issue 16: analysis.save_hidden",
    r"/tokens/category(@description|@names)?": "issue 16: analysis.categories",
    r"/examples/category_count(@description)?": "issue 16",
    r"/(attention|conductance)/categories(/received(@description)?)?": "issue 16",
    r"/attributions/[a-z_]+/category_mass(@description)?": "issue 16",
    r"/attention/stats/(first|bos|sink)@description": "issue 16",
    r"/examples/correct(@description)?": "issue 16: prediction == label per example, in every job with labels",
    r"/examples/candidate_(ids|logits)(@description)?": "issue 16: mlm.candidates (cloze)",
    r"/examples/id(@description)?": "issue 19: corpus.id_field",
    r"/examples/fields(/[^/@]+(@description)?)?": "issue 19: corpus.keep_fields",
}
# Objects a later change of a default removed on purpose: regular expression over object paths ->
# (why, condition on the golden file under which it may be missing from the new one, or None).
REMOVED = {
    # issue 16: `conductance.save_attention` (default false). The conductance of every attention probability
    # was always written with `conductance`; for a cloze job on CodeBERT-base that is ~18 GB, and its
    # statistics (/conductance/stats, /conductance/categories) are computed in the run without it. The
    # default changed, so the golden jobs with conductance no longer write it (the golden files keep it).
    r"/conductance/attention": ("issue 16: conductance.save_attention defaults to false", None),
    # ... and /attention/offsets exists only for attention-shaped datasets: without /attention/probs
    # (attention.save) and without /conductance/attention there is nothing for it to index.
    r"/attention/offsets": ("issue 16: no attention-shaped dataset left without attention.save",
                            lambda golden: "/attention/probs" not in golden),
}
ADDED_CONFIG_KEYS = {
    "categories": "issue 16: analysis.categories",
    "sink_epsilon": "issue 16: analysis.sink_epsilon",
    "massive": "issue 16: analysis.massive",
    "save_hidden": "issue 16: analysis.save_hidden",
    "baseline_token": "issue 14 (decoders): the token of `baseline: token`",
    "precision": "issue 17 (bf16): `precision: fp32 | bf16`",
    "activation_mib": "issue 14 (decoders, long texts): the engine's activation budget (runtime only)",
    "microbatch_tokens": "issue 14 (peak RSS with 16 rows of 512 tokens per pass): tokens of one item block / engine pass",
    "tolerance": "issue 17 item 2 (adaptive IG): ig.tolerance, used by `ig.steps: auto` only",
    "max_steps": "issue 17 item 2 (adaptive IG): ig.max_steps, used by `ig.steps: auto` only",
    "continuation_field": "issue 14 (decoder continuations): corpus.continuation_field",
    "on_long": "issue 16: corpus.on_long (truncate | skip)",
    "id_field": "issue 19: corpus.id_field",
    "keep_fields": "issue 19: corpus.keep_fields",
    "mlm": "issue 16: the mlm section (cloze candidates)",
    "candidates": "issue 16: mlm.candidates",
    "save_attention": "issue 16: conductance.save_attention",
    "share_weights": "issue 17 item 4: one copy of the weights per node, `share_weights: auto | on | off`",
    "norm_weighted": "issue 16: attention.norm_weighted (Kobayashi et al. 2020), default off",
}


def removed(name, golden):
    for rx, (_, cond) in REMOVED.items():
        if re.fullmatch(rx, name) and (cond is None or cond(golden)):
            return True
    return False


def added(name):
    return any(re.fullmatch(rx, name) for rx in ADDED)


def config_subsequence(golden, new):
    """Every golden config line, in order, in the new one; extra new lines only for ADDED_CONFIG_KEYS."""
    extra, it = [], iter(new.splitlines())
    for line in golden.splitlines():
        for cand in it:
            if cand == line:
                break
            extra.append(cand)
        else:
            return f"golden line {line!r} missing"
    extra += list(it)
    for line in extra:
        key = line.strip().lstrip("- ").split(":", 1)[0]
        if key not in ADDED_CONFIG_KEYS:
            return f"new config line {line!r} (key not in ADDED_CONFIG_KEYS)"
    return None


# (object path, attribute name) -> (why, normaliser): compared after the normaliser is applied to both
PATH_ATTRS = {
    ("/", "model"): ("checkpoint path as configured: the reference models may live elsewhere than ../shared "
                     "(ATTRUN_SHARED), compared by its last component", lambda s: os.path.basename(s.rstrip("/"))),
    ("/", "config"): ("resolved YAML of the job: its `model:` path is compared by its last component (as "
                      "above), its `out:` path (a temporary file) not at all; every other line exactly",
                      lambda s: re.sub(r'^out: .*$', 'out: <temporary>',
                                       re.sub(r'^model: "?(.*?)"?$',
                                              lambda m: f"model: {os.path.basename(m.group(1).rstrip('/'))}",
                                              s, flags=re.M), flags=re.M)),
}
__doc__ += "".join(f"  {o} attribute {a}: {why}\n" for (o, a), why in EXCLUDED.items())
__doc__ += "".join(f"  {o} attribute {a}: {why}\n" for (o, a), (why, _) in PATH_ATTRS.items())
__doc__ += "Removed on purpose (may be missing from NEW):\n"
__doc__ += "".join(f"  {rx}: {why}\n" for rx, (why, _) in REMOVED.items())


def objects(f):
    out = {"/": f}
    f.visititems(lambda name, obj: out.__setitem__("/" + name, obj))
    return out


def kind(obj):
    return "dataset" if isinstance(obj, h5py.Dataset) else "group" if isinstance(obj, h5py.Group) else "other"


def raw(value):
    """Bytes of an attribute or dataset value, strings as their stored bytes."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    a = np.asarray(value)
    if a.dtype.kind == "O":
        return b"\0|".join(raw(v) for v in a.ravel()) + repr(a.shape).encode()
    return a.tobytes()


def layout(ds):
    return (ds.chunks, ds.compression, ds.compression_opts, ds.shuffle, ds.fletcher32, ds.scaleoffset, ds.maxshape)


def compare_attrs(path, a, b, errs):
    na, nb = set(a.attrs.keys()), set(b.attrs.keys())
    for n in sorted(na ^ nb):
        if n in nb and added(f"{path}@{n}"):
            continue
        errs.append(f"{path} attribute {n}: only in {'golden' if n in na else 'new'} file")
    for n in sorted(na & nb):
        if (path, n) in EXCLUDED:
            continue
        ta, tb = a.attrs.get_id(n).get_type(), b.attrs.get_id(n).get_type()
        if not ta.equal(tb):
            errs.append(f"{path} attribute {n}: datatype {a.attrs.get_id(n).dtype} vs {b.attrs.get_id(n).dtype}")
            continue
        if a.attrs.get_id(n).shape != b.attrs.get_id(n).shape:
            errs.append(f"{path} attribute {n}: shape {a.attrs.get_id(n).shape} vs {b.attrs.get_id(n).shape}")
            continue
        va, vb = a.attrs[n], b.attrs[n]
        if (path, n) in PATH_ATTRS:
            norm = PATH_ATTRS[(path, n)][1]
            va, vb = norm(va.decode() if isinstance(va, bytes) else va), norm(vb.decode() if isinstance(vb, bytes) else vb)
        if (path, n) == ("/", "config") and isinstance(va, str) and isinstance(vb, str):
            why = config_subsequence(va, vb)
            if why:
                errs.append(f"{path} attribute {n}: {why}")
            continue
        if raw(va) != raw(vb):
            if isinstance(va, str) and isinstance(vb, str) and "\n" in va + vb:   # the config: show the line
                la, lb = va.splitlines(), vb.splitlines()
                i = next((i for i, (p, q) in enumerate(zip(la, lb)) if p != q), min(len(la), len(lb)))
                va, vb = f"line {i + 1}: " + (la[i] if i < len(la) else "<end>"), (lb[i] if i < len(lb) else "<end>")
            errs.append(f"{path} attribute {n}: value {str(va)[:120]!r} vs {str(vb)[:120]!r}")


def compare_dataset(path, x, y, errs):
    if not x.id.get_type().equal(y.id.get_type()):
        errs.append(f"{path}: datatype {x.dtype} vs {y.dtype}")
        return
    if x.shape != y.shape:
        errs.append(f"{path}: shape {x.shape} vs {y.shape}")
        return
    if layout(x) != layout(y):
        errs.append(f"{path}: storage layout {layout(x)} vs {layout(y)}")
    xv, yv = x[()], y[()]
    if raw(xv) == raw(yv):
        return
    if x.dtype.kind in "fiu":
        xb, yb = np.asarray(xv).view(np.uint8).reshape(-1, x.dtype.itemsize), np.asarray(yv).view(np.uint8).reshape(-1, x.dtype.itemsize)
        bad = np.nonzero((xb != yb).any(1))[0]
        xf, yf = np.asarray(xv).ravel(), np.asarray(yv).ravel()
        errs.append(f"{path}: {len(bad)} of {xf.size} values differ in their bits, first at flat index "
                    f"{bad[0]}: {xf[bad[0]]!r} vs {yf[bad[0]]!r}")
    else:
        errs.append(f"{path}: values differ")


def compare(golden, new):
    errs = []
    with h5py.File(golden, "r") as a, h5py.File(new, "r") as b:
        oa, ob = objects(a), objects(b)
        for p in sorted(set(oa) ^ set(ob)):
            if p in ob and added(p):
                continue
            if p in oa and removed(p, oa):
                continue
            errs.append(f"{p}: {kind((oa if p in oa else ob)[p])} only in {'golden' if p in oa else 'new'} file")
        n = 0
        for p in sorted(set(oa) & set(ob)):
            x, y = oa[p], ob[p]
            if kind(x) != kind(y):
                errs.append(f"{p}: {kind(x)} vs {kind(y)}")
                continue
            compare_attrs(p, x, y, errs)
            if kind(x) == "dataset":
                compare_dataset(p, x, y, errs)
                n += 1
    return n, errs


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    n, errs = compare(sys.argv[1], sys.argv[2])
    for e in errs[:40]:
        print("DIFF", e)
    if len(errs) > 40:
        print(f"DIFF ... and {len(errs) - 40} more")
    print(f"{'FAILED' if errs else 'ok'}: {n} datasets compared, {len(errs)} differences")
    sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()
