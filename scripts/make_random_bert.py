#!/usr/bin/python3
"""A random BERT checkpoint of any width and depth, scaled from a small BERT directory (for memory
tests and measurements: tests/test_run_share_weights.sh, docs/performance.md).

  scripts/make_random_bert.py SRC_DIR OUT_DIR [--hidden 768 --layers 12 --heads 12 --ff 3072 --seed 1]

SRC_DIR is a BertForSequenceClassification directory (../shared/reference/models/tiny-bert): its tensor
names and vocabulary are kept, its hidden size and intermediate size are replaced by --hidden and --ff in
every tensor shape, the encoder layers are repeated to --layers. Weights are RANDOM (normal, std 0.02;
LayerNorm gains 1, biases 0): the model knows nothing, it only has the shapes (defaults: BERT-base,
110 M parameters, 418 MiB F32). Written with numpy alone, one tensor at a time.
"""
import argparse
import json
import os
import re
import shutil
import struct
import sys

import random_safetensors


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return h


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--ff", type=int, default=3072)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.src, "config.json")))
    if cfg.get("model_type") != "bert":
        sys.exit(f"{a.src}: not a BERT checkpoint")
    D0, F0 = cfg["hidden_size"], cfg["intermediate_size"]
    if D0 == F0 or a.hidden % a.heads:
        sys.exit("hidden size must differ from the intermediate size in SRC, and --hidden be a multiple of --heads")
    src = read_header(os.path.join(a.src, "model.safetensors"))
    names = []
    for name in sorted(src):
        m = re.match(r"(.*\.layer\.)(\d+)(\..*)", name)
        if m:
            if m.group(2) == "0":
                names += [(f"{m.group(1)}{i}{m.group(3)}", src[name]["shape"]) for i in range(a.layers)]
        else:
            names.append((name, src[name]["shape"]))
    scale = {D0: a.hidden, F0: a.ff}

    def init(name):
        if "LayerNorm" in name and name.endswith(("weight", "gamma")):
            return "ones"
        return "zeros" if name.endswith(("bias", "beta")) else "normal"
    entries = [(name, [scale.get(d, d) for d in shape], init(name)) for name, shape in names]
    os.makedirs(a.out, exist_ok=True)
    nparam, off = random_safetensors.write(os.path.join(a.out, "model.safetensors"), entries, "F32", a.seed)
    cfg.update(hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads, intermediate_size=a.ff)
    json.dump(cfg, open(os.path.join(a.out, "config.json"), "w"), indent=2)
    for extra in os.listdir(a.src):
        if extra not in ("config.json", "model.safetensors") and not extra.endswith(".safetensors"):
            shutil.copy(os.path.join(a.src, extra), a.out)
    print(f"wrote {a.out}: {nparam} parameters, {off / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
