#!/usr/bin/python3
"""CodeXGLUE ClozeTest-maxmin (Java) -> data/codexglue-cloze.jsonl, one masked Java function per line.

Input: shared/data/codexglue/clozeTest.json (482 records; provenance and license in its SOURCE.md and in
data/README.md). Each output line is {"idx": "maxmin-N", "text": "..."} where text is
' '.join(nl_tokens + pl_tokens), the input of the official CodeXGLUE baseline: the docstring tokens, then the
function's tokens, joined by single spaces, with exactly one literal "<mask>" (where `max` or `min` was).

No label is written: the gold max/min answers are not distributed (SOURCE.md), and a label guessed from the
other tokens would be wrong for an unknown share of the records. Records are kept in file order.

Usage (repository root): /usr/bin/python3 scripts/make_cloze_corpus.py [--src PATH] [--out PATH]
"""
import argparse
import hashlib
import json
import sys

SRC = "/work/shared/data/codexglue/clozeTest.json"
SHA256 = "ee2e7b0ad7d75ecb5e53b668f04fb39bdcebbacda820220b9bbb093136dd4082"  # from SOURCE.md


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default=SRC)
    ap.add_argument("--out", default="data/codexglue-cloze.jsonl")
    a = ap.parse_args()
    with open(a.src, "rb") as f:
        raw = f.read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256:
        sys.exit(f"{a.src}: sha256 {digest} is not the documented {SHA256}")
    records = json.loads(raw.decode("utf-8"))
    seen = set()
    lines = []
    for i, r in enumerate(records):
        where = f"{a.src}: record {i}"
        for k in ("idx", "nl_tokens", "pl_tokens"):
            if k not in r:
                sys.exit(f"{where}: missing key '{k}'")
        if r["idx"] in seen:
            sys.exit(f"{where}: duplicate idx {r['idx']!r}")
        seen.add(r["idx"])
        tokens = r["nl_tokens"] + r["pl_tokens"]
        if not all(isinstance(t, str) for t in tokens):
            sys.exit(f"{where} ({r['idx']}): tokens must be strings")
        n_mask = tokens.count("<mask>")
        if n_mask != 1:
            sys.exit(f"{where} ({r['idx']}): {n_mask} '<mask>' tokens, expected exactly 1")
        text = " ".join(tokens)
        lines.append(json.dumps({"idx": r["idx"], "text": text}, ensure_ascii=False))
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {a.out}: {len(lines)} records")


if __name__ == "__main__":
    main()
