#!/usr/bin/python3
"""Analysis report of an attrun result: report.py RESULT.h5 OUTDIR

Writes into OUTDIR:
  heatmap_<group>_<stat>.png  per-head (layer x head) mean of each statistic over the corpus
  cohort_tests.csv            correct vs mispredicted examples, per statistic and head: means,
                              Mann-Whitney U (two-sided), p, Benjamini-Hochberg q (family = the
                              L*H heads of one statistic), significant (q < --alpha)
  cohort_<group>_<stat>.png   mean(correct) - mean(mispredicted) per head, '*' where significant
  tokens_<method>.csv         token strings by mean attribution (token_sum) over the corpus
  summary.csv                 corpus means of the agreement and faithfulness columns
  report.html                 one self-contained page (images inlined as base64): all of the
                              above plus chosen examples with tokens coloured by attribution
                              (as Captum's visualize_text) and per-head attention heatmaps
Definitions: docs/analysis.md. Needs numpy, pandas, h5py, matplotlib, scipy (Debian packages
python3-numpy python3-pandas python3-h5py python3-matplotlib python3-scipy).
"""
import argparse
import base64
import html
import io
import os
import sys

import numpy as np
import pandas as pd

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from scipy.stats import mannwhitneyu  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attrun_load import AttrunFormatError, AttrunResult, benjamini_hochberg  # noqa: E402

STAT_GROUPS = ("/attention/stats", "/conductance/stats")


def png_bytes(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def save_png(data, outdir, name):
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)
    return name


def img_tag(data, alt, cls="heatmap"):
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img class="{cls}" alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def head_heatmap(values, title, cmap="viridis", marks=None, center=False, vfloor=0.0):
    """values [L, H]; marks [L, H] bool: '*' drawn on those heads; center: symmetric colour
    range around 0, at least +-vfloor."""
    L, H = values.shape
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * H, 1.0 + 0.4 * L))
    kw = {}
    if center:
        lim = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 0.0
        lim = max(lim, vfloor, 1e-12)  # rounding-level differences stay pale instead of saturating
        kw = {"vmin": -lim, "vmax": lim}
    im = ax.imshow(values, cmap=cmap, aspect="auto", **kw)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_xticks(range(H))
    ax.set_yticks(range(L))
    ax.set_title(title, fontsize=9)
    if marks is not None:
        for l, h in zip(*np.nonzero(marks)):
            ax.text(h, l, "*", ha="center", va="center", color="black", fontsize=12, fontweight="bold")
    fig.colorbar(im, ax=ax)
    return png_bytes(fig)


def cohort_tests(stats, correct, alpha):
    """stats: {name: [N, L, H]}; correct: bool [N]. Returns a DataFrame (one row per stat x head)."""
    rows = []
    for name, v in stats.items():
        N, L, H = v.shape
        a, b = v[correct], v[~correct]
        p = np.full((L, H), np.nan)
        U = np.full((L, H), np.nan)
        for l in range(L):
            for h in range(H):
                x, y = a[:, l, h], b[:, l, h]
                x, y = x[np.isfinite(x)], y[np.isfinite(y)]
                if len(x) < 2 or len(y) < 2 or np.ptp(np.concatenate([x, y])) == 0:
                    continue  # untestable: too few values, or every value equal
                r = mannwhitneyu(x, y, alternative="two-sided")
                U[l, h], p[l, h] = r.statistic, r.pvalue
        q = benjamini_hochberg(p.ravel()).reshape(L, H)
        with np.errstate(invalid="ignore"):
            ma, mb = np.nanmean(a, axis=0), np.nanmean(b, axis=0)
        for l in range(L):
            for h in range(H):
                rows.append({"stat": name, "layer": l, "head": h, "n_correct": len(a), "n_mispredicted": len(b),
                             "mean_correct": ma[l, h], "mean_mispredicted": mb[l, h], "U": U[l, h],
                             "p": p[l, h], "q": q[l, h], "significant": bool(q[l, h] < alpha)})
    return pd.DataFrame(rows)


def score_column(tokens, method):
    """Per-token score shown for a method: token_sum, except Saliency: token_l2, the gradient's
    norm per token (its token_sum is a sum of |gradient| over D, docs/hdf5-schema.md), the
    ranking attrun's /agreement and /faithfulness datasets use too."""
    if method == "saliency" and f"{method}_l2" in tokens.columns:
        return f"{method}_l2"
    return method


def token_ranking(tokens, method, min_count, top):
    t = tokens[~tokens["special"]]
    g = t.groupby("text")[method].agg(["mean", "count"]).reset_index()
    g = g[g["count"] >= min_count].sort_values(["mean", "text"], ascending=[False, True])
    return g.head(top), g.tail(top).iloc[::-1], g


def captum_color(a):
    """Captum visualize_text's colour of a normalised attribution in [-1, 1]."""
    if a > 0:
        return f"hsl(120, 75%, {100 - int(50 * a)}%)"
    return f"hsl(0, 75%, {100 - int(-40 * a)}%)"


def coloured_tokens(texts, scores, special):
    """Scores normalised by the largest |score| of the example's non-special tokens (Captum
    uses all tokens; [CLS]/[SEP] often dominate and would wash out the words), clipped to +-1."""
    content = scores[~special & np.isfinite(scores)]
    if not len(content):
        content = scores[np.isfinite(scores)]
    m = np.abs(content).max() if len(content) else 0.0
    out = []
    for t, s, sp in zip(texts, scores, special):
        a = float(np.clip(s / m, -1, 1)) if m > 0 and np.isfinite(s) else 0.0
        cls = "tok special" if sp else "tok"
        out.append(f'<span class="{cls}" style="background-color:{captum_color(a)}" '
                   f'title="{html.escape(t)}: {s:.4g}">{html.escape(t)}</span>')
    return " ".join(out)


def attention_grid(att, texts, title):
    """att [L, H, T, T]: one small heatmap per head."""
    L, H, T, _ = att.shape
    s = 1.6 if T <= 24 else 1.2
    fig, axes = plt.subplots(L, H, figsize=(s * H + 0.5, s * L + 0.5), squeeze=False)
    for l in range(L):
        for h in range(H):
            ax = axes[l][h]
            ax.imshow(att[l, h], cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if l == 0:
                ax.set_title(f"head {h}", fontsize=7)
            if h == 0:
                ax.set_ylabel(f"layer {l}", fontsize=7)
    if T <= 24:
        ax = axes[L - 1][0]
        ax.set_xticks(range(T))
        ax.set_xticklabels(texts, rotation=90, fontsize=5)
    fig.suptitle(title, fontsize=9)
    return png_bytes(fig)


def choose_examples(ex, wanted, n):
    if wanted:
        return [i for i in wanted if 0 <= i < len(ex)]
    if ex["correct"].notna().any():
        good = list(ex.index[ex["correct"].fillna(False).astype(bool)][: (n + 1) // 2])
        bad = list(ex.index[(~ex["correct"].fillna(True).astype(bool))][: n // 2])
        chosen = sorted(good + bad)
        if len(chosen) < n:
            chosen = sorted(set(chosen) | set(range(min(n, len(ex)))))[:n]
        return chosen
    return list(range(min(n, len(ex))))


CSS = """
body { font-family: sans-serif; margin: 1.5em; max-width: 1150px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; } td.txt { text-align: left; }
.tok { padding: 1px 2px; border-radius: 2px; line-height: 1.9; font-family: monospace; }
.tok.special { outline: 1px dashed #999; }
.grid { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
.example { border: 1px solid #ccc; padding: 0.6em; margin: 0.8em 0; }
.method { margin: 0.3em 0; } .method b { display: inline-block; min-width: 9em; }
.note { color: #666; font-size: 0.85em; }
"""


# Marks <body data-images="ok"> once every inlined image decoded (checked by the test in
# headless Chromium; harmless for readers).
IMG_CHECK = """<script>
window.addEventListener("load", function () {
  var bad = 0, imgs = document.images;
  for (var i = 0; i < imgs.length; i++) if (!imgs[i].complete || !imgs[i].naturalWidth) bad++;
  document.body.setAttribute("data-images", bad ? "failed " + bad : "ok");
});
</script>"""


def table_html(df, float_fmt="{:.4g}", text_cols=()):
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for _, r in df.iterrows():
        cells = []
        for c in df.columns:
            v = r[c]
            if isinstance(v, (float, np.floating)):
                s = float_fmt.format(v)
            else:
                s = str(v)
            cls = ' class="txt"' if c in text_cols else ""
            cells.append(f"<td{cls}>{html.escape(s)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("result")
    ap.add_argument("outdir")
    ap.add_argument("--examples", default="", help="comma-separated example rows to show (default: chosen)")
    ap.add_argument("--n-examples", type=int, default=4)
    ap.add_argument("--alpha", type=float, default=0.05, help="BH false discovery rate (default 0.05)")
    ap.add_argument("--min-count", type=int, default=3, help="least occurrences of a token to rank it")
    ap.add_argument("--top", type=int, default=15, help="tokens listed at each end of the ranking")
    args = ap.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)

    try:
        r = AttrunResult(args.result)
    except (OSError, AttrunFormatError) as e:
        print(f"report.py: {args.result}: {e}", file=sys.stderr)
        return 2
    ex = r.examples()
    tokens = r.tokens()
    methods = r.methods()
    parts = [f"<h1>attrun analysis: {html.escape(os.path.basename(args.result))}</h1>",
             f'<p id="meta">{r.n} examples, {r.n_tokens} tokens, methods: {html.escape(", ".join(methods))}; '
             f'model {html.escape(str(r.f.attrs.get("model", "?")))}; '
             f'complete = {r.complete}</p>']
    if not r.complete:
        parts.append('<p class="note"><b>Warning:</b> the file is not marked complete.</p>')

    # ---- per-head heatmaps ----
    stats = {}
    parts.append('<h2>Per-head statistics (mean over examples)</h2><section id="heatmaps"><div class="grid">')
    for group in STAT_GROUPS:
        for s in r.stat_names(group):
            v = r.f[f"{group}/{s}"][...].astype(np.float64)
            if v.ndim != 3 or v.shape[0] != r.n:
                print(f"report.py: {args.result}: {group}/{s} has shape {v.shape}, expected [N, L, H]; skipped",
                      file=sys.stderr)
                continue
            key = s if group == "/attention/stats" else f"conductance/{s}"
            stats[key] = v
            if np.isnan(v).all():
                continue  # e.g. entropy of conductance: not applicable
            with np.errstate(invalid="ignore"):
                mean = np.nanmean(v, axis=0)
            data = head_heatmap(mean, f"{key} (mean over {r.n})")
            save_png(data, args.outdir, f"heatmap_{group.strip('/').split('/')[0]}_{s}.png")
            parts.append(img_tag(data, f"heatmap {key}"))
    parts.append("</div></section>")
    if not stats:
        parts.append('<p class="note">No /attention/stats in this file.</p>')

    # ---- cohorts ----
    parts.append('<h2>Correct vs mispredicted</h2><section id="cohorts">')
    labelled = ex["correct"].notna().to_numpy()
    n_ok = int(ex["correct"].fillna(False).astype(bool).sum())
    n_bad = int(labelled.sum()) - n_ok
    if stats and n_ok >= 2 and n_bad >= 2:
        sel = {k: v[labelled] for k, v in stats.items()}
        corr = ex["correct"][labelled].astype(bool).to_numpy()
        ct = cohort_tests(sel, corr, args.alpha)
        ct.to_csv(os.path.join(args.outdir, "cohort_tests.csv"), index=False)
        parts.append(f"<p>{n_ok} correct, {n_bad} mispredicted (prediction = argmax of the logits). "
                     f"Two-sided Mann-Whitney U per head, Benjamini-Hochberg over the heads of each "
                     f"statistic, q &lt; {args.alpha} marked *.</p><div class=\"grid\">")
        for key, v in stats.items():
            c = ct[ct["stat"] == key]
            L, H = v.shape[1:]
            diff = (c["mean_correct"] - c["mean_mispredicted"]).to_numpy().reshape(L, H)
            if not np.isfinite(diff).any():
                continue
            marks = c["significant"].to_numpy().reshape(L, H)
            scale = np.nanmax(np.abs(c[["mean_correct", "mean_mispredicted"]].to_numpy()))
            data = head_heatmap(diff, f"{key}: correct - mispredicted", cmap="coolwarm", marks=marks, center=True,
                                vfloor=0.01 * scale if np.isfinite(scale) else 0.0)
            save_png(data, args.outdir, f"cohort_{key.replace('/', '_')}.png")
            parts.append(img_tag(data, f"cohort {key}"))
        parts.append("</div>")
        sig = ct[ct["significant"]].sort_values("q")
        parts.append(f'<p id="n-significant">{len(sig)} significant heads (q &lt; {args.alpha})</p>')
        if len(sig):
            parts.append(table_html(sig.head(40)[["stat", "layer", "head", "mean_correct", "mean_mispredicted",
                                                   "U", "p", "q"]], text_cols=("stat",)))
    else:
        parts.append(f'<p class="note">Cohort tests skipped: {n_ok} correct and {n_bad} mispredicted '
                     f'labelled examples (need at least 2 of each, and statistics).</p>')
    parts.append("</section>")

    # ---- tokens across the corpus ----
    parts.append('<h2>Tokens by mean attribution over the corpus</h2><section id="tokens">')
    parts.append(f'<p class="note">Non-special tokens seen at least {args.min_count} times; '
                 f"attribution = token_sum (saliency: token_l2, as in /agreement and /faithfulness).</p>"
                 f"<div class=\"grid\">")
    for m in methods:
        col = score_column(tokens, m)
        hi, lo, full = token_ranking(tokens, col, args.min_count, args.top)
        full.to_csv(os.path.join(args.outdir, f"tokens_{m}.csv"), index=False)
        parts.append(f'<div class="tokrank" data-method="{html.escape(m)}"><b>{html.escape(col)}</b>'
                     f"<br>highest{table_html(hi, text_cols=('text',))}"
                     f"lowest{table_html(lo, text_cols=('text',))}</div>")
    parts.append("</div></section>")

    # ---- agreement and faithfulness ----
    cols = [c for c in ex.columns if c.startswith("agreement/") or c.startswith("faithfulness/")]
    parts.append('<h2>Agreement with attention, faithfulness</h2><section id="summary">')
    if cols:
        summ = pd.DataFrame({"quantity": cols, "mean": [ex[c].mean() for c in cols],
                             "std": [ex[c].std() for c in cols], "n": [int(ex[c].notna().sum()) for c in cols]})
        summ.to_csv(os.path.join(args.outdir, "summary.csv"), index=False)
        parts.append(table_html(summ, text_cols=("quantity",)))
    else:
        parts.append('<p class="note">No /agreement or /faithfulness groups in this file.</p>')
    parts.append("</section>")

    # ---- chosen examples ----
    wanted = [int(s) for s in args.examples.split(",") if s.strip()]
    chosen = choose_examples(ex, wanted, args.n_examples)
    has_attn = "/attention/probs" in r.f and "/attention/offsets" in r.f
    parts.append('<h2>Examples</h2><section id="examples">')
    for i in chosen:
        a, b = int(r.tok_off[i]), int(r.tok_off[i + 1])
        t = tokens.iloc[a:b]
        row = ex.iloc[i]
        lab = int(row["label"])
        head = (f"example {i} (corpus row {int(row['index'])}): label {lab if lab >= 0 else '-'}, "
                f"predicted {int(row['predicted'])}, explained target {int(row['target'])}")
        parts.append(f'<div class="example" data-index="{i}"><p><b>{html.escape(head)}</b></p>')
        if "text" in ex.columns:
            parts.append(f'<p class="txt">{html.escape(str(row["text"]))}</p>')
        for m in methods:
            parts.append(f'<div class="method" data-method="{html.escape(m)}"><b>{html.escape(m)}</b> '
                         f'{coloured_tokens(list(t["text"]), t[score_column(t, m)].to_numpy(np.float64), t["special"].to_numpy())}'
                         f"</div>")
        if has_attn:
            try:
                att = r.attention(i)
                data = attention_grid(att, list(t["text"]), f"example {i}: attention per layer and head")
                parts.append(img_tag(data, f"attention example {i}", cls="attention"))
            except AttrunFormatError as e:
                parts.append(f'<p class="note">attention not shown: {html.escape(str(e))}</p>')
        parts.append("</div>")
    parts.append("</section>")

    page = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>attrun analysis</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}{IMG_CHECK}</body></html>")
    with open(os.path.join(args.outdir, "report.html"), "w", encoding="utf-8") as f:
        f.write(page)
    r.close()
    print(f"report.py: wrote {os.path.join(args.outdir, 'report.html')} ({len(page)} bytes, "
          f"{len(chosen)} examples, {len(stats)} statistics)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
