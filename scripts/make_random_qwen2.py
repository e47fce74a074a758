#!/usr/bin/python3
"""A random Qwen2ForCausalLM checkpoint of any shape (for memory and speed measurements of the decoder
path: docs/performance.md), with the tokenizer of a small Qwen2 directory.

  scripts/make_random_qwen2.py SRC_DIR OUT_DIR [--hidden 896 --layers 24 --heads 14 --kv-heads 2
                               --head-dim 64 --ff 4864 --vocab 151936 --dtype bf16 --seed 1]

Defaults: Qwen2.5-0.5B's shape (24 layers, hidden 896, 14 heads, 2 KV heads, head_dim 64, FFN 4864,
vocabulary 151936, tied embeddings, q/k/v biases, rope_theta 1e6, 32768 positions): 494.0 M parameters,
1.98 GB as float32 (the engine's copy), 0.99 GB stored as BF16. SRC_DIR is a Qwen2 directory
(../shared/reference/models/tiny-qwen2): its tokenizer files are copied and its special ids kept; its
vocabulary may be smaller than --vocab (ids past it are never produced, as in Qwen2.5 whose embedding
matrix is padded past its tokenizer). Weights are RANDOM (normal, std 0.02; RMSNorm gains 1, biases 0):
the model knows nothing, it only has the shapes. Written with numpy alone, one tensor at a time.
"""
import argparse
import json
import os
import shutil
import sys

import random_safetensors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--hidden", type=int, default=896)
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--heads", type=int, default=14)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--ff", type=int, default=4864)
    ap.add_argument("--vocab", type=int, default=151936)
    ap.add_argument("--dtype", choices=("bf16", "f32"), default="bf16")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.src, "config.json")))
    if cfg.get("model_type") != "qwen2":
        sys.exit(f"{a.src}: not a Qwen2 checkpoint")
    if a.vocab < cfg["vocab_size"]:
        sys.exit(f"--vocab {a.vocab} is smaller than {a.src}'s vocabulary ({cfg['vocab_size']})")
    D, H, KV, hd, FF = a.hidden, a.heads, a.kv_heads, a.head_dim, a.ff
    if H % KV:
        sys.exit("--heads must be a multiple of --kv-heads")
    names = [("model.embed_tokens.weight", [a.vocab, D])]
    for i in range(a.layers):
        p = f"model.layers.{i}."
        names += [(p + "input_layernorm.weight", [D]),
                  (p + "self_attn.q_proj.weight", [H * hd, D]), (p + "self_attn.q_proj.bias", [H * hd]),
                  (p + "self_attn.k_proj.weight", [KV * hd, D]), (p + "self_attn.k_proj.bias", [KV * hd]),
                  (p + "self_attn.v_proj.weight", [KV * hd, D]), (p + "self_attn.v_proj.bias", [KV * hd]),
                  (p + "self_attn.o_proj.weight", [D, H * hd]),
                  (p + "post_attention_layernorm.weight", [D]),
                  (p + "mlp.gate_proj.weight", [FF, D]), (p + "mlp.up_proj.weight", [FF, D]),
                  (p + "mlp.down_proj.weight", [D, FF])]
    names.append(("model.norm.weight", [D]))

    def init(name):
        if name.endswith("layernorm.weight") or name == "model.norm.weight":
            return "ones"
        return "zeros" if name.endswith("bias") else "normal"
    os.makedirs(a.out, exist_ok=True)
    nparam, off = random_safetensors.write(os.path.join(a.out, "model.safetensors"),
                                           [(n, s, init(n)) for n, s in names],
                                           "BF16" if a.dtype == "bf16" else "F32", a.seed)
    cfg.update(hidden_size=D, num_hidden_layers=a.layers, num_attention_heads=H, num_key_value_heads=KV,
               head_dim=hd, intermediate_size=FF, vocab_size=a.vocab, tie_word_embeddings=True,
               max_position_embeddings=32768, rope_theta=1000000.0, max_window_layers=a.layers,
               torch_dtype="bfloat16" if a.dtype == "bf16" else "float32")
    json.dump(cfg, open(os.path.join(a.out, "config.json"), "w"), indent=2)
    for fn in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"):
        if os.path.exists(os.path.join(a.src, fn)):
            shutil.copy(os.path.join(a.src, fn), os.path.join(a.out, fn))
    print(f"{a.out}: {nparam / 1e6:.1f} M parameters ({nparam * 4 / 1e9:.2f} GB as float32), "
          f"model.safetensors {off / 1e9:.2f} GB {a.dtype}")


if __name__ == "__main__":
    main()
