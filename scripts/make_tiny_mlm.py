#!/usr/bin/python3
"""Tiny random masked-LM checkpoints for attrun, and an independent float64 reference for them.

Writes (run from the repository root with /usr/bin/python3; torch 1.13 + numpy, no transformers):
  models/tiny-codebert-mlm/   RobertaForMaskedLM (CodeBERT-MLM's architecture), roberta-base BPE vocab
  models/tiny-bert-mlm/       BertForMaskedLM, bert-base-uncased WordPiece vocab
  tests/data/mlm_roberta.json, tests/data/mlm_bert.json   reference outputs (tests/test_mlm_ref.c)

The weights are RANDOM (seeded): the models exist to test the pipeline and to run examples, they know
nothing about language or code. Storage is F16 to keep each directory under 8 MB; the reference upcasts the
stored F16 values exactly, so it describes the shipped files, not the float32 draws.

The reference is written from Hugging Face's modeling code (modeling_roberta.py / modeling_bert.py), not from
attrun: state-dict names are HF's, the decoder is tied to the word embeddings, RoBERTa position ids are
padding_idx + 1 + cumsum of non-pad tokens, GELU is the exact erf form, LayerNorm eps comes from config.json.
Token ids come from a small byte-level BPE / WordPiece written here (checked against the HF tokenizer outputs in
../shared/reference/tokenization when that directory exists). For each text the reference holds:
the MLM logits at the first mask (top 10, a sample of every 997th id, logsumexp), the argmax token (target),
F = that logit, dF/d(word-embedding output), and Captum's LayerIntegratedGradients at the word-embedding layer
(Gauss-Legendre 50 nodes: alphas 0.5(x+1), weights 0.5w rounded to float32 as Captum applies them) for the
`pad` baseline (every token but <s> </s> <pad> <mask> / [CLS] [SEP] [PAD] [MASK] replaced by the pad token;
F(baseline) evaluated on the baseline ids, so RoBERTa's baseline run has other position ids) and the `mask`
baseline. Numbers are rounded to 9 significant digits.
"""
import argparse
import json
import math
import os
import re
import shutil
import struct
import sys
import unicodedata

import numpy as np
import torch

VOCAB_DIR = "/work/shared/data/vocab"
TOK_REF_DIR = "/work/shared/reference/tokenization"

# ---------------------------------------------------------------- model shapes

ROBERTA_CONFIG = {
    "architectures": ["RobertaForMaskedLM"],
    "attention_probs_dropout_prob": 0.1,
    "bos_token_id": 0,
    "classifier_dropout": None,
    "eos_token_id": 2,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 128,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 514,
    "model_type": "roberta",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "pad_token_id": 1,
    "position_embedding_type": "absolute",
    "tie_word_embeddings": True,
    "torch_dtype": "float16",
    "type_vocab_size": 1,
    "use_cache": True,
    "vocab_size": 50265,
    "attrun_note": "random weights (scripts/make_tiny_mlm.py); for pipeline tests and examples only",
}

BERT_CONFIG = {
    "architectures": ["BertForMaskedLM"],
    "attention_probs_dropout_prob": 0.1,
    "classifier_dropout": None,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 128,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "model_type": "bert",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "tie_word_embeddings": True,
    "torch_dtype": "float16",
    "type_vocab_size": 2,
    "use_cache": True,
    "vocab_size": 30522,
    "attrun_note": "random weights (scripts/make_tiny_mlm.py); for pipeline tests and examples only",
}

# Texts explained by the reference (ASCII only: the BPE pre-tokenizer below is exact for ASCII).
ROBERTA_TEXTS = [
    "The capital of France is <mask>.",
    "<mask> is a programming language used for Android apps.",
    "Returns the larger value . public static int pick ( int a , int b ) { return Math . <mask> ( a , b ) ; }",
    "final int <mask> = find . length ; for ( int a = 0 ; a < <mask> ; a ++ ) { }",
]
BERT_TEXTS = [
    "The capital of France is [MASK].",
    "[MASK] is a programming language used for Android apps.",
    "hello , my dog is [MASK] and [MASK] , isn't he ?",
]


# ---------------------------------------------------------------- weights


def init_weights(cfg, seed, bert):
    """HF state dict (float32 draws) of a *ForMaskedLM with weights spread wide enough that logits vary by
    several units across the vocabulary and attributions are far from zero (HF's own init, std 0.02, would make
    every attention uniform and every logit ~0)."""
    g = torch.Generator().manual_seed(seed)
    D, FF, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]

    def n(*shape, std):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * std

    def ln_g(d):
        return 1.0 + n(d, std=0.2)

    base = "bert." if bert else "roberta."
    sd = {}
    word = n(V, D, std=0.6)
    word[cfg["pad_token_id"]] = 0.0  # nn.Embedding(padding_idx=pad_token_id): HF starts the pad row at zero
    sd[base + "embeddings.word_embeddings.weight"] = word
    sd[base + "embeddings.position_embeddings.weight"] = n(cfg["max_position_embeddings"], D, std=0.4)
    sd[base + "embeddings.token_type_embeddings.weight"] = n(cfg["type_vocab_size"], D, std=0.3)
    sd[base + "embeddings.LayerNorm.weight"] = ln_g(D)
    sd[base + "embeddings.LayerNorm.bias"] = n(D, std=0.1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"{base}encoder.layer.{l}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value"):
            sd[p + name + ".weight"] = n(D, D, std=1.5 / math.sqrt(D))
            sd[p + name + ".bias"] = n(D, std=0.1)
        sd[p + "attention.output.dense.weight"] = n(D, D, std=1.0 / math.sqrt(D))
        sd[p + "attention.output.dense.bias"] = n(D, std=0.1)
        sd[p + "attention.output.LayerNorm.weight"] = ln_g(D)
        sd[p + "attention.output.LayerNorm.bias"] = n(D, std=0.1)
        sd[p + "intermediate.dense.weight"] = n(FF, D, std=1.5 / math.sqrt(D))
        sd[p + "intermediate.dense.bias"] = n(FF, std=0.2)
        sd[p + "output.dense.weight"] = n(D, FF, std=1.0 / math.sqrt(FF))
        sd[p + "output.dense.bias"] = n(D, std=0.1)
        sd[p + "output.LayerNorm.weight"] = ln_g(D)
        sd[p + "output.LayerNorm.bias"] = n(D, std=0.1)
    if bert:  # BertOnlyMLMHead: cls.predictions.{transform.dense, transform.LayerNorm, bias}; decoder tied
        sd["cls.predictions.transform.dense.weight"] = n(D, D, std=1.5 / math.sqrt(D))
        sd["cls.predictions.transform.dense.bias"] = n(D, std=0.1)
        sd["cls.predictions.transform.LayerNorm.weight"] = ln_g(D)
        sd["cls.predictions.transform.LayerNorm.bias"] = n(D, std=0.1)
        sd["cls.predictions.bias"] = n(V, std=0.5)
    else:  # RobertaLMHead: lm_head.{dense, layer_norm, bias}; decoder tied to the word embeddings
        sd["lm_head.dense.weight"] = n(D, D, std=1.5 / math.sqrt(D))
        sd["lm_head.dense.bias"] = n(D, std=0.1)
        sd["lm_head.layer_norm.weight"] = ln_g(D)
        sd["lm_head.layer_norm.bias"] = n(D, std=0.1)
        sd["lm_head.bias"] = n(V, std=0.5)
    return {k: v.to(torch.float16) for k, v in sd.items()}


# ---------------------------------------------------------------- safetensors (F16)


def write_safetensors(path, sd):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for k in sorted(sd):
        a = sd[k].contiguous().numpy().astype("<f2")
        b = a.tobytes()
        header[k] = {"dtype": "F16", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors_f64(path):
    """The stored tensors, upcast exactly to float64 (what the reference computes with)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F16", k
        s, e = v["data_offsets"]
        a = np.frombuffer(data[s:e], dtype="<f2").reshape(v["shape"])
        out[k] = torch.from_numpy(a.astype(np.float64))
    return out


# ---------------------------------------------------------------- tokenizers (independent of io/)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class ByteBPE:
    """GPT-2/RoBERTa byte-level BPE. The pre-tokenizer is GPT-2's pattern with \\p{L} -> [A-Za-z] and
    \\p{N} -> [0-9], which is exact for ASCII text (encode() refuses anything else)."""
    PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")
    SPECIALS = ["<s>", "</s>", "<pad>", "<unk>", "<mask>"]

    def __init__(self, vocab_json, merges_txt, mask_lstrip):
        with open(vocab_json, encoding="utf-8") as f:
            self.vocab = json.load(f)
        self.inv = {v: k for k, v in self.vocab.items()}
        with open(merges_txt, encoding="utf-8") as f:
            lines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#version")]
        self.ranks = {tuple(l.split(" ")): i for i, l in enumerate(lines)}
        self.b2u = bytes_to_unicode()
        self.mask_lstrip = mask_lstrip

    def bpe(self, word):
        parts = list(word)
        while len(parts) > 1:
            pairs = [(self.ranks.get((parts[i], parts[i + 1]), 1 << 30), i) for i in range(len(parts) - 1)]
            r, i = min(pairs)
            if r == 1 << 30:
                break
            a, b = parts[i], parts[i + 1]
            merged, j = [], 0
            while j < len(parts):
                if j < len(parts) - 1 and parts[j] == a and parts[j + 1] == b:
                    merged.append(a + b)
                    j += 2
                else:
                    merged.append(parts[j])
                    j += 1
            parts = merged
        return parts

    def encode_plain(self, text):
        toks = []
        for piece in self.PAT.findall(text):
            word = "".join(self.b2u[b] for b in piece.encode("utf-8"))
            toks += self.bpe(word)
        return toks

    def encode(self, text):
        """<s> text </s>: (tokens, ids, special flags)."""
        assert text.isascii(), "reference texts must be ASCII"
        pat = "|".join(re.escape(s) for s in sorted(self.SPECIALS, key=len, reverse=True))
        toks, special, pos = ["<s>"], [1], 0
        for m in re.finditer(pat, text):
            seg = text[pos:m.start()]
            if m.group() == "<mask>" and self.mask_lstrip:
                seg = seg.rstrip()  # lstrip: the mask token swallows the whitespace on its left
            t = self.encode_plain(seg)
            toks += t
            special += [0] * len(t)
            toks.append(m.group())
            special.append(1)
            pos = m.end()
        t = self.encode_plain(text[pos:])
        toks += t
        special += [0] * len(t)
        toks.append("</s>")
        special.append(1)
        return toks, [self.vocab[t] for t in toks], special


class WordPiece:
    """BertTokenizer (uncased) for ASCII text: specials matched on the raw text, then lower-case, split on
    whitespace and punctuation, greedy longest-match-first word pieces with '##' continuations."""
    SPECIALS = ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"]

    def __init__(self, vocab_txt):
        with open(vocab_txt, encoding="utf-8") as f:
            self.vocab = {l.rstrip("\n"): i for i, l in enumerate(f)}
        self.inv = {i: t for t, i in self.vocab.items()}

    @staticmethod
    def is_punct(c):
        o = ord(c)
        return 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126 or \
            unicodedata.category(c).startswith("P")

    def basic(self, text):
        out, cur = [], ""
        text = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
        for c in text:
            if c.isspace():
                if cur:
                    out.append(cur)
                cur = ""
            elif self.is_punct(c):
                if cur:
                    out.append(cur)
                out.append(c)
                cur = ""
            else:
                cur += c
        if cur:
            out.append(cur)
        return out

    def wordpiece(self, word):
        if len(word) > 100:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end, cur = len(word), None
            while start < end:
                s = word[start:end] if start == 0 else "##" + word[start:end]
                if s in self.vocab:
                    cur = s
                    break
                end -= 1
            if cur is None:
                return ["[UNK]"]
            pieces.append(cur)
            start = end
        return pieces

    def encode_plain(self, text):
        return [p for w in self.basic(text) for p in self.wordpiece(w)]

    def encode(self, text):
        assert text.isascii(), "reference texts must be ASCII"
        pat = "|".join(re.escape(s) for s in self.SPECIALS)
        toks, special, pos = ["[CLS]"], [1], 0
        for m in re.finditer(pat, text):
            t = self.encode_plain(text[pos:m.start()])
            toks += t + [m.group()]
            special += [0] * len(t) + [1]
            pos = m.end()
        t = self.encode_plain(text[pos:])
        toks += t + ["[SEP]"]
        special += [0] * len(t) + [1]
        return toks, [self.vocab[t] for t in toks], special


def check_tokenizers_against_hf(bpe_nolstrip, wp):
    """Our reference tokenizers must reproduce Hugging Face's ids on the ASCII texts of the shared HF outputs
    (those were produced without lstrip on <mask>, hence a second BPE instance)."""
    if not os.path.isdir(TOK_REF_DIR):
        print(f"note: {TOK_REF_DIR} absent; tokenizers not cross-checked against HF")
        return
    for name, tok, key in (("hf_roberta_base.json", bpe_nolstrip, "ids"), ("hf_bert_base_uncased.json", wp, "fast")):
        with open(os.path.join(TOK_REF_DIR, name), encoding="utf-8") as f:
            items = json.load(f)["items"]
        n = bad = 0
        for it in items:
            text = it["text"]
            # ASCII, printable (control characters are cleaned differently by BERT), at most ~500 tokens
            if not text.isascii() or any(ord(c) < 32 and c not in "\t\n\r" for c in text) or len(text) > 400:
                continue
            n += 1
            ids = tok.encode(text)[1]
            if ids != it[key]:
                bad += 1
                if bad <= 3:
                    print(f"  {name}: mismatch on {text!r}: {ids[:20]} vs {it[key][:20]}")
        print(f"tokenizer cross-check {name}: {n - bad}/{n} ASCII texts equal to HF")
        if bad:
            sys.exit(f"error: the reference tokenizer disagrees with HF on {bad} texts of {name}")


# ---------------------------------------------------------------- float64 HF-equal forward


def gelu(x):  # HF "gelu" = nn.functional.gelu = exact erf form
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * g + b


class MLMRef:
    def __init__(self, cfg, sd, bert):
        self.cfg, self.sd, self.bert = cfg, sd, bert
        self.base = "bert." if bert else "roberta."
        self.eps = cfg["layer_norm_eps"]

    def position_ids(self, ids):
        if self.bert:
            return torch.arange(ids.shape[-1])
        pad = self.cfg["pad_token_id"]  # create_position_ids_from_input_ids
        m = (ids != pad).long()
        return torch.cumsum(m, dim=-1) * m + pad

    def word(self, ids):
        return self.sd[self.base + "embeddings.word_embeddings.weight"][ids]

    def encoder(self, wemb, pos_ids):
        """wemb: (B,T,D) word-embedding outputs (Captum's layer), pos_ids: (T). Returns the last hidden (B,T,D)."""
        sd, p, eps = self.sd, self.base, self.eps
        B, T, D = wemb.shape
        H = self.cfg["num_attention_heads"]
        hs = D // H
        x = wemb + sd[p + "embeddings.position_embeddings.weight"][pos_ids] + \
            sd[p + "embeddings.token_type_embeddings.weight"][torch.zeros(T, dtype=torch.long)]
        x = layer_norm(x, sd[p + "embeddings.LayerNorm.weight"], sd[p + "embeddings.LayerNorm.bias"], eps)
        for l in range(self.cfg["num_hidden_layers"]):
            q = f"{p}encoder.layer.{l}."
            Q = self.lin(x, q + "attention.self.query").view(B, T, H, hs).transpose(1, 2)
            K = self.lin(x, q + "attention.self.key").view(B, T, H, hs).transpose(1, 2)
            Vv = self.lin(x, q + "attention.self.value").view(B, T, H, hs).transpose(1, 2)
            att = torch.softmax(Q @ K.transpose(-1, -2) / math.sqrt(hs), dim=-1)  # attention mask all ones
            ctx = (att @ Vv).transpose(1, 2).reshape(B, T, D)
            x = layer_norm(self.lin(ctx, q + "attention.output.dense") + x,
                           sd[q + "attention.output.LayerNorm.weight"], sd[q + "attention.output.LayerNorm.bias"], eps)
            f = gelu(self.lin(x, q + "intermediate.dense"))
            x = layer_norm(self.lin(f, q + "output.dense") + x, sd[q + "output.LayerNorm.weight"],
                           sd[q + "output.LayerNorm.bias"], eps)
        return x

    def lin(self, v, name):
        return v @ self.sd[name + ".weight"].T + self.sd[name + ".bias"]

    def logits(self, wemb, pos_ids, mask_pos):
        """MLM logits (B,V) at mask_pos."""
        sd = self.sd
        h = self.encoder(wemb, pos_ids)[:, mask_pos, :]  # (B,D)
        if self.bert:  # BertLMPredictionHead: transform (dense, ACT2FN[hidden_act], LayerNorm), decoder + bias
            h = gelu(self.lin(h, "cls.predictions.transform.dense"))
            h = layer_norm(h, sd["cls.predictions.transform.LayerNorm.weight"],
                           sd["cls.predictions.transform.LayerNorm.bias"], self.eps)
            bias = sd["cls.predictions.bias"]
        else:  # RobertaLMHead: dense, gelu, layer_norm, decoder + bias
            h = gelu(self.lin(h, "lm_head.dense"))
            h = layer_norm(h, sd["lm_head.layer_norm.weight"], sd["lm_head.layer_norm.bias"], self.eps)
            bias = sd["lm_head.bias"]
        return h @ sd[self.base + "embeddings.word_embeddings.weight"].T + bias  # decoder tied to word embeddings

    def cls_logits(self, wemb, pos_ids):
        """Sequence-classification logits (B,C), only to validate the encoder against the shared HF outputs:
        BERT pooler (dense + tanh on [CLS]) + classifier; RoBERTa classifier.dense + tanh + out_proj on <s>."""
        h = self.encoder(wemb, pos_ids)[:, 0, :]
        if self.bert:
            return self.lin(torch.tanh(self.lin(h, "bert.pooler.dense")), "classifier")
        return self.lin(torch.tanh(self.lin(h, "classifier.dense")), "classifier.out_proj")


def integrated_gradients(ref, F_of, ids, bids, steps=50):
    """Captum LayerIntegratedGradients at the word-embedding output. F_of(wemb (B,T,D), pos_ids) -> (B,).
    Interpolation runs use the input's position ids (Captum patches the layer output of a forward on the input
    ids); F(baseline) runs the model on the baseline ids, with their own position ids. Returns (attr, F(x), F(b))."""
    ids_t, bids_t = torch.tensor(ids), torch.tensor(bids)
    pos = ref.position_ids(ids_t)
    alphas, weights = captum_gl_nodes(steps)
    xe, be = ref.word(ids_t), ref.word(bids_t)
    a = torch.tensor(alphas, dtype=torch.float64).view(-1, 1, 1)
    path = (be[None] + a * (xe - be)[None]).clone().requires_grad_(True)  # (steps,T,D)
    (gp,) = torch.autograd.grad(F_of(path, pos).sum(), path)
    w = torch.tensor(weights, dtype=torch.float64).view(-1, 1, 1)
    attr = (xe - be) * (gp * w).sum(0)
    with torch.no_grad():
        fx = float(F_of(xe[None], pos)[0])
        fb = float(F_of(be[None], ref.position_ids(bids_t))[0])
    return attr, fx, fb


def saliency(ref, F_of, ids):
    ids_t = torch.tensor(ids)
    x = ref.word(ids_t)[None].clone().requires_grad_(True)
    F = F_of(x, ref.position_ids(ids_t))[0]
    (g,) = torch.autograd.grad(F, x)
    return g[0], float(F)


def read_safetensors_any_f64(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dt = {"F32": "<f4", "F16": "<f2"}
    return {k: torch.from_numpy(np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype=dt[v["dtype"]])
                                .reshape(v["shape"]).astype(np.float64))
            for k, v in header.items() if k != "__metadata__"}


def validate_against_shared():
    """The reference encoder, saliency and IG must reproduce transformers + Captum (float64) on the shared
    classifier models: the same code then produces the MLM references (only the head differs)."""
    shared = "/work/shared/reference"
    cases = [("tiny-roberta", "captum/roberta_cls.json.gz", "cls", False),
             ("tiny-bert", "captum/ig_gausslegendre_50.json", "results", True),
             ("tiny-bert", "captum/saliency.json", "results", True)]
    if not os.path.isdir(shared):
        print(f"note: {shared} absent; reference encoder not validated against transformers/Captum")
        return
    import gzip
    for model, file, key, bert in cases:
        d = os.path.join(shared, "models", model)
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        ref = MLMRef(cfg, read_safetensors_any_f64(os.path.join(d, "model.safetensors")), bert)
        path = os.path.join(shared, file)
        with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
            doc = json.load(f)
        errs = {"logits": 0.0, "attr": 0.0, "f_baseline": 0.0}
        for r in doc[key]:
            if r.get("method", "ig" if "ig_" in file else "saliency") not in ("ig", "saliency"):
                continue
            ids, tgt = r["ids"], r["target"]
            with torch.no_grad():
                lg = ref.cls_logits(ref.word(torch.tensor(ids))[None], ref.position_ids(torch.tensor(ids)))[0]
            errs["logits"] = max(errs["logits"], float((lg - torch.tensor(r["logits"])).abs().max()))
            F_of = lambda w, p: ref.cls_logits(w, p)[:, tgt]  # noqa: E731
            if r.get("method") == "saliency" or "saliency" in file:
                attr, _ = saliency(ref, F_of, ids)
            else:
                attr, fx, fb = integrated_gradients(ref, F_of, ids, r["baseline_ids"])
                errs["f_baseline"] = max(errs["f_baseline"], abs(fb - r["f_baseline"]))
            ra = torch.tensor(r["attr"])
            errs["attr"] = max(errs["attr"], float((attr - ra).abs().max() / ra.abs().max()))
        print(f"reference code vs transformers/Captum on {model} {file}: max abs err logits {errs['logits']:.1e}, "
              f"F(baseline) {errs['f_baseline']:.1e}; max rel err attr {errs['attr']:.1e}")
        if max(errs.values()) > 1e-9:
            sys.exit("error: the reference implementation does not reproduce the shared HF/Captum outputs")


def r9(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().tolist()
    if isinstance(x, list):
        return [r9(v) for v in x]
    if isinstance(x, float):
        return float(f"{x:.9g}")
    return x


def captum_gl_nodes(n):
    x, w = np.polynomial.legendre.leggauss(n)
    alphas = [0.5 * (1 + v) for v in x]
    weights = [float(np.float32(0.5 * v)) for v in w]  # torch.tensor(step_sizes).float() in Captum's IG
    return alphas, weights


def explain(ref, tok, text, specials_ids, steps=50):
    toks, ids, special = tok.encode(text)
    ids_t = torch.tensor(ids)
    mask_pos = ids.index(specials_ids["mask"])  # the first mask is explained
    pos = ref.position_ids(ids_t)
    with torch.no_grad():
        logits = ref.logits(ref.word(ids_t)[None], pos, mask_pos)[0]
    target = int(torch.argmax(logits))
    top = torch.topk(logits, 10)
    sample_ids = list(range(0, logits.shape[0], 997))
    res = {
        "text": text, "tokens": toks, "ids": ids, "special": special, "mask_pos": mask_pos,
        "position_ids": pos.tolist(), "target": target, "target_token": tok.inv[target],
        "top_ids": top.indices.tolist(), "top_logits": r9(top.values), "sample_ids": sample_ids,
        "sample_logits": r9(logits[sample_ids]), "logsumexp": r9(float(torch.logsumexp(logits, 0))),
    }
    F_of = lambda w, p: ref.logits(w, p, mask_pos)[:, target]  # noqa: E731  F = target logit at the mask
    g, fx = saliency(ref, F_of, ids)
    res["f_input"] = r9(fx)
    res["grad"] = r9(g)
    res["ig"] = []
    for kind in ("pad", "mask"):
        bids = [i if s else specials_ids[kind] for i, s in zip(ids, special)]
        attr, fx2, fb = integrated_gradients(ref, F_of, ids, bids, steps)
        assert abs(fx2 - fx) < 1e-12
        res["ig"].append({
            "baseline": kind, "baseline_ids": bids, "f_baseline": r9(fb), "attr": r9(attr),
            "attr_sum": r9(attr.sum(-1)), "delta": r9(float(attr.sum()) - (fx - fb)),
        })
    return res


# ---------------------------------------------------------------- model directories

ROBERTA_TOKENIZER_CONFIG = {
    # As transformers' save_pretrained writes roberta-base's tokenizer: <mask> has lstrip=True, so in
    # "x = <mask> ;" the mask swallows the space before it (no separate 'Ġ' token), like CodeBERT-MLM.
    "add_prefix_space": False,
    "added_tokens_decoder": {
        "0": {"content": "<s>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False, "special": True},
        "1": {"content": "<pad>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False, "special": True},
        "2": {"content": "</s>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False, "special": True},
        "3": {"content": "<unk>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False, "special": True},
        "50264": {"content": "<mask>", "lstrip": True, "normalized": False, "rstrip": False, "single_word": False, "special": True},
    },
    "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "errors": "replace", "mask_token": "<mask>",
    "model_max_length": 512, "pad_token": "<pad>", "sep_token": "</s>", "tokenizer_class": "RobertaTokenizer",
    "trim_offsets": True, "unk_token": "<unk>",
}
ROBERTA_SPECIAL_MAP = {
    "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "sep_token": "</s>",
    "unk_token": "<unk>",
    "mask_token": {"content": "<mask>", "lstrip": True, "normalized": False, "rstrip": False, "single_word": False},
}
BERT_TOKENIZER_CONFIG = {
    "do_lower_case": True, "do_basic_tokenize": True, "tokenize_chinese_chars": True, "strip_accents": None,
    "model_max_length": 512, "tokenizer_class": "BertTokenizer", "unk_token": "[UNK]", "sep_token": "[SEP]",
    "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
}
BERT_SPECIAL_MAP = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                    "mask_token": "[MASK]"}

CARD = """# {name}: RANDOM weights — for pipeline tests and examples only

**This model has random weights.** It was not trained on anything; its predictions and attributions mean
nothing about language or code. It exists so that attrun's masked-LM path (`{arch}`) can be tested and tried
without downloading a real checkpoint. For science, point `model:` at a real checkpoint instead, e.g.
{real}.

- Architecture: Hugging Face `{arch}` (model_type `{mtype}`), {L} layers, hidden {D}, {H} heads,
  intermediate {FF}, vocabulary {V} ({vocab}), `tie_word_embeddings` true (the MLM decoder is the word-embedding
  matrix; only the decoder bias `{bias}` is stored), state-dict names exactly as transformers saves them.
- Storage: `model.safetensors`, every tensor F16 ({size:.1f} MB). attrun upcasts to float32 on load.
- Weights: seeded normal draws (seed {seed}) spread wider than HF's initialiser so that the logits at a mask vary
  by several units across the vocabulary and attributions are far from zero.
- Tokenizer: {tok}
- Made by `scripts/make_tiny_mlm.py` (run `/usr/bin/python3 scripts/make_tiny_mlm.py` from the repository root;
  it rewrites this directory and the float64 reference `tests/data/{refname}` used by `tests/test_mlm_ref.c`).
- Vocabulary files: copies of `{vocab_files}` from the project's data store (see `shared/data/vocab/SOURCE.md`;
  the same files as Hugging Face's `{vocab}` repository), license: {vlicense}.
- Reference: `tests/data/{refname}` holds float64 logits, gradients and Integrated Gradients of this exact
  file for a few texts; `tests/test_mlm_ref.c` checks attrun against it.
"""


def make(kind, out_models, out_data, bpe_nolstrip_check):
    bert = kind == "bert"
    cfg = BERT_CONFIG if bert else ROBERTA_CONFIG
    name = "tiny-bert-mlm" if bert else "tiny-codebert-mlm"
    seed = 20251 if bert else 20250
    d = os.path.join(out_models, name)
    os.makedirs(d, exist_ok=True)
    sd16 = init_weights(cfg, seed, bert)
    st = os.path.join(d, "model.safetensors")
    write_safetensors(st, sd16)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    if bert:
        shutil.copyfile(os.path.join(VOCAB_DIR, "bert-base-uncased-vocab.txt"), os.path.join(d, "vocab.txt"))
        tcfg, smap = BERT_TOKENIZER_CONFIG, BERT_SPECIAL_MAP
        tok = WordPiece(os.path.join(d, "vocab.txt"))
        specials = {"pad": tok.vocab["[PAD]"], "mask": tok.vocab["[MASK]"]}
        texts = BERT_TEXTS
    else:
        shutil.copyfile(os.path.join(VOCAB_DIR, "roberta-base-vocab.json"), os.path.join(d, "vocab.json"))
        shutil.copyfile(os.path.join(VOCAB_DIR, "roberta-base-merges.txt"), os.path.join(d, "merges.txt"))
        tcfg, smap = ROBERTA_TOKENIZER_CONFIG, ROBERTA_SPECIAL_MAP
        tok = ByteBPE(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt"), mask_lstrip=True)
        specials = {"pad": tok.vocab["<pad>"], "mask": tok.vocab["<mask>"]}
        texts = ROBERTA_TEXTS
    for fn, obj in (("tokenizer_config.json", tcfg), ("special_tokens_map.json", smap)):
        with open(os.path.join(d, fn), "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
    size = os.path.getsize(st) / 1e6
    with open(os.path.join(d, "README.md"), "w") as f:
        f.write(CARD.format(
            name=name, arch=cfg["architectures"][0], mtype=cfg["model_type"], L=cfg["num_hidden_layers"],
            D=cfg["hidden_size"], H=cfg["num_attention_heads"], FF=cfg["intermediate_size"], V=cfg["vocab_size"],
            vocab="bert-base-uncased" if bert else "roberta-base",
            bias="cls.predictions.bias" if bert else "lm_head.bias", size=size, seed=seed,
            real="`bert-base-uncased` (BertForMaskedLM)" if bert else
            "`microsoft/codebert-base-mlm` (RobertaForMaskedLM; CodeBERT's MLM checkpoint)",
            tok="WordPiece, `vocab.txt`, lower-cased (bert-base-uncased)." if bert else
            "byte-level BPE (`vocab.json`, `merges.txt`, roberta-base = CodeBERT's); `<mask>` has `lstrip: true` "
            "as in roberta-base, so `x = <mask> ;` gives `... 'Ġ=', '<mask>', 'Ġ;' ...`.",
            refname="mlm_bert.json" if bert else "mlm_roberta.json",
            vocab_files="bert-base-uncased-vocab.txt" if bert else "roberta-base-vocab.json, roberta-base-merges.txt",
            vlicense="Apache-2.0 (Google's BERT release)" if bert else
            "MIT (roberta-base model card; the merges are OpenAI's GPT-2 BPE, MIT)"))
    total = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    assert total < 8e6, f"{d} is {total} bytes (limit 8 MB)"
    print(f"wrote {d}: {total / 1e6:.2f} MB")

    sd = read_safetensors_f64(st)
    ref = MLMRef(cfg, sd, bert)
    results = [explain(ref, tok, t, specials) for t in texts]
    for r in results:
        print(f"  {r['text'][:50]!r}: T={len(r['ids'])} mask@{r['mask_pos']} -> {r['target_token']!r} "
              f"logit {r['f_input']:.4f}; IG delta pad {r['ig'][0]['delta']:.3g}, mask {r['ig'][1]['delta']:.3g}")
    doc = {
        "what": f"float64 reference for {name} ({cfg['architectures'][0]}): MLM logits at the first mask, "
                "target = argmax token, F = its logit, grad = dF/d(word-embedding output) [T][D], "
                "ig = Captum LayerIntegratedGradients at the word embeddings (Gauss-Legendre 50) per baseline",
        "made_by": "scripts/make_tiny_mlm.py (HF-equal torch forward written from modeling_"
                   f"{'bert' if bert else 'roberta'}.py, independent of attrun)",
        "model": f"models/{name}",
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
        "params": {"layer": "word_embeddings", "output": "logit", "method": "ig", "rule": "gausslegendre",
                   "steps": 50, "baselines": ["pad", "mask"]},
        "ig_alphas": r9(captum_gl_nodes(50)[0]), "ig_step_sizes": captum_gl_nodes(50)[1],
        "results": results,
    }
    os.makedirs(out_data, exist_ok=True)
    path = os.path.join(out_data, "mlm_bert.json" if bert else "mlm_roberta.json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path}: {os.path.getsize(path) / 1e3:.0f} kB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="models", help="output directory of the model directories")
    ap.add_argument("--data", default="tests/data", help="output directory of the reference JSON files")
    ap.add_argument("--only", choices=["roberta", "bert"], help="make one family only")
    a = ap.parse_args()
    torch.set_default_dtype(torch.float64)
    bpe_nolstrip = ByteBPE(os.path.join(VOCAB_DIR, "roberta-base-vocab.json"),
                           os.path.join(VOCAB_DIR, "roberta-base-merges.txt"), mask_lstrip=False)
    wp = WordPiece(os.path.join(VOCAB_DIR, "bert-base-uncased-vocab.txt"))
    check_tokenizers_against_hf(bpe_nolstrip, wp)
    validate_against_shared()
    for kind in ("roberta", "bert"):
        if a.only in (None, kind):
            make(kind, a.models, a.data, bpe_nolstrip)


if __name__ == "__main__":
    main()
