#!/usr/bin/python3
"""Writes the small seed inputs of the fuzz harnesses into tests/fuzz/seeds/<target>/.
Run from anywhere; reads ../shared only for config.json / vocab slices (small).
The seeds are committed; this script documents how they were made."""
import json, os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("ATTRUN_SHARED", os.path.join(HERE, "..", "..", "..", "shared"))
SEEDS = os.path.join(HERE, "seeds")


def put(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, meta=None, pad=True):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    hdr, off, blob = {}, 0, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dt, shape, raw in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blob += raw
    h = json.dumps(hdr, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


# safetensors
f32 = struct.pack("<6f", 1, -2, 0.5, 3, 0, -0.25)
f16 = struct.pack("<4H", 0x3C00, 0xC000, 0x0001, 0x7BFF)
bf16 = struct.pack("<4H", 0x3F80, 0xC000, 0x0001, 0x7F7F)
f64 = struct.pack("<2d", 1.5, -2.5)
put("safetensors", "f32.safetensors", safetensors([("a.weight", "F32", [2, 3], f32)], {"format": "pt"}))
put("safetensors", "mixed.safetensors", safetensors([("h", "F16", [4], f16), ("b", "BF16", [2, 2], bf16),
                                                     ("d", "F64", [2], f64), ("i", "I64", [1], struct.pack("<q", 7)),
                                                     ("e", "F32", [0], b"")]))
put("safetensors", "nan.safetensors", safetensors([("n", "F32", [1], struct.pack("<I", 0x7FC00000))]))
put("safetensors", "empty.safetensors", safetensors([]))
shard = safetensors([("x.weight", "F32", [2, 3], f32)])
put("safetensors", "sharded.bin", json.dumps(
    {"metadata": {"total_size": 24}, "weight_map": {"x.weight": "shard.safetensors"}}).encode() + b"\0" + shard)

# config.json: the reference models' own
for m in ("tiny-bert", "tiny-roberta", "tiny-distilbert", "tiny-gpt2", "tiny-llama", "tiny-qwen2"):
    p = os.path.join(SHARED, "reference", "models", m, "config.json")
    if os.path.exists(p):
        put("config_json", m + ".json", open(p, "rb").read())

# vocab: first byte selects the loader (even: WordPiece vocab.txt, odd: BPE vocab.json + merges.txt);
# the rest holds NUL-separated files: vocab[, merges], tokenizer_config.json
specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
words = ["the", "a", "movie", "good", "bad", "##s", "##ing", "un", "##believ", "##able", "!", ",", ".", "é", "中"]
wp_vocab = "\n".join(specials + words) + "\n"
put("vocab", "wordpiece.bin", b"\x00" + wp_vocab.encode() + b"\0" + json.dumps({"do_lower_case": True}).encode())
put("vocab", "wordpiece_cased.bin", b"\x02" + wp_vocab.encode() + b"\0" +
    json.dumps({"do_lower_case": False, "strip_accents": None, "tokenize_chinese_chars": True,
                "model_max_length": 16}).encode())
bpe_tokens = ["<s>", "<pad>", "</s>", "<unk>"] + list("abcdefghijklmnopqrstuvwxyz") + \
    ["\u0120", "\u0120t", "th", "\u0120the", "in", "ing", "\u0120a", "er", "<mask>"]
bpe_vocab = json.dumps({t: i for i, t in enumerate(bpe_tokens)}, ensure_ascii=False)
merges = "#version: 0.2\n\u0120 t\nt h\n\u0120t he\ni n\nin g\n\u0120 a\ne r\n"
put("vocab", "bpe.bin", b"\x01" + bpe_vocab.encode() + b"\0" + merges.encode() + b"\0" +
    json.dumps({"model_max_length": 512}).encode())

# tokenizer: first byte: bit 0 selects roberta, bits 1-7 a max_length; then text [NUL pair]
texts = ["hello world", "The movie was unbelievably good!", "Héllo, ÇA va? naïve café",
         "中文字符 and 日本語", "emoji 😀👍🏽 zero\u200bwidth", "[CLS] literal [SEP] [MASK] <s> </s>",
         "  spaces\tand\nnewlines  ", "x" * 130, ""]
for i, t in enumerate(texts):
    put("tokenizer", "t%d.bin" % i, bytes([2 * i + (i & 1)]) + t.encode())
put("tokenizer", "pair.bin", b"\x00first segment\0second segment")
put("tokenizer", "invalid_utf8.bin", b"\x01ok \xff\xfe \xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 end")

# corpus: first byte: low 2 bits = format (0 tsv, 1 csv, 2 jsonl, 3 text), bit 2 = skip errors,
# bit 3 = read a pair field, bit 4 = map string labels via label names; then the file.
put("corpus", "tsv.bin", b"\x00sentence\tlabel\nit is good\t1\nbad\t0\n")
put("corpus", "tsv_pair.bin", b"\x08sentence\tsentence2\tlabel\na\tb\t1\nc\td\t0\n")
put("corpus", "csv.bin", b"\x01text,label\n\"quoted, with comma\",1\n\"a \"\"quote\"\"\",0\nplain,1\n")
put("corpus", "csv_strlabel.bin", b"\x11text,label\nyes,positive\nno,negative\n")
put("corpus", "jsonl.bin", b'\x02{"text": "hello", "label": 1}\n{"text": "caf\\u00e9", "label": 0}\n\n')
put("corpus", "jsonl_skip.bin", b'\x06{"text": "ok", "label": 1}\n{"text": 3}\nnot json\n{"text": "fine"}\n')
put("corpus", "text.bin", b"\x03first line\nsecond line\r\nthird\n")

# yaml: the job config of `attrun run`
put("yaml_config", "minimal.yaml", "model: models/tiny-bert\ncorpus:\n  path: data/x.tsv\nout: out.h5\n")
put("yaml_config", "full.yaml", """model: /work/shared/reference/models/tiny-bert
corpus:
  path: data/sst2.tsv
  format: tsv
  text_field: sentence
  label_field: label
  max_length: 64
  limit: 10
  offset: 2
  on_error: skip
methods: [ig, gradshap, saliency, deeplift]
target: predicted
ig:
  steps: 20
  rule: gausslegendre
gradshap:
  samples: 8
  stdevs: 0.1
  seed: 42
out: results/x.h5
threads: 1
chunk: 4
""")
put("yaml_config", "anchors.yaml", "base: &b {steps: 5}\nmodel: m\ncorpus: {path: c}\nig: *b\nout: o.h5\n")

# tokenizer.json (fuzz_tokjson): small pipelines of every kind, then NUL, a config, NUL, a text.
WP = {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
      "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "hello": 3, "##s": 4, "world": 5, ",": 6}}
BPE = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
       "ignore_merges": False, "vocab": {"<unk>": 0, "<s>": 1, "\u2581": 2, "a": 3, "b": 4, "\u2581a": 5, "ab": 6,
                                          "<0x41>": 7, "<0xC3>": 8, "<0xA9>": 9},
       "merges": [["\u2581", "a"], ["a", "b"]]}
BL = {"type": "BPE", "vocab": {"h": 0, "i": 1, "hi": 2, "\u0120": 3, "\u0120hi": 4}, "merges": ["h i", "\u0120 hi"]}
TPL = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                 {"Sequence": {"id": "A", "type_id": 0}}],
       "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
       "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
ADDED = [{"id": 1, "content": "<s>", "special": True, "lstrip": True, "rstrip": False, "normalized": False,
          "single_word": False}]
seeds = [
    ({"normalizer": {"type": "BertNormalizer", "lowercase": True, "strip_accents": None},
      "pre_tokenizer": {"type": "BertPreTokenizer"}, "model": WP,
      "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]}}, "", "Hellos, World"),
    ({"normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                        {"type": "Replace", "pattern": {"String": " "},
                                                         "content": "\u2581"}]},
      "added_tokens": ADDED, "model": BPE, "post_processor": TPL},
     '{"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "add_bos_token": true}', "ab a\u00e9 <s>A"),
    ({"normalizer": {"type": "NFC"}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|\\s+(?!\\S)|\\s+"},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]},
      "model": BL, "post_processor": {"type": "ByteLevel", "trim_offsets": True}}, "", "hi hi's 12"),
    ({"pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True},
      "model": BPE}, "", "a b"),
    ({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                              {"type": "Punctuation"}, {"type": "Whitespace"},
                                                              {"type": "WhitespaceSplit"}]},
      "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKD"}, {"type": "StripAccents"},
                                                         {"type": "Lowercase"}, {"type": "Strip"}]},
      "model": WP}, "", " 12,ab! "),
    ({"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}, "model": BL,
      "post_processor": {"type": "RobertaProcessing", "sep": ["hi", 2], "cls": ["h", 0], "trim_offsets": True}},
     "", "hi  hi"),
    ({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}, "", "a"),
]
for i, (tj, cfg, text) in enumerate(seeds):
    tj = dict({"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
               "pre_tokenizer": None, "post_processor": None, "decoder": None}, **tj)
    put("tokjson", "p%d.bin" % i, json.dumps(tj).encode() + b"\0" + cfg.encode() + b"\0" + text.encode())
