#!/usr/bin/python3
"""Checks attrun result files (run with /usr/bin/python3: needs h5py and numpy).

  h5compare.py same A.h5 B.h5   every dataset of A and B bitwise identical (same
                                names, shapes, dtypes, bytes; NaNs compared by bits),
                                both files complete. Exit 1 with the differences.
  h5compare.py check A.h5       the schema's invariants: complete == 1, offsets
                                consistent with the per-token / per-example /
                                attention-shaped datasets, format attribute, finite
                                values (NaN allowed where the analysis documents it).
"""
import sys

import h5py
import numpy as np


NAN_OK = ("agreement/", "faithfulness/", "attention/stats/prev", "attention/stats/next",
          "conductance/stats/prev", "conductance/stats/next", "attention/stats/bos",
          "attention/norm_weighted/stats/prev", "attention/norm_weighted/stats/next",
          "attention/norm_weighted/stats/bos")


def datasets(f):
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj
    f.visititems(visit)
    return out


def same(a_path, b_path):
    errs = []
    with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
        for f, p in ((a, a_path), (b, b_path)):
            if f.attrs.get("complete") != 1:
                errs.append(f"{p}: complete is {f.attrs.get('complete')}, not 1")
        da, db = datasets(a), datasets(b)
        for n in sorted(set(da) ^ set(db)):
            errs.append(f"{n}: only in {a_path if n in da else b_path}")
        for n in sorted(set(da) & set(db)):
            x, y = da[n], db[n]
            if x.shape != y.shape or x.dtype != y.dtype:
                errs.append(f"{n}: shape/dtype {x.shape} {x.dtype} vs {y.shape} {y.dtype}")
                continue
            xv, yv = x[()], y[()]
            if x.dtype.kind == "O":
                if list(xv) != list(yv):
                    errs.append(f"{n}: strings differ")
            elif xv.tobytes() != yv.tobytes():
                diff = np.abs(xv.astype(np.float64) - yv.astype(np.float64))
                errs.append(f"{n}: {int(np.count_nonzero(xv != yv))} values differ, max |diff| {np.nanmax(diff):.3g}")
        print(f"compared {len(set(da) & set(db))} datasets")
    return errs


def check(path):
    errs = []
    with h5py.File(path, "r") as f:
        if f.attrs.get("complete") != 1:
            errs.append(f"complete is {f.attrs.get('complete')}")
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != "attrun/1":
            errs.append(f"format attribute is {fmt!r}")
        for k in ("config", "model", "weights_sha256", "attrun_version", "start_time", "end_time", "ranks"):
            if k not in f.attrs:
                errs.append(f"root attribute {k} missing")
        n = f["examples/index"].shape[0]
        off = f["tokens/offsets"][()]
        m = int(off[-1]) if len(off) else 0
        if len(off) != n + 1 or off[0] != 0 or np.any(np.diff(off) < 1):
            errs.append("tokens/offsets is not N+1 increasing values from 0")
        for name, obj in datasets(f).items():
            top = name.split("/")[0]
            if name.endswith("offsets") or name.startswith("examples/skipped"):
                continue
            rows = obj.shape[0] if obj.shape else None
            if name in ("attention/probs", "conductance/attention"):
                aoff = f["attention/offsets"][()]
                if rows != aoff[-1]:
                    errs.append(f"{name}: {rows} elements, attention/offsets ends at {aoff[-1]}")
            elif top == "tokens" or name in ("hidden/states", "attention/norm_weighted/value_norm") or \
                    name.endswith(("token_sum", "token_l2", "/full")):
                if rows != m:
                    errs.append(f"{name}: {rows} rows, expected M = {m}")
            elif rows != n:
                errs.append(f"{name}: {rows} rows, expected N = {n}")
        if "attention/offsets" in f:
            aoff = f["attention/offsets"][()]
            t = np.diff(off)
            L = aoff[1] // (t[0] * t[0]) if n else 0
            if n and np.any(np.diff(aoff) != L * t * t):
                errs.append("attention/offsets is not L*H*T*T per example")
        for name, obj in datasets(f).items():
            v = obj[()] if obj.dtype.kind == "f" else None
            if v is None or np.all(np.isfinite(v)):
                continue
            # NaN marks an undefined analysis value (docs/hdf5-schema.md): agreement with fewer than
            # 2 non-special tokens, faithfulness without one, prev/next with T = 1; never infinities
            # (bos without a BOS token, category_mass of an all-zero attribution: docs/analysis.md)
            if (name.startswith(NAN_OK) or name.endswith("/category_mass")) and not np.any(np.isinf(v)):
                continue
            errs.append(f"{name}: non-finite values")
        print(f"{path}: {n} examples, {m} tokens, {len(datasets(f))} datasets")
    return errs


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "same":
        errs = same(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        errs = check(sys.argv[2])
    else:
        print(__doc__)
        return 2
    for e in errs:
        print("DIFF" if sys.argv[1] == "same" else "BAD", e)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
