#!/usr/bin/env python3
"""Writes a tokenizer.json, as transformers' converters write them (convert_slow_tokenizer.py:
BertConverter, RobertaConverter), from legacy vocabulary files, into a directory that then holds
ONLY that tokenizer.json (tests/test_tokenizer_json.c reads it back).

  write_tokenizer_json.py bert    VOCAB_TXT             OUTDIR
  write_tokenizer_json.py roberta VOCAB_JSON MERGES_TXT OUTDIR [--mask-lstrip 0|1]

bert: bert-base-uncased's pipeline (BertNormalizer lowercase, BertPreTokenizer, WordPiece "##",
TemplateProcessing [CLS] $A [SEP] / [CLS] $A [SEP] $B:1 [SEP]:1). roberta: roberta-base's (ByteLevel
pre-tokenizer add_prefix_space false, BPE, RobertaProcessing trim_offsets)."""
import json
import os
import sys


def added(tid, content, lstrip=False):
    return {"id": tid, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": False,
            "normalized": False, "special": True}


def bert(vocab_txt, out):
    vocab = {}
    with open(vocab_txt, encoding="utf-8") as f:
        for i, line in enumerate(f):
            vocab[line.rstrip("\n").strip()] = i
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    def tok(name, type_id):
        return {"SpecialToken": {"id": name, "type_id": type_id}}
    def seq(name, type_id):
        return {"Sequence": {"id": name, "type_id": type_id}}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": sorted((added(vocab[s], s) for s in specials), key=lambda a: a["id"]),
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [tok("[CLS]", 0), seq("A", 0), tok("[SEP]", 0)],
            "pair": [tok("[CLS]", 0), seq("A", 0), tok("[SEP]", 0), seq("B", 1), tok("[SEP]", 1)],
            "special_tokens": {s: {"id": s, "ids": [vocab[s]], "tokens": [s]} for s in ("[CLS]", "[SEP]")}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}}


def roberta(vocab_json, merges_txt, out, mask_lstrip):
    with open(vocab_json, encoding="utf-8") as f:
        vocab = json.load(f)
    merges = []
    with open(merges_txt, encoding="utf-8") as f:
        for i, line in enumerate(f):
            line = line.rstrip("\n")
            if i == 0 and line.startswith("#version") or not line:
                continue
            merges.append(line)
    toks = [added(vocab["<s>"], "<s>"), added(vocab["<pad>"], "<pad>"), added(vocab["</s>"], "</s>"),
            added(vocab["<unk>"], "<unk>"), added(vocab["<mask>"], "<mask>", lstrip=mask_lstrip)]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": toks,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", vocab["</s>"]], "cls": ["<s>", vocab["<s>"]],
                           "trim_offsets": True, "add_prefix_space": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges}}


def main(argv):
    kind = argv[1]
    if kind == "bert":
        out = argv[3]
        tj = bert(argv[2], out)
    elif kind == "roberta":
        out = argv[4]
        lstrip = len(argv) > 6 and argv[5] == "--mask-lstrip" and argv[6] == "1"
        tj = roberta(argv[2], argv[3], out, lstrip)
    else:
        sys.exit("usage: write_tokenizer_json.py bert|roberta ...")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv)
