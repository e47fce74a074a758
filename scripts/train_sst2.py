#!/usr/bin/python3
"""Train attrun's bundled SST-2 sentiment model (models/sst2-tiny/) from scratch.

No pretrained BERT can be downloaded where attrun is built, and the `transformers`
package is not installed, so this script carries everything it needs:

  * a faithful port of BERT's BasicTokenizer + WordPiece (bert-base-uncased vocab),
  * BertForSequenceClassification written in plain torch with the same math as
    Hugging Face (post-LN, exact erf GELU, additive mask with finfo.min, tanh pooler
    on [CLS], linear classifier) and the same state-dict key names, so the saved
    checkpoint loads in `transformers` and in attrun alike,
  * a safetensors writer and reader (the format is small enough to write by hand).

Run (the README of models/sst2-tiny records the exact commands and their numbers):

  /usr/bin/python3 scripts/train_sst2.py --out models/sst2-tiny --threads 2

Model selection never looks at dev: --holdout FRAC holds out a fraction of the train sentences
(each with every phrase of its parse tree, see heldout_split), the held-out accuracy is printed
after every epoch, and --keep best-heldout saves the epoch with the best held-out accuracy. Dev
labels are read only by --eval-only.

Reproducibility: python/numpy/torch are seeded from --seed, torch runs with
use_deterministic_algorithms(True), batches are drawn from a seeded numpy
Generator. CPU float reductions may still differ with another --threads value or
another torch/BLAS build, so the same command on the same software gives the same
weights.

Checks you can run without training:
  --check-tokenizer FILE   compare the tokenizer with HF ids (shared/reference/tokenization/hf_bert_base_uncased.json)
  --eval-only DIR          reload DIR/model.safetensors with our reader and print dev accuracy
"""

import argparse
import json
import math
import os
import random
import struct
import sys
import time
import unicodedata

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------------------
# Tokenizer: a port of transformers' BertTokenizer (BasicTokenizer + WordpieceTokenizer)
# --------------------------------------------------------------------------------------

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _is_whitespace(ch):
    # \t \n \r count as whitespace although Unicode calls them control characters
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_punctuation(ch):
    cp = ord(ch)
    # all non-letter/number ASCII counts as punctuation (e.g. ^ $ ` are not Unicode P*)
    if (33 <= cp <= 47) or (58 <= cp <= 64) or (91 <= cp <= 96) or (123 <= cp <= 126):
        return True
    return unicodedata.category(ch).startswith("P")


def _is_chinese_char(cp):
    # the CJK Unified Ideographs blocks BERT splits into single characters
    return ((0x4E00 <= cp <= 0x9FFF) or (0x3400 <= cp <= 0x4DBF) or (0x20000 <= cp <= 0x2A6DF)
            or (0x2A700 <= cp <= 0x2B73F) or (0x2B740 <= cp <= 0x2B81F) or (0x2B820 <= cp <= 0x2CEAF)
            or (0xF900 <= cp <= 0xFAFF) or (0x2F800 <= cp <= 0x2FA1F))


class BertTokenizer:
    """bert-base-uncased tokenization: do_lower_case, strip accents, punctuation split, WordPiece."""

    def __init__(self, vocab_path, do_lower_case=True, max_input_chars_per_word=100):
        self.vocab = {}
        with open(vocab_path, encoding="utf-8") as f:
            for i, line in enumerate(f):
                tok = line.rstrip("\n")
                if tok in self.vocab:
                    raise ValueError(f"{vocab_path}:{i + 1}: duplicate token {tok!r}")
                self.vocab[tok] = i
        for t in SPECIAL_TOKENS:
            if t not in self.vocab:
                raise ValueError(f"{vocab_path}: special token {t} missing")
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        self.do_lower_case = do_lower_case
        self.max_chars = max_input_chars_per_word
        self.pad_id = self.vocab["[PAD]"]
        self.unk_id = self.vocab["[UNK]"]
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]

    # ---- BasicTokenizer ----
    def _clean_text(self, text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            out.append(" " if _is_whitespace(ch) else ch)
        return "".join(out)

    def _tokenize_chinese_chars(self, text):
        out = []
        for ch in text:
            if _is_chinese_char(ord(ch)):
                out.extend((" ", ch, " "))
            else:
                out.append(ch)
        return "".join(out)

    def _strip_accents(self, text):
        text = unicodedata.normalize("NFD", text)
        return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")

    def _split_on_punc(self, text):
        words, start_new = [], True
        for ch in text:
            if _is_punctuation(ch):
                words.append([ch])
                start_new = True
            else:
                if start_new:
                    words.append([])
                start_new = False
                words[-1].append(ch)
        return ["".join(w) for w in words]

    def basic_tokenize(self, text):
        text = self._clean_text(text)
        text = self._tokenize_chinese_chars(text)
        # NFC first so that the same text in another normal form splits the same way
        text = unicodedata.normalize("NFC", text)
        split = []
        for tok in text.split():
            if tok in SPECIAL_TOKENS:  # never_split
                split.append(tok)
                continue
            if self.do_lower_case:
                tok = self._strip_accents(tok.lower())
            split.extend(self._split_on_punc(tok))
        return " ".join(split).split()

    # ---- WordpieceTokenizer ----
    def wordpiece(self, token):
        if len(token) > self.max_chars:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(token):
            end, cur = len(token), None
            while start < end:
                sub = token[start:end]
                if start > 0:
                    sub = "##" + sub
                if sub in self.vocab:
                    cur = sub
                    break
                end -= 1
            if cur is None:
                return ["[UNK]"]
            pieces.append(cur)
            start = end
        return pieces

    def tokenize(self, text):
        # special tokens written in the text are kept whole (HF splits on added tokens first;
        # it also strips the whitespace around them, which the whitespace split does here)
        out = []
        for chunk in _split_special(text):
            if chunk in SPECIAL_TOKENS:
                out.append(chunk)
                continue
            for tok in self.basic_tokenize(chunk):
                if tok in SPECIAL_TOKENS:
                    out.append(tok)
                else:
                    out.extend(self.wordpiece(tok))
        return out

    def encode(self, text, max_length):
        """[CLS] tokens [SEP], truncated to max_length ids (HF truncation=True, longest_first)."""
        ids = [self.vocab.get(t, self.unk_id) for t in self.tokenize(text)]
        ids = ids[: max_length - 2]
        return [self.cls_id] + ids + [self.sep_id]


def _split_special(text):
    """Split text into pieces so that each literal special token is its own piece."""
    pieces, i, start = [], 0, 0
    while i < len(text):
        hit = None
        if text[i] == "[":
            for t in SPECIAL_TOKENS:
                if text.startswith(t, i):
                    hit = t
                    break
        if hit:
            if start < i:
                pieces.append(text[start:i])
            pieces.append(hit)
            i += len(hit)
            start = i
        else:
            i += 1
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def check_tokenizer(tok, path):
    with open(path, encoding="utf-8") as f:
        ref = json.load(f)
    bad = 0
    for it in ref["items"]:
        got = tok.encode(it["text"], 512)
        if got != it["slow"]:
            bad += 1
            if bad <= 10:
                print(f"MISMATCH {it['text']!r}\n  hf : {it['slow']}\n  ours: {got}")
    print(f"tokenizer check: {len(ref['items']) - bad}/{len(ref['items'])} texts equal to HF BertTokenizer")
    return bad == 0


# --------------------------------------------------------------------------------------
# Model: HF BertForSequenceClassification, same module tree => same state-dict keys
# --------------------------------------------------------------------------------------

class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=c["pad_token_id"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, input_ids, token_type_ids):
        # input_ids (B,T) -> (B,T,C)
        T = input_ids.shape[1]
        pos = torch.arange(T, device=input_ids.device).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids) + self.position_embeddings(pos)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.nh = c["num_attention_heads"]
        self.hs = c["hidden_size"] // self.nh
        self.query = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.key = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.value = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.dropout = nn.Dropout(c["attention_probs_dropout_prob"])

    def forward(self, x, add_mask):
        # x (B,T,C), add_mask (B,1,1,T) -> (B,T,C)
        B, T, C = x.shape
        q = self.query(x).view(B, T, self.nh, self.hs).transpose(1, 2)  # (B,NH,T,hs)
        k = self.key(x).view(B, T, self.nh, self.hs).transpose(1, 2)
        v = self.value(x).view(B, T, self.nh, self.hs).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.hs) + add_mask  # (B,NH,T,T)
        probs = self.dropout(F.softmax(scores, dim=-1))
        return (probs @ v).transpose(1, 2).reshape(B, T, C)


class BertSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, h, inp):
        return self.LayerNorm(self.dropout(self.dense(h)) + inp)  # post-LN residual


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(self, x, add_mask):
        return self.output(self.self(x, add_mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))  # exact erf GELU, HF "gelu"


class BertOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["intermediate_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, h, inp):
        return self.LayerNorm(self.dropout(self.dense(h)) + inp)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(self, x, add_mask):
        a = self.attention(x, add_mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, add_mask):
        for l in self.layer:
            x = l(x, add_mask)
        return x


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))  # [CLS] token


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c)

    def forward(self, input_ids, attention_mask, token_type_ids):
        x = self.embeddings(input_ids, token_type_ids)
        # HF's extended mask: 0 where attended, finfo(dtype).min where masked
        add_mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        return self.pooler(self.encoder(x, add_mask))


class BertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = BertModel(c)
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])
        self.classifier = nn.Linear(c["hidden_size"], c["num_labels"])
        self.apply(lambda m: _init_weights(m, c["initializer_range"]))

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        return self.classifier(self.dropout(self.bert(input_ids, attention_mask, token_type_ids)))


def _init_weights(m, std):
    # HF BertPreTrainedModel._init_weights
    if isinstance(m, nn.Linear):
        m.weight.data.normal_(0.0, std)
        m.bias.data.zero_()
    elif isinstance(m, nn.Embedding):
        m.weight.data.normal_(0.0, std)
        if m.padding_idx is not None:
            m.weight.data[m.padding_idx].zero_()
    elif isinstance(m, nn.LayerNorm):
        m.weight.data.fill_(1.0)
        m.bias.data.zero_()


def make_config(a, vocab_size, pad_id):
    return {
        "architectures": ["BertForSequenceClassification"],
        "attention_probs_dropout_prob": a.dropout,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": a.dropout,
        "hidden_size": a.hidden,
        "id2label": {"0": "negative", "1": "positive"},
        "initializer_range": 0.02,
        "intermediate_size": a.intermediate,
        "label2id": {"negative": 0, "positive": 1},
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": a.max_length,
        "model_type": "bert",
        "num_attention_heads": a.heads,
        "num_hidden_layers": a.layers,
        "pad_token_id": pad_id,
        "position_embedding_type": "absolute",
        "problem_type": "single_label_classification",
        "torch_dtype": "float16",
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": vocab_size,
    }


def model_config(c):
    """config.json dict -> the keys the torch modules read."""
    c = dict(c)
    c["num_labels"] = len(c["id2label"])
    return c


# --------------------------------------------------------------------------------------
# safetensors: 8-byte LE header length, JSON header, raw little-endian data
# --------------------------------------------------------------------------------------

_ST_DTYPES = {"F16": np.float16, "F32": np.float32, "BF16": None}


def save_safetensors(path, tensors, dtype="F16"):
    npdt = {"F16": np.dtype("<f2"), "F32": np.dtype("<f4")}[dtype]
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k].detach().cpu().float().numpy().astype(npdt))
        b = a.tobytes()
        header[k] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)  # pad with spaces so the data starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_safetensors(path):
    """Our own reader: returns {name: float32 torch tensor}; checks offsets are contiguous."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    n = struct.unpack("<Q", raw[:8])[0]
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} past end of file")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    out, expect = {}, 0
    items = sorted(((k, v) for k, v in header.items() if k != "__metadata__"), key=lambda kv: kv[1]["data_offsets"][0])
    for k, v in items:
        s, e = v["data_offsets"]
        if s != expect:
            raise ValueError(f"{path}: tensor {k} starts at {s}, expected {expect}")
        if v["dtype"] == "BF16":
            u = np.frombuffer(data[s:e], dtype="<u2").astype(np.uint32) << 16
            a = u.view(np.float32)
        else:
            a = np.frombuffer(data[s:e], dtype=np.dtype(_ST_DTYPES[v["dtype"]]).newbyteorder("<")).astype(np.float32)
        if a.size != int(np.prod(v["shape"])):
            raise ValueError(f"{path}: tensor {k} has {a.size} values for shape {v['shape']}")
        out[k] = torch.from_numpy(a.reshape(v["shape"]).copy())
        expect = e
    if expect != len(data):
        raise ValueError(f"{path}: {len(data) - expect} trailing bytes after the last tensor")
    return out


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------

def read_tsv(path):
    sents, labels = [], []
    with open(path, encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("\t")
        if head != ["sentence", "label"]:
            raise ValueError(f"{path}:1: header {head}, expected sentence<TAB>label")
        for ln, line in enumerate(f, start=2):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 2 or parts[1] not in ("0", "1"):
                raise ValueError(f"{path}:{ln}: expected 'sentence<TAB>0|1'")
            sents.append(parts[0])
            labels.append(int(parts[1]))
    return sents, labels


def encode_all(tok, sents, max_length):
    return [tok.encode(s, max_length) for s in sents]


def collate(ids_list, pad_id):
    # list of id lists -> input_ids (B,T), attention_mask (B,T), padded to the longest
    T = max(len(x) for x in ids_list)
    ids = torch.full((len(ids_list), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids_list), T), dtype=torch.long)
    for i, x in enumerate(ids_list):
        ids[i, :len(x)] = torch.tensor(x)
        mask[i, :len(x)] = 1
    return ids, mask


def batches(n, lengths, batch_size, rng):
    """Shuffle, then sort within pools of 50 batches by length (less padding), shuffle the batches."""
    order = rng.permutation(n)
    pool = batch_size * 50
    out = []
    for s in range(0, n, pool):
        chunk = order[s:s + pool]
        chunk = chunk[np.argsort([lengths[i] for i in chunk], kind="stable")]
        out.extend(chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size))
    return [out[i] for i in rng.permutation(len(out))]


def heldout_split(sents, frac, seed):
    """Hold out whole SST-2 sentences together with every train phrase taken from them.

    SST-2's train split holds the ~6,900 training sentences AND the phrases of their parse trees
    (67,349 rows), so a random row split leaks: most held-out phrases have a super- or sub-span in the
    training part. Here the held-out units are the *root* rows (rows that are not a contiguous
    sub-span, on PTB tokens, of any other row: the full sentences); a random `frac` of the roots is held
    out, and every row that is a sub-span of a held-out root is dropped from the training part. The held-out
    set is then full sentences, as dev is, and shares no phrase tree with what is trained on.
    Returns (train_indices, heldout_indices, dropped_count); deterministic in (sents, frac, seed)."""
    toks = [s.split() for s in sents]
    rows = set(" ".join(t) for t in toks)
    inner = set()  # rows that occur as a proper contiguous sub-span of another row
    for t in toks:
        n = len(t)
        for i in range(n):
            for j in range(i + 1, n + 1):
                if j - i < n:
                    sub = " ".join(t[i:j])
                    if sub in rows:
                        inner.add(sub)
    roots = [k for k, t in enumerate(toks) if " ".join(t) not in inner]
    rng = np.random.default_rng(seed)
    held = sorted(rng.choice(roots, size=max(1, int(round(frac * len(roots)))), replace=False).tolist())
    held_spans = set()
    for k in held:
        t = toks[k]
        for i in range(len(t)):
            for j in range(i + 1, len(t) + 1):
                held_spans.add(" ".join(t[i:j]))
    held_set = set(held)
    train = [k for k, t in enumerate(toks) if k not in held_set and " ".join(t) not in held_spans]
    dropped = len(sents) - len(train) - len(held)
    return train, held, dropped


@torch.no_grad()
def predict(model, enc, pad_id, batch_size=256):
    model.eval()
    logits = []
    for s in range(0, len(enc), batch_size):
        ids, mask = collate(enc[s:s + batch_size], pad_id)
        logits.append(model(ids, mask))
    return torch.cat(logits)


def accuracy(logits, labels):
    return float((logits.argmax(-1) == torch.tensor(labels)).float().mean())


# --------------------------------------------------------------------------------------
# Saving the HF checkpoint directory
# --------------------------------------------------------------------------------------

def save_checkpoint(out, model, config, vocab_path):
    os.makedirs(out, exist_ok=True)
    save_safetensors(os.path.join(out, "model.safetensors"), model.state_dict(), "F16")
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(vocab_path, "rb") as src, open(os.path.join(out, "vocab.txt"), "wb") as dst:
        dst.write(src.read())
    special = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
               "cls_token": "[CLS]", "mask_token": "[MASK]"}
    with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
        f.write("\n")
    tokcfg = {"do_lower_case": True, "do_basic_tokenize": True, "tokenize_chinese_chars": True,
              "strip_accents": None, "model_max_length": config["max_position_embeddings"],
              "tokenizer_class": "BertTokenizer", **special}
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(tokcfg, f, indent=2)
        f.write("\n")


def load_checkpoint(d):
    with open(os.path.join(d, "config.json")) as f:
        config = json.load(f)
    model = BertForSequenceClassification(model_config(config))
    sd = load_safetensors(os.path.join(d, "model.safetensors"))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError(f"{d}/model.safetensors: missing {missing}, unexpected {unexpected}")
    return model, config


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    shared = os.environ.get("ATTRUN_SHARED", os.path.join(here, "..", "..", "shared"))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", default=os.path.join(shared, "data/sst2/train.tsv"))
    p.add_argument("--dev", default=os.path.join(shared, "data/sst2/dev.tsv"))
    p.add_argument("--vocab", default=os.path.join(shared, "data/vocab/bert-base-uncased-vocab.txt"))
    p.add_argument("--out", default=os.path.join(here, "..", "models", "sst2-tiny"))
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=float, default=0.06, help="fraction of steps with linear warm-up")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--intermediate", type=int, default=512)
    p.add_argument("--max-length", type=int, default=64, help="also max_position_embeddings")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (timing runs)")
    p.add_argument("--holdout", type=float, default=0.0,
                   help="hold out this fraction of the train sentences (with their phrases, see heldout_split) "
                        "to choose hyper-parameters and the epoch on; 0 = train on all of train")
    p.add_argument("--holdout-seed", type=int, default=20201, help="seed of the held-out sentence draw")
    p.add_argument("--keep", choices=("last", "best-heldout"), default="last",
                   help="which epoch's weights to save: the last, or the epoch with the best held-out accuracy "
                        "(needs --holdout)")
    p.add_argument("--check-tokenizer", metavar="FILE")
    p.add_argument("--eval-only", metavar="DIR")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    tok = BertTokenizer(a.vocab)

    if a.check_tokenizer:
        sys.exit(0 if check_tokenizer(tok, a.check_tokenizer) else 1)

    if a.keep == "best-heldout" and a.holdout <= 0:
        p.error("--keep best-heldout needs --holdout > 0")
    dev_s, dev_y = read_tsv(a.dev)
    if a.eval_only:
        model, config = load_checkpoint(a.eval_only)
        enc = encode_all(tok, dev_s, config["max_position_embeddings"])
        lg = predict(model, enc, tok.pad_id)
        print(f"dev accuracy ({a.eval_only}/model.safetensors, our reader): {accuracy(lg, dev_y):.4f} ({len(dev_y)} sentences)")
        return

    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(a.seed)

    t0 = time.time()
    tr_s, tr_y = read_tsv(a.train)
    ho_s, ho_y = [], []
    if a.holdout > 0:
        keep_i, ho_i, dropped = heldout_split(tr_s, a.holdout, a.holdout_seed)
        ho_s, ho_y = [tr_s[k] for k in ho_i], [tr_y[k] for k in ho_i]
        tr_s, tr_y = [tr_s[k] for k in keep_i], [tr_y[k] for k in keep_i]
        print(f"held-out: {len(ho_s)} train sentences (seed {a.holdout_seed}); {dropped} phrases of them dropped "
              f"from training; {len(tr_s)} rows left to train on", flush=True)
    tr_enc = encode_all(tok, tr_s, a.max_length)
    ho_enc = encode_all(tok, ho_s, a.max_length)
    # dev is only encoded, for the label-free F16-vs-F32 logit check when there is no held-out set;
    # dev labels are never read during training (no selection on dev)
    dev_enc = encode_all(tok, dev_s, a.max_length)
    tr_len = [len(x) for x in tr_enc]
    print(f"data: {len(tr_enc)} train, {len(ho_enc)} held-out; tokens per train row mean {np.mean(tr_len):.1f} "
          f"max {max(tr_len)}; truncated train {sum(len(tok.tokenize(s)) + 2 > a.max_length for s in tr_s)}; "
          f"tokenized in {time.time() - t0:.1f}s", flush=True)

    config = make_config(a, len(tok.vocab), tok.pad_id)
    model = BertForSequenceClassification(model_config(config))
    nparams = sum(p.numel() for p in model.parameters())
    print(f"model: {nparams} parameters; config {json.dumps({k: config[k] for k in ('hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings')})}", flush=True)

    # AdamW as HF's Trainer sets it up: no weight decay on biases and LayerNorm weights
    decay = [p for n, p in model.named_parameters() if not (n.endswith(".bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith(".bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    steps_per_epoch = math.ceil(len(tr_enc) / a.batch_size)
    total = steps_per_epoch * a.epochs
    if a.max_steps:
        total = min(total, a.max_steps)
    warm = max(1, int(a.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=a.label_smoothing)
    tr_y_t = torch.tensor(tr_y)

    step, t_train = 0, time.time()
    heldout_acc, best = [], None  # best = (accuracy, epoch, state_dict copy)
    for ep in range(a.epochs):
        model.train()
        run_loss, run_n = 0.0, 0
        for b in batches(len(tr_enc), tr_len, a.batch_size, rng):
            ids, mask = collate([tr_enc[i] for i in b], tok.pad_id)
            loss = loss_fn(model(ids, mask), tr_y_t[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            run_loss += float(loss) * len(b)
            run_n += len(b)
            if step % 200 == 0:
                print(f"epoch {ep + 1} step {step}/{total} loss {run_loss / run_n:.4f} lr {sched.get_last_lr()[0]:.2e} "
                      f"{time.time() - t_train:.0f}s", flush=True)
            if step >= total:
                break
        msg = ""
        if ho_enc:
            acc = accuracy(predict(model, ho_enc, tok.pad_id), ho_y)
            heldout_acc.append(round(acc, 4))
            if best is None or acc > best[0]:  # ties keep the earlier epoch
                best = (acc, ep + 1, {k: v.detach().clone() for k, v in model.state_dict().items()})
            msg = f", held-out accuracy {acc:.4f}"
        print(f"epoch {ep + 1} done: train loss {run_loss / max(1, run_n):.4f}{msg}, "
              f"{time.time() - t_train:.0f}s", flush=True)
        if step >= total:
            break
    train_time = time.time() - t_train

    kept_epoch = ep + 1
    if a.keep == "best-heldout":
        model.load_state_dict(best[2])
        kept_epoch = best[1]
        print(f"keeping epoch {kept_epoch} (best held-out accuracy {best[0]:.4f})", flush=True)

    # ---- save, reload the F16 file with our reader, compare with the F32 model ----
    # (on the held-out sentences, or without labels on the dev sentences when there are none)
    chk_enc, chk_y = (ho_enc, ho_y) if ho_enc else (dev_enc, None)
    lg32 = predict(model, chk_enc, tok.pad_id)
    save_checkpoint(a.out, model, config, a.vocab)
    model16, _ = load_checkpoint(a.out)
    lg16 = predict(model16, chk_enc, tok.pad_id)
    diff = float((lg16 - lg32).abs().max())
    rel = diff / float(lg32.abs().max())
    agree = float((lg16.argmax(-1) == lg32.argmax(-1)).float().mean())
    summary = {
        "parameters": nparams,
        "train_seconds": round(train_time, 1),
        "threads": a.threads,
        "steps": step,
        "train_rows": len(tr_enc),
        "heldout_sentences": len(ho_enc),
        "heldout_accuracy_per_epoch": heldout_acc,
        "kept_epoch": kept_epoch,
        "heldout_accuracy_f32": round(accuracy(lg32, chk_y), 4) if chk_y else None,
        "heldout_accuracy_f16_file": round(accuracy(lg16, chk_y), 4) if chk_y else None,
        "f16_check_on": "held-out" if chk_y else "dev sentences, labels not read",
        "logits_max_abs_diff_f16_vs_f32": diff,
        "logits_max_rel_diff_f16_vs_f32": rel,
        "prediction_agreement_f16_vs_f32": agree,
        "model_safetensors_bytes": os.path.getsize(os.path.join(a.out, "model.safetensors")),
        "args": vars(a),
        "torch": torch.__version__,
    }
    print("summary " + json.dumps(summary, indent=1), flush=True)


if __name__ == "__main__":
    main()
