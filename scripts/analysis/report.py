#!/usr/bin/python3
"""Analysis report of an attrun result: report.py RESULT.h5 OUTDIR [options]

Writes into OUTDIR (definitions: docs/analysis.md §5):
  heatmap_<group>_<stat>.png  per-head (layer x head) mean of each statistic over the corpus
  cohort_tests.csv            cohort a vs b (default: correct vs wrong predictions), per statistic
                              and head: means, effect (Cohen's d / rank-biserial r), p, BH q, and
                              the length-controlled coefficient, effect_len, p_len, q_len
  cohort_summary.csv          per statistic: significant heads before/after length control
  cohort_<group>_<stat>.png   mean(a) - mean(b) per head, '*' where q < --alpha
  categories_<group>.csv/png  attention received per token category x head (/…/categories/received)
  sinks.csv                   sink rate per layer (/attention/stats/sink, its epsilon), first/bos
  massive.csv                 massive activations per layer (top |h| / median |h|)
  tokens_<method>.csv         token strings by mean attribution (token_sum) over the corpus
  summary.csv                 corpus means of the agreement and faithfulness columns
  report.html                 one self-contained page (images inlined as base64): all of the
                              above plus chosen examples with tokens coloured by attribution
                              (as Captum's visualize_text), the masked-LM position framed, the
                              rollout from that position, and per-head attention heatmaps
Needs numpy, pandas, h5py, matplotlib, scipy (Debian packages python3-numpy python3-pandas
python3-h5py python3-matplotlib python3-scipy).
"""
import argparse
import html
import os
import sys
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attrun_load import AttrunFormatError, AttrunResult  # noqa: E402
from report_cohorts import CohortError, cohort_levels, compare, pick_two, summary_by_stat  # noqa: E402
from report_figures import (CSS, IMG_CHECK, attention_grid, coloured_tokens, head_heatmap, img_tag,  # noqa: E402
                            layer_plot, matrix_heatmap, save_png, table_html)

STAT_GROUPS = ("/attention/stats", "/conductance/stats")
EFFECT_NAME = {"welch": "Cohen's d", "mannwhitney": "rank-biserial r"}
TEST_NAME = {"welch": "Welch's t-test", "mannwhitney": "Mann-Whitney U"}


def nanmean0(v):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells stay NaN
        return np.nanmean(v, axis=0)


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


# ---------- sections: each returns its HTML parts ----------

def section_heatmaps(r, stats, outdir, warn):
    parts = ['<h2>Per-head statistics (mean over examples)</h2><section id="heatmaps"><div class="grid">']
    for group in STAT_GROUPS:
        for s in r.stat_names(group):
            v = r.f[f"{group}/{s}"][...].astype(np.float64)
            if v.ndim != 3 or v.shape[0] != r.n:
                warn(f"{group}/{s} has shape {v.shape}, expected [N, L, H]; skipped")
                continue
            key = s if group == "/attention/stats" else f"conductance/{s}"
            stats[key] = v
            if np.isnan(v).all():
                continue  # e.g. entropy of conductance: not applicable
            data = head_heatmap(nanmean0(v), f"{key} (mean over {r.n})")
            save_png(data, outdir, f"heatmap_{group.strip('/').split('/')[0]}_{s}.png")
            parts.append(img_tag(data, f"heatmap {key}"))
    parts.append("</div></section>")
    if not stats:
        parts.append('<p class="note">No /attention/stats in this file.</p>')
    return parts


def section_cohorts(r, ex, stats, args):
    parts = ['<h2>Cohorts</h2><section id="cohorts">']
    levels, source = cohort_levels(ex, args.cohort_column, args.cohort_file)
    ab = pick_two(levels, args.cohorts)
    if ab is None or not stats:
        parts.append(f'<p class="note">Cohort tests skipped: {source} gives '
                     f'{len({x for x in levels if x is not None})} level(s) '
                     f'(need two, with at least 2 examples each, and statistics).</p></section>')
        return parts
    a, b = ab
    in_a = (levels == a).to_numpy()
    in_b = (levels == b).to_numpy()
    if in_a.sum() < 2 or in_b.sum() < 2:
        parts.append(f'<p class="note">Cohort tests skipped: {int(in_a.sum())} examples in {html.escape(a)}, '
                     f'{int(in_b.sum())} in {html.escape(b)} (need at least 2 of each).</p></section>')
        return parts
    n_tok = ex["n_tokens"].to_numpy()
    ct = compare(stats, in_a, in_b, n_tok, args.test, args.length_control, args.strata, args.alpha)
    ct.insert(0, "cohort_b", b)
    ct.insert(0, "cohort_a", a)
    ct.to_csv(os.path.join(args.outdir, "cohort_tests.csv"), index=False)
    summ = summary_by_stat(ct, args.length_control)
    summ.to_csv(os.path.join(args.outdir, "cohort_summary.csv"), index=False)
    pred_note = ""
    if args.cohort_file is None and args.cohort_column is None:
        pred_note = (" Correct = /examples/correct." if "/examples/correct" in r.f else
                     " Correct = the model's argmax (logits; masked LM: the top token at the mask) equals the label.")
    ctrl = {"none": "none",
            "ols": "OLS of the statistic on cohort + length (tokens per example)",
            "strata": f"OLS of the statistic on cohort + {args.strata} length strata (quantile bins)"}[args.length_control]
    if args.test == "mannwhitney" and args.length_control != "none":
        ctrl += " on ranks (Conover-Iman rank ANCOVA" + (", length ranked too)" if args.length_control == "ols" else ")")
    la, lb = ex["n_tokens"][in_a], ex["n_tokens"][in_b]
    parts.append(
        f'<p id="cohort-def">Cohort a = <b>{html.escape(a)}</b> ({int(in_a.sum())} examples, mean length '
        f'{la.mean():.1f} tokens), cohort b = <b>{html.escape(b)}</b> ({int(in_b.sum())}, mean length '
        f'{lb.mean():.1f}); from {html.escape(source)}.{pred_note} Test: two-sided {TEST_NAME[args.test]}, '
        f'effect = {EFFECT_NAME[args.test]} (a - b). Benjamini-Hochberg q over the heads of each statistic; '
        f'q &lt; {args.alpha} marked *. Length control: {html.escape(ctrl)}; effect_len = the cohort '
        f'coefficient / residual sd, q_len its BH q.</p>')
    parts.append('<div id="cohort-summary"><b>Per statistic</b> (top head = smallest q before control)'
                 + table_html(summ, text_cols=("stat", "top_head"), table_id="cohort-summary-table") + "</div>")
    parts.append('<div class="grid">')
    for key, v in stats.items():
        c = ct[ct["stat"] == key]
        L, H = v.shape[1:]
        diff = (c["mean_a"] - c["mean_b"]).to_numpy().reshape(L, H)
        if not np.isfinite(diff).any() or not np.isfinite(c["p"]).any():
            continue  # no head testable (e.g. a sink indicator that is 0 everywhere)
        marks = c["significant"].to_numpy().reshape(L, H)
        scale = np.nanmax(np.abs(c[["mean_a", "mean_b"]].to_numpy()))
        data = head_heatmap(diff, f"{key}: {a} - {b}", cmap="coolwarm", marks=marks, center=True,
                            vfloor=0.01 * scale if np.isfinite(scale) else 0.0)
        save_png(data, args.outdir, f"cohort_{key.replace('/', '_')}.png")
        parts.append(img_tag(data, f"cohort {key}"))
    parts.append("</div>")
    sig_cols = ["significant"] + (["significant_len"] if args.length_control != "none" else [])
    sig = ct[ct[sig_cols].any(axis=1)].sort_values("q")
    n_len = int(ct["significant_len"].sum()) if args.length_control != "none" else None
    parts.append(f'<p id="n-significant">{int(ct["significant"].sum())} significant heads (q &lt; {args.alpha})'
                 + (f", {n_len} after length control" if n_len is not None else "") + "</p>")
    if len(sig):
        cols = ["stat", "layer", "head", "mean_a", "mean_b", "effect", "p", "q"]
        if args.length_control != "none":
            cols += ["coef_len", "effect_len", "p_len", "q_len"]
        parts.append(table_html(sig.head(40)[cols], text_cols=("stat",), table_id="cohort-significant"))
    parts.append("</section>")
    return parts


def section_categories(r, tok, args, warn):
    parts = ['<h2>Attention by token category</h2><section id="categories">']
    names = r.category_names()
    if names is None:
        parts.append('<p class="note">No /tokens/category in this file (config analysis.categories).</p></section>')
        return parts
    K = len(names)
    share = None
    if "/examples/category_count" in r.f:  # the category's share of the example's tokens
        cnt = r.f["/examples/category_count"][...].astype(np.float64)
        share = cnt / np.maximum(cnt.sum(axis=1, keepdims=True), 1)
    counts = tok["category"].value_counts().reindex(names).fillna(0).astype(int)
    parts.append('<p>Tokens per category: ' + ", ".join(f"{html.escape(k)} {int(v)}" for k, v in counts.items())
                 + ". Heatmaps: mean over examples of the attention a category's tokens receive (sum over its "
                 "keys, mean over queries; a head's K values sum to 1); lift = that mean / the mean share "
                 "of the category's tokens (1 = attention in proportion to the tokens).</p><div class=\"grid\">")
    rows = []
    for group in ("/attention", "/conductance"):
        p = f"{group}/categories/received"
        if p not in r.f:
            continue
        v = r.f[p][...].astype(np.float64)
        if v.ndim != 4 or v.shape[0] != r.n or v.shape[3] != K:
            warn(f"{p} has shape {v.shape}, expected [N, L, H, {K}]; skipped")
            continue
        N, L, H, _ = v.shape
        mean = nanmean0(v)  # [L, H, K]
        present = counts.to_numpy() > 0
        grid = mean.transpose(2, 0, 1).reshape(K, L * H)[present]  # categories x (layer.head)
        xt = [f"{l}.{h}" for l in range(L) for h in range(H)]
        yt = [n for n, pr in zip(names, present) if pr]
        tag = group.strip("/")
        data = matrix_heatmap(grid, f"{tag}: received per category (mean over {N})", "layer.head", "category",
                              xticks=xt, yticks=yt, cmap="viridis")
        save_png(data, args.outdir, f"categories_{tag}.png")
        parts.append(img_tag(data, f"categories {tag}", cls="heatmap categories"))
        if share is not None:
            ms = share.mean(axis=0)  # [K]
            with np.errstate(invalid="ignore", divide="ignore"):
                lift = mean / np.where(ms > 0, ms, np.nan)[None, None, :]
            lg = lift.transpose(2, 0, 1).reshape(K, L * H)[present]
            data = matrix_heatmap(lg, f"{tag}: lift per category", "layer.head", "category", xticks=xt, yticks=yt,
                                  cmap="magma")
            save_png(data, args.outdir, f"categories_{tag}_lift.png")
            parts.append(img_tag(data, f"categories lift {tag}", cls="heatmap categories"))
        for l in range(L):
            for h in range(H):
                for k in range(K):
                    rows.append({"group": tag, "layer": l, "head": h, "category": names[k],
                                 "received": mean[l, h, k],
                                 "share": share.mean(axis=0)[k] if share is not None else np.nan})
    parts.append("</div>")
    if rows:
        pd.DataFrame(rows).to_csv(os.path.join(args.outdir, "categories.csv"), index=False)
    mass = []
    for m in r.methods():
        p = f"/attributions/{m}/category_mass"
        if p in r.f:
            mass.append(pd.Series(nanmean0(r.f[p][...].astype(np.float64)), index=names, name=m))
    if mass:
        t = pd.concat(mass, axis=1).loc[counts.to_numpy() > 0].reset_index().rename(columns={"index": "category"})
        t.to_csv(os.path.join(args.outdir, "category_mass.csv"), index=False)
        parts.append("<p>Attribution mass per category (mean over examples of Σ|token_sum| of the category / "
                     "Σ|token_sum|):</p>" + table_html(t, text_cols=("category",), table_id="category-mass"))
    parts.append("</section>")
    return parts


def section_sinks(r, args):
    parts = ['<h2>Attention sinks</h2><section id="sinks">']
    if "/attention/stats/sink" not in r.f:
        parts.append('<p class="note">No /attention/stats/sink in this file.</p></section>')
        return parts
    d = r.f["/attention/stats/sink"]
    eps = d.attrs.get("epsilon")
    sink = d[...].astype(np.float64)  # [N, L, H]
    L = sink.shape[1]
    t = pd.DataFrame({"layer": np.arange(L)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t["sink_rate"] = np.nanmean(sink, axis=(0, 2))
        for s in ("first", "bos"):
            p = f"/attention/stats/{s}"
            if p in r.f:
                t[f"{s}_mean"] = np.nanmean(r.f[p][...].astype(np.float64), axis=(0, 2))
    t.to_csv(os.path.join(args.outdir, "sinks.csv"), index=False)
    eps_txt = f"{float(eps):g}" if eps is not None else "? (no epsilon attribute)"
    parts.append(f'<p>Sink rate per layer = the fraction of (example, head) pairs whose mean attention on key 0 '
                 f'exceeds ε = <span id="sink-epsilon">{eps_txt}</span> (Gu et al. 2024); first = mean '
                 f'attention on position 0, bos = on the added BOS token (NaN without one).</p>'
                 + table_html(t, table_id="sink-table"))
    parts.append(img_tag(layer_plot(t["sink_rate"].to_numpy(), f"sink rate (ε = {eps_txt})", "rate"),
                         "sink rate per layer", cls="plot"))
    parts.append("</section>")
    return parts


def section_massive(r, args):
    parts = ['<h2>Massive activations</h2><section id="massive">']
    if "/hidden/massive/top_values" not in r.f or "/hidden/massive/median_abs" not in r.f:
        parts.append('<p class="note">No /hidden/massive in this file (config analysis.massive).</p></section>')
        return parts
    top = r.f["/hidden/massive/top_values"][...].astype(np.float64)  # [N, L, 3]
    med = r.f["/hidden/massive/median_abs"][...].astype(np.float64)  # [N, L]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = top[:, :, 0] / med
    L = top.shape[1]
    t = pd.DataFrame({"layer": np.arange(L), "top_mean": top[:, :, 0].mean(axis=0), "top_max": top[:, :, 0].max(axis=0),
                      "median_abs_mean": med.mean(axis=0), "ratio_mean": np.nanmean(ratio, axis=0),
                      "ratio_max": np.nanmax(ratio, axis=0)})
    if "/hidden/massive/top_positions" in r.f:
        pos = r.f["/hidden/massive/top_positions"][:, :, 0]
        t["top_at_position0"] = (pos == 0).mean(axis=0)
    if "/hidden/massive/top_dims" in r.f:
        dims = r.f["/hidden/massive/top_dims"][:, :, 0]
        t["most_common_dim"] = [int(np.bincount(dims[:, l]).argmax()) for l in range(L)]
    t.to_csv(os.path.join(args.outdir, "massive.csv"), index=False)
    parts.append("<p>Per layer: the largest |hidden state| of each example (top), the median |hidden state| "
                 "and their ratio (Sun et al. 2024: ≈ 1000× in large LLMs); top_at_position0 = the fraction of "
                 "examples whose largest value sits on token 0.</p>" + table_html(t, table_id="massive-table"))
    parts.append("</section>")
    return parts


def section_tokens(tokens, methods, args):
    parts = ['<h2>Tokens by mean attribution over the corpus</h2><section id="tokens">',
             f'<p class="note">Non-special tokens seen at least {args.min_count} times; '
             f"attribution = token_sum (saliency: token_l2, as in /agreement and /faithfulness).</p>"
             f"<div class=\"grid\">"]
    for m in methods:
        col = score_column(tokens, m)
        hi, lo, full = token_ranking(tokens, col, args.min_count, args.top)
        full.to_csv(os.path.join(args.outdir, f"tokens_{m}.csv"), index=False)
        parts.append(f'<div class="tokrank" data-method="{html.escape(m)}"><b>{html.escape(col)}</b>'
                     f"<br>highest{table_html(hi, text_cols=('text',))}"
                     f"lowest{table_html(lo, text_cols=('text',))}</div>")
    parts.append("</div></section>")
    return parts


def section_summary(ex, args):
    cols = [c for c in ex.columns if c.startswith("agreement/") or c.startswith("faithfulness/")]
    parts = ['<h2>Agreement with attention, faithfulness</h2><section id="summary">']
    if cols:
        summ = pd.DataFrame({"quantity": cols, "mean": [ex[c].mean() for c in cols],
                             "std": [ex[c].std() for c in cols], "n": [int(ex[c].notna().sum()) for c in cols]})
        summ.to_csv(os.path.join(args.outdir, "summary.csv"), index=False)
        parts.append(table_html(summ, text_cols=("quantity",)))
    else:
        parts.append('<p class="note">No /agreement or /faithfulness groups in this file.</p>')
    parts.append("</section>")
    return parts


def example_header(r, row, i):
    """One line saying what was explained and predicted; a masked LM's ids as token strings."""
    lab = int(row["label"])
    pred = row["predicted"]
    pred_s = "?" if pd.isna(pred) else str(int(pred))
    corr = row["correct"]
    verdict = "" if pd.isna(corr) else (" (correct)" if bool(corr) else " (wrong)")
    if not r.is_mlm():
        return (f"example {i} (corpus row {int(row['index'])}): label {lab if lab >= 0 else '-'}, "
                f"predicted {pred_s}{verdict}, explained target {int(row['target'])}")
    q = lambda s: repr(str(s))  # noqa: E731  token strings quoted: 'Ġmax'
    s = (f"example {i} (corpus row {int(row['index'])}): mask at position {int(row['mlm_position'])}; "
         f"explained target {q(row['target_token'])} (id {int(row['target'])}), "
         f"predicted {q(row['predicted_token'])}{verdict}")
    if lab >= 0:
        s += f", label {q(row['label_token'])} (id {lab})"
    return s


def example_candidates(row):
    """The top-5 tokens at the mask with their probabilities, and the candidates with their logits."""
    out = []
    tops = [c for c in row.index if c.startswith("mlm_top_tokens@")]
    if tops:
        items = [f"{html.escape(repr(str(row[c])))} {row[c.replace('tokens', 'probs')]:.3f}"
                 if c.replace("tokens", "probs") in row.index else html.escape(repr(str(row[c]))) for c in tops]
        out.append(f'<p class="mlm-top">top-5 at the mask (probability): {", ".join(items)}</p>')
    cands = [c for c in row.index if c.startswith("candidate_tokens@")]
    if cands:
        items = []
        for c in cands:
            lg = c.replace("candidate_tokens@", "candidate_logits@")
            items.append(f"{html.escape(repr(str(row[c])))}"
                         + (f" {row[lg]:.3f}" if lg in row.index and np.isfinite(row[lg]) else ""))
        out.append(f'<p class="mlm-candidates">candidates (logit): {", ".join(items)}</p>')
    return out


def section_examples(r, ex, tokens, methods, args):
    wanted = [int(s) for s in args.examples.split(",") if s.strip()]
    chosen = choose_examples(ex, wanted, args.n_examples)
    has_attn = "/attention/probs" in r.f and "/attention/offsets" in r.f
    parts = ['<h2>Examples</h2><section id="examples">']
    if r.is_mlm():
        parts.append('<p class="note">Masked LM: the explained mask position is framed in red; '
                     + ("the rollout row shown is from that position (computed here from /attention/probs; "
                        "/attributions/rollout is from position 0)." if has_attn else
                        "/attributions/rollout is from position 0 (save attention.save to see the rollout "
                        "from the mask).") + "</p>")
    for i in chosen:
        a, b = int(r.tok_off[i]), int(r.tok_off[i + 1])
        t = tokens.iloc[a:b]
        row = ex.iloc[i]
        parts.append(f'<div class="example" data-index="{i}"><p><b>{html.escape(example_header(r, row, i))}</b></p>')
        parts += example_candidates(row)
        if "text" in ex.columns:
            parts.append(f'<p class="txt">{html.escape(str(row["text"]))}</p>')
        texts, special = list(t["text"]), t["special"].to_numpy()
        explained = t["explained"].to_numpy() if "explained" in t.columns else None
        for m in methods:
            if m == "rollout" and r.is_mlm() and has_attn:
                continue  # shown from the mask below
            parts.append(f'<div class="method" data-method="{html.escape(m)}"><b>{html.escape(m)}</b> '
                         f'{coloured_tokens(texts, t[score_column(t, m)].to_numpy(np.float64), special, explained)}'
                         f"</div>")
        if has_attn:
            try:
                if r.is_mlm():
                    ro = r.rollout(i)
                    parts.append(f'<div class="method" data-method="rollout-mask"><b>rollout (mask)</b> '
                                 f'{coloured_tokens(texts, ro, special, explained)}</div>')
                att = r.attention(i)
                data = attention_grid(att, texts, f"example {i}: attention per layer and head")
                parts.append(img_tag(data, f"attention example {i}", cls="attention"))
            except (AttrunFormatError, IndexError) as e:
                parts.append(f'<p class="note">attention not shown: {html.escape(str(e))}</p>')
        parts.append("</div>")
    parts.append("</section>")
    return parts, chosen


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("result")
    ap.add_argument("outdir")
    ap.add_argument("--examples", default="", help="comma-separated example rows to show (default: chosen)")
    ap.add_argument("--n-examples", type=int, default=4)
    ap.add_argument("--alpha", type=float, default=0.05, help="BH false discovery rate (default 0.05)")
    ap.add_argument("--test", choices=("mannwhitney", "welch"), default="mannwhitney",
                    help="two-sample test per head (default mannwhitney; welch: Welch's t-test)")
    ap.add_argument("--length-control", choices=("ols", "strata", "none"), default="ols",
                    help="control the cohort comparison for example length: ols (length as a covariate, "
                         "default), strata (length quantile strata), none")
    ap.add_argument("--strata", type=int, default=4, help="length strata for --length-control strata (default 4)")
    ap.add_argument("--cohort-column", default=None,
                    help="column of the examples table that defines the cohorts (default: correct)")
    ap.add_argument("--cohort-file", default=None,
                    help="CSV with columns cohort and example (file row) or index (corpus row)")
    ap.add_argument("--cohorts", default=None, help="the two cohort levels to compare, A,B")
    ap.add_argument("--min-count", type=int, default=3, help="least occurrences of a token to rank it")
    ap.add_argument("--top", type=int, default=15, help="tokens listed at each end of the ranking")
    ap.add_argument("--vocab", default=None, help="vocabulary file or model directory to decode token ids "
                                                  "(default: the model directory named in the file, if found)")
    args = ap.parse_args(argv)
    if args.strata < 2:
        ap.error("--strata must be at least 2")
    if not 0 < args.alpha < 1:
        ap.error("--alpha must be in (0, 1)")
    if args.cohort_file and args.cohort_column:
        ap.error("--cohort-file and --cohort-column exclude each other")

    try:
        r = AttrunResult(args.result, vocab=args.vocab)
    except (OSError, AttrunFormatError) as e:
        print(f"report.py: {args.result}: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.outdir, exist_ok=True)

    def warn(msg):
        print(f"report.py: {args.result}: {msg}", file=sys.stderr)

    try:
        ex = r.examples()
        tokens = r.tokens()
        methods = r.methods()
        parts = [f"<h1>attrun analysis: {html.escape(os.path.basename(args.result))}</h1>",
                 f'<p id="meta">{r.n} examples, {r.n_tokens} tokens, methods: {html.escape(", ".join(methods))}; '
                 f'model {html.escape(str(r.f.attrs.get("model", "?")))}'
                 f'{" (masked LM)" if r.is_mlm() else ""}; complete = {r.complete}</p>']
        if not r.complete:
            parts.append('<p class="note"><b>Warning:</b> the file is not marked complete.</p>')
        stats = {}
        parts += section_heatmaps(r, stats, args.outdir, warn)
        parts += section_cohorts(r, ex, stats, args)
        parts += section_categories(r, tokens, args, warn)
        parts += section_sinks(r, args)
        parts += section_massive(r, args)
        parts += section_tokens(tokens, methods, args)
        parts += section_summary(ex, args)
        ex_parts, chosen = section_examples(r, ex, tokens, methods, args)
        parts += ex_parts
    except (AttrunFormatError, CohortError) as e:
        print(f"report.py: {args.result}: {e}", file=sys.stderr)
        return 2

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
