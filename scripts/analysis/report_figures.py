"""Figures and HTML pieces of scripts/analysis/report.py: matplotlib heatmaps as PNG bytes, images
inlined as base64, tables, tokens coloured as Captum's visualize_text, the page's CSS."""
import base64
import html
import io
import os

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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


def matrix_heatmap(values, title, xlabel, ylabel, xticks=None, yticks=None, cmap="viridis", marks=None,
                   center=False, vfloor=0.0):
    """values [R, C] as a heatmap; ticks: labels (default 0..); marks [R, C] bool: '*' drawn on those
    cells; center: symmetric colour range around 0, at least +-vfloor."""
    R, C = values.shape
    long_x = xticks is not None and max((len(str(t)) for t in xticks), default=0) > 3
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * C, 1.0 + 0.4 * R + (0.6 if long_x else 0)))
    kw = {}
    if center:
        lim = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 0.0
        lim = max(lim, vfloor, 1e-12)  # rounding-level differences stay pale instead of saturating
        kw = {"vmin": -lim, "vmax": lim}
    im = ax.imshow(values, cmap=cmap, aspect="auto", **kw)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xticks(range(C))
    ax.set_yticks(range(R))
    if xticks is not None:
        ax.set_xticklabels(xticks, rotation=90 if long_x else 0, fontsize=7)
    if yticks is not None:
        ax.set_yticklabels(yticks, fontsize=7)
    ax.set_title(title, fontsize=9)
    if marks is not None:
        for i, j in zip(*np.nonzero(marks)):
            ax.text(j, i, "*", ha="center", va="center", color="black", fontsize=12, fontweight="bold")
    fig.colorbar(im, ax=ax)
    return png_bytes(fig)


def head_heatmap(values, title, cmap="viridis", marks=None, center=False, vfloor=0.0):
    """values [L, H]: one cell per (layer, head)."""
    return matrix_heatmap(values, title, "head", "layer", cmap=cmap, marks=marks, center=center, vfloor=vfloor)


def layer_plot(values, title, ylabel, labels=None):
    """values [L] or [S, L] (one line per series, labels): a per-layer line plot."""
    v = np.atleast_2d(values)
    fig, ax = plt.subplots(figsize=(4.2, 2.6))
    for k, row in enumerate(v):
        ax.plot(range(v.shape[1]), row, marker="o", label=None if labels is None else labels[k])
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.set_xticks(range(v.shape[1]))
    ax.set_title(title, fontsize=9)
    if labels is not None:
        ax.legend(fontsize=7)
    return png_bytes(fig)


def captum_color(a):
    """Captum visualize_text's colour of a normalised attribution in [-1, 1]."""
    if a > 0:
        return f"hsl(120, 75%, {100 - int(50 * a)}%)"
    return f"hsl(0, 75%, {100 - int(-40 * a)}%)"


def coloured_tokens(texts, scores, special, explained=None):
    """Scores normalised by the largest |score| of the example's non-special tokens (Captum
    uses all tokens; [CLS]/[SEP] often dominate and would wash out the words), clipped to +-1.
    explained: bool per token, the masked-LM position that was explained (drawn framed)."""
    content = scores[~special & np.isfinite(scores)]
    if not len(content):
        content = scores[np.isfinite(scores)]
    m = np.abs(content).max() if len(content) else 0.0
    out = []
    if explained is None:
        explained = np.zeros(len(texts), bool)
    for t, s, sp, ex in zip(texts, scores, special, explained):
        a = float(np.clip(s / m, -1, 1)) if m > 0 and np.isfinite(s) else 0.0
        cls = "tok" + (" special" if sp else "") + (" explained" if ex else "")
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


CSS = """
body { font-family: sans-serif; margin: 1.5em; max-width: 1150px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; } td.txt { text-align: left; }
.tok { padding: 1px 2px; border-radius: 2px; line-height: 1.9; font-family: monospace; }
.tok.special { outline: 1px dashed #999; }
.tok.explained { outline: 2px solid #c00; font-weight: bold; }
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


def table_html(df, float_fmt="{:.4g}", text_cols=(), table_id=None):
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
    tid = f' id="{html.escape(table_id)}"' if table_id else ""
    return f"<table{tid}><tr>{head}</tr>{''.join(body)}</table>"
