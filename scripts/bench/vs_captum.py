#!/usr/bin/python3
"""vs_captum.py: attrun's Integrated Gradients against Captum's on the same model, texts, steps and cores.

Issue 17 asks for attrun >= 1.8x Captum at 128 tokens and >= 2.5x on short sentences in fp32, and
>= 1.5x Captum under bf16 autocast with `precision: bf16`. This script measures those ratios.

The same work on both sides: LayerIntegratedGradients at the word-embedding output (attrun's default
`layer: word_embeddings`), Gauss-Legendre rule, `--steps` nodes, baseline = every token but [CLS]/[SEP]
replaced by [PAD] (attrun's `baseline: pad`), target = the predicted class, one example at a time on the
Captum side with all its steps in one batch (Captum's fastest per-example setting), no padding (each
example at its own length on both sides), the same thread count (torch.set_num_threads and attrun's
`threads`, one rank). The PyTorch model is BertForSequenceClassification of scripts/train_sst2.py
(plain torch, HF's math and key names) loaded from the same checkpoint attrun reads.

Cases (--cases, comma-separated):
  sst2-tiny     the bundled models/sst2-tiny on the first --n SST-2 dev sentences (short: ~10-40 tokens)
  base-short    a random BERT-base-shaped model (12 x 768, 12 heads, FF 3072; written once into --workdir)
                on the same short sentences
  base-128      that model on texts of exactly 128 tokens (SST-2 dev sentences concatenated, truncated)

Timing: attrun is the wall time of the whole `attrun run` process (start-up, checkpoint load,
tokenisation and the HDF5 file included); Captum is the time of its attribute() loop only (model
already loaded, texts already tokenised), so the ratio is conservative for attrun. The two sides run
back to back, alternating, --repeats times; each pair's ratio and the median are printed, because on a
shared machine the load changes between pairs. Next to the wall times, the CPU seconds of each side
(attrun: the child process's user + system time; Captum: this process's, both over all their threads) and
their ratio: on a machine loaded beyond its cores the wall ratio swings with the load, the CPU ratio much
less (threads that spin-wait count as busy on both sides: OpenBLAS's and torch's OpenMP). Also printed: the largest difference of the token sums
between the two (relative to the largest |token sum|), so that a fast wrong answer shows. With
--precision bf16 each case first runs Captum in fp32 once, and every pair prints both sides' bf16 error
against it (issue 17: attrun-bf16's error must be no larger than Captum-bf16's). --precision takes a
comma-separated list of attrun precisions (fp32, bf16, bf16-attention) run in turn against one Captum
side, e.g. `bf16,bf16-attention`; Captum runs under bf16 autocast when they are bf16 variants.

Work rates: each side's FLOPs per second (the FLOPs of attrun's engine_flops formula, forward plus
input-gradient backward of every step of every text at its own length; the forward passes that give
F(x), F(baseline) and the target are not counted) and that rate as a fraction of the fp32 sgemm ceiling,
which `attrun bench` measures at the start of each case (its "layer-weighted mix" of the model's matrix
shapes). ceiling / Captum's rate is the largest ratio any fp32 engine limited by that sgemm could reach
against this Captum run: a target above it cannot be met by making attrun's own code faster.

Captum is not a dependency of attrun and is not in the repository: give its source tree (the directory
that contains the `captum` package) with --captum or $CAPTUM_PATH. tqdm, which Captum imports for its
progress bars only, is replaced by a stub when it is not installed.

  /usr/bin/python3 scripts/bench/vs_captum.py --captum /tmp/captum_src --threads 2 --repeats 3
  /usr/bin/python3 scripts/bench/vs_captum.py --captum /tmp/captum_src --precision bf16 --cases base-128
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def import_captum(path):
    if not path or not os.path.isdir(os.path.join(path, "captum")):
        sys.exit(f"vs_captum.py: no Captum source tree at {path!r} (the directory holding captum/); "
                 "give --captum PATH or CAPTUM_PATH")
    sys.path.insert(0, path)
    try:
        import tqdm.auto  # noqa: F401
    except ImportError:  # progress bars only
        stub, auto = types.ModuleType("tqdm"), types.ModuleType("tqdm.auto")
        auto.tqdm = stub.tqdm = lambda *a, **k: None
        stub.auto = auto
        sys.modules["tqdm"], sys.modules["tqdm.auto"] = stub, auto
    from captum.attr import LayerIntegratedGradients
    return LayerIntegratedGradients


def read_sentences(path, n):
    out = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = header.index("sentence")
        for line in f:
            out.append(line.rstrip("\n").split("\t")[col].strip())
            if len(out) == n:
                break
    return out


def long_texts(sentences, tok, n, tokens):
    """n texts of at least `tokens` word pieces: consecutive dev sentences joined (truncated later)."""
    out, i = [], 0
    for _ in range(n):
        parts = []
        while len(tok.tokenize(" ".join(parts))) < tokens:
            parts.append(sentences[i % len(sentences)])
            i += 1
        out.append(" ".join(parts))
    return out


def write_random_base(d, vocab_src, seed=0):
    """A BERT-base-shaped checkpoint with random weights (F32), written once."""
    import torch
    import train_sst2 as ts
    if os.path.exists(os.path.join(d, "model.safetensors")):
        return
    a = argparse.Namespace(dropout=0.1, hidden=768, intermediate=3072, max_length=512, heads=12, layers=12)
    with open(vocab_src, encoding="utf-8") as f:
        V = sum(1 for _ in f)
    config = ts.make_config(a, V, 0)
    config["torch_dtype"] = "float32"
    torch.manual_seed(seed)
    model = ts.BertForSequenceClassification(ts.model_config(config))
    os.makedirs(d, exist_ok=True)
    ts.save_checkpoint(d, model, config, vocab_src)
    # save_checkpoint stores F16 (the bundled model's format); the benchmark model is F32
    ts.save_safetensors(os.path.join(d, "model.safetensors"), model.state_dict(), "F32")


def write_corpus(path, texts):
    with open(path, "w", encoding="utf-8") as f:
        f.write("sentence\n")
        for t in texts:
            f.write(t.replace("\t", " ").replace("\n", " ") + "\n")


def attrun_job(workdir, name, model, corpus, max_length, steps, threads, precision):
    job = os.path.join(workdir, f"{name}.{precision}.yaml")
    out = os.path.join(workdir, f"{name}.{precision}.h5")
    with open(job, "w") as f:
        f.write(f"model: {model}\n"
                f"corpus: {{path: {corpus}, text_field: sentence, max_length: {max_length}}}\n"
                f"methods: [ig]\ntarget: predicted\nlayer: word_embeddings\nbaseline: pad\n"
                f"ig: {{steps: {steps}, rule: gausslegendre}}\n"
                f"analysis: {{stats: false, rollout: false, agreement: false, massive: false}}\n"
                f"threads: {threads}\nprecision: {precision}\nout: {out}\n")
    return job, out


def ig_flops(lens, steps, L=12, D=768, FF=3072, C=2):
    """engine_flops (engine/engine.c) of B = steps rows of each text's length, forward + backward."""
    total = 0.0
    for T in lens:
        N = steps * T
        lin = 2.0 * (2 * N * D * D + 2 * N * D * D + 2 * N * D * FF)
        att = 2.0 * (2.0 * steps * T * T * D)
        head = 2.0 * steps * (D * D + D * C)
        total += L * (lin + att) + head + L * (lin + 2 * att) + head
    return total


def sgemm_ceiling(binary, threads, T):
    """The fp32 sgemm ceiling (GFLOP/s) `attrun bench` measures for the BERT-base shapes at T tokens."""
    r = subprocess.run([binary, "bench", "--layers", "1", "--batch", "4", "--tokens", str(T),
                        "--threads", str(threads)], capture_output=True, text=True)
    for line in r.stdout.splitlines() + r.stderr.splitlines():
        if "sgemm ceiling" in line:
            return float(line.split(":")[1].split()[0])
    sys.exit(f"vs_captum.py: attrun bench printed no sgemm ceiling:\n{r.stdout}{r.stderr}")


def child_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_attrun(binary, job, out):
    t0, c0 = time.perf_counter(), child_cpu()
    r = subprocess.run([binary, "run", job, "--overwrite", "--quiet"], capture_output=True, text=True)
    t, c = time.perf_counter() - t0, child_cpu() - c0
    if r.returncode != 0:
        sys.exit(f"vs_captum.py: attrun failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    import h5py
    with h5py.File(out, "r") as h:
        sums = h["/attributions/ig/token_sum"][()]
    return t, c, sums


class CaptumSide:
    def __init__(self, LIG, model_dir, texts, max_length, steps, threads, precision):
        import torch
        import train_sst2 as ts
        torch.set_num_threads(threads)
        self.torch, self.steps, self.precision = torch, steps, precision
        self.model, _ = ts.load_checkpoint(model_dir)
        self.model.float().eval()
        tok = ts.BertTokenizer(os.path.join(model_dir, "vocab.txt"))
        self.enc = [tok.encode(t, max_length) for t in texts]
        self.cls, self.sep, self.pad = tok.cls_id, tok.sep_id, tok.pad_id
        self.lig = LIG(self.forward, self.model.bert.embeddings.word_embeddings)

    def forward(self, ids, mask):
        return self.model(ids, mask)

    def run(self, precision=None):
        """The attribute() loop in `precision` (default: the side's own)."""
        torch, bf16 = self.torch, (precision or self.precision).startswith("bf16")
        sums = []
        t0, c0 = time.perf_counter(), time.process_time()
        for ids in self.enc:
            x = torch.tensor([ids])
            base = torch.tensor([[i if i in (self.cls, self.sep) else self.pad for i in ids]])
            mask = torch.ones_like(x)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                with torch.no_grad():
                    target = int(self.model(x, mask).argmax(-1))
                a = self.lig.attribute(x, baselines=base, additional_forward_args=(mask,), target=target,
                                       n_steps=self.steps, method="gausslegendre", internal_batch_size=self.steps)
            sums.append(a.float().sum(-1)[0].detach().numpy())
        return time.perf_counter() - t0, time.process_time() - c0, np.concatenate(sums)


def relerr(x, ref):
    """max |x - ref| / max |ref| (nan when the token counts differ)."""
    if x.shape != ref.shape:
        return float("nan")
    return np.max(np.abs(x - ref)) / max(np.max(np.abs(ref)), 1e-30)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--captum", default=os.environ.get("CAPTUM_PATH"), help="Captum source tree ($CAPTUM_PATH)")
    p.add_argument("--attrun", default=os.path.join(ROOT, "build", "attrun"))
    p.add_argument("--cases", default="sst2-tiny,base-short,base-128")
    p.add_argument("--n", type=int, default=16, help="texts per case")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--precision", default="fp32", help="attrun precisions, comma-separated: fp32, bf16, "
                   "bf16-attention (all fp32, or all bf16 variants)")
    p.add_argument("--workdir", default="/tmp/attrun_vs_captum")
    a = p.parse_args()
    precs = a.precision.split(",")
    if any(x not in ("fp32", "bf16", "bf16-attention") for x in precs) or \
            len({x.startswith("bf16") for x in precs}) != 1:
        sys.exit(f"vs_captum.py: --precision {a.precision!r}: fp32, or bf16 variants (bf16, bf16-attention)")
    cap_prec = "bf16" if precs[0].startswith("bf16") else "fp32"
    LIG = import_captum(a.captum)
    import train_sst2 as ts
    os.makedirs(a.workdir, exist_ok=True)
    tiny = os.path.join(ROOT, "models", "sst2-tiny")
    sents = read_sentences(os.path.join(ROOT, "data", "sst2-dev.tsv"), 200)
    tok = ts.BertTokenizer(os.path.join(tiny, "vocab.txt"))
    base_dir = os.path.join(a.workdir, "bert-base-random")
    print(f"vs_captum: threads {a.threads}, IG Gauss-Legendre {a.steps} steps, {a.n} texts per case, "
          f"precision {a.precision}, {a.repeats} alternating repeats; machine load at start: "
          f"{os.getloadavg()[0]:.2f} (1-min average)")
    for case in a.cases.split(","):
        if case == "sst2-tiny":
            model, texts, maxlen = tiny, sents[: a.n], 64
        elif case == "base-short":
            write_random_base(base_dir, os.path.join(tiny, "vocab.txt"))
            model, texts, maxlen = base_dir, sents[: a.n], 512
        elif case == "base-128":
            write_random_base(base_dir, os.path.join(tiny, "vocab.txt"))
            model, texts, maxlen = base_dir, long_texts(sents, tok, a.n, 128), 128
        else:
            sys.exit(f"vs_captum.py: unknown case {case!r}")
        corpus = os.path.join(a.workdir, f"{case}.tsv")
        write_corpus(corpus, texts)
        jobs = [attrun_job(a.workdir, case, model, corpus, maxlen, a.steps, a.threads, x) for x in precs]
        cap = CaptumSide(LIG, model, texts, maxlen, a.steps, a.threads, cap_prec)
        lens = [len(e) for e in cap.enc]
        ref = cap.run("fp32")[2] if cap_prec == "bf16" else None
        ratios, cratios = {x: [] for x in precs}, {x: [] for x in precs}
        flops = ig_flops(lens, a.steps) if case != "sst2-tiny" else None
        ceiling = sgemm_ceiling(a.attrun, a.threads, max(lens)) if flops else None
        for r in range(a.repeats):
            runs = [run_attrun(a.attrun, job, out) for job, out in jobs]
            t_cap, c_cap, s_cap = cap.run()
            for x, (t_at, c_at, s_at) in zip(precs, runs):
                ratios[x].append(t_cap / t_at)
                cratios[x].append(c_cap / c_at)
                err = relerr(s_at, s_cap)
                print(f"  {case:10s} T {min(lens)}-{max(lens)} (mean {np.mean(lens):.1f}), attrun {x}: wall attrun "
                      f"{t_at:7.2f} s, Captum {t_cap:7.2f} s, ratio {t_cap / t_at:5.2f}x | CPU attrun {c_at:7.2f} s, "
                      f"Captum {c_cap:7.2f} s, ratio {c_cap / c_at:5.2f}x | token sums max|diff|/max|Captum| "
                      f"{err:.1e}; load {os.getloadavg()[0]:.2f}", flush=True)
                if ref is not None:
                    print(f"  {case:10s}   bf16 error against Captum fp32 (token sums, max|diff|/max|ref|): attrun "
                          f"{x} {relerr(s_at, ref):.1e}, Captum {relerr(s_cap, ref):.1e}", flush=True)
                if flops:
                    g_at, g_cap = flops / t_at / 1e9, flops / t_cap / 1e9
                    print(f"  {case:10s}   rates: attrun {g_at:6.1f} GFLOP/s ({100 * g_at / ceiling:4.1f} % of the "
                          f"sgemm ceiling {ceiling:.1f}), Captum {g_cap:6.1f} GFLOP/s ({100 * g_cap / ceiling:4.1f} "
                          f"%); an engine at the ceiling would be {ceiling / g_cap:.2f}x Captum", flush=True)
        for x in precs:
            print(f"  {case:10s} attrun {x}: median ratio: wall {statistics.median(ratios[x]):.2f}x (min "
                  f"{min(ratios[x]):.2f}, max {max(ratios[x]):.2f}), CPU time {statistics.median(cratios[x]):.2f}x "
                  f"(min {min(cratios[x]):.2f}, max {max(cratios[x]):.2f})", flush=True)


if __name__ == "__main__":
    main()
