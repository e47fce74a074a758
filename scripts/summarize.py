#!/usr/bin/env python3
"""Short summary of an attrun result file: accuracy (when labels exist), deltas, and the
tokens with the highest / lowest mean attribution across the corpus.

usage: summarize.py RESULT.h5 [--method ig] [--top 15] [--min-count 5]
"""
import argparse
import collections
import sys

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("result")
    ap.add_argument("--method", default=None, help="attribution method (default: ig if present, else the first)")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--min-count", type=int, default=5, help="only tokens seen at least this often")
    a = ap.parse_args()

    with h5py.File(a.result, "r") as f:
        complete = int(f.attrs.get("complete", 0))
        n = f["examples/index"].shape[0]
        print(f"{a.result}: {n} examples, complete={complete}, ranks={f.attrs.get('ranks', '?')}, "
              f"model={f.attrs.get('model', '?')}")
        label = f["examples/label"][:]
        target = f["examples/target"][:]
        has = label >= 0
        if has.any():
            logits = f["examples/logits"][:]
            pred = logits.argmax(axis=1)
            acc = float((pred[has] == label[has]).mean())
            print(f"accuracy (argmax of logits vs corpus label): {acc:.4f} on {int(has.sum())} labelled examples")
        methods = sorted(f["attributions"].keys()) if "attributions" in f else []
        print("methods:", ", ".join(methods))
        for m in methods:
            g = f["attributions"][m]
            if "delta" in g:
                d = np.abs(g["delta"][:])
                print(f"  {m}: |delta| mean {d.mean():.3g}, max {d.max():.3g}")
        m = a.method or ("ig" if "ig" in methods else (methods[0] if methods else None))
        if m is None:
            return 0
        off = f["tokens/offsets"][:]
        text = [t.decode() if isinstance(t, bytes) else t for t in f["tokens/text"][:]]
        score = f["attributions"][m]["token_sum"][:]
        # Attribution toward the explained class: flip the sign for examples explaining class 0
        # of a binary model, so a positive score pushes toward class 1.
        sign = np.ones_like(score)
        if f["examples/logits"].shape[1] == 2:
            for i in range(n):
                if target[i] == 0:
                    sign[off[i]:off[i + 1]] = -1
        acc = collections.defaultdict(list)
        for t, s in zip(text, score * sign):
            if t.startswith("[") and t.endswith("]"):
                continue
            acc[t].append(float(s))
        rows = [(np.mean(v), len(v), t) for t, v in acc.items() if len(v) >= a.min_count]
        rows.sort()
        what = "toward class 1 (positive for SST-2)" if f["examples/logits"].shape[1] == 2 else "toward the target"
        print(f"\ntop {a.top} tokens by mean {m} attribution {what} (seen >= {a.min_count} times):")
        for s, c, t in rows[::-1][:a.top]:
            print(f"  {t:>16s}  {s:+.4f}  (n={c})")
        print(f"\nbottom {a.top} tokens:")
        for s, c, t in rows[:a.top]:
            print(f"  {t:>16s}  {s:+.4f}  (n={c})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
