"""Load an attrun HDF5 result (docs/hdf5-schema.md) into pandas DataFrames.

    r = AttrunResult("result.h5")
    r.examples()      # one row per example: index, label, target, predicted, correct, text, logits...,
                      #   agreement/<method>/* and faithfulness/<method>/* columns
    r.tokens()        # one row per token: example, position, id, text, char span, special flag,
                      #   one column per attribution method (token_sum) and <method>_l2 (token_l2)
    r.head_stats()    # one row per example x layer x head: a column per /attention/stats/<name>
    r.attention(i)    # example i's attention probabilities, float32 [L, H, T, T]
    r.continuation(e) # continuation jobs: pair e's rows, [K, p_max] attribution matrix, targets, tokens

Only numpy, pandas and h5py (Debian: python3-numpy python3-pandas python3-h5py).
Every missing or malformed dataset raises AttrunFormatError naming the file and dataset.
"""
import h5py
import numpy as np
import pandas as pd


class AttrunFormatError(ValueError):
    """The file does not follow the attrun result schema."""


def _strings(ds):
    """A 1-D variable-length string dataset as a list of str."""
    try:
        return list(ds.asstr()[...])
    except TypeError:  # fixed-length or already str
        return [s.decode("utf-8") if isinstance(s, bytes) else str(s) for s in ds[...]]


class AttrunResult:
    def __init__(self, path, require_complete=False):
        self.path = str(path)
        self.f = h5py.File(self.path, "r")
        self.complete = int(self.f.attrs.get("complete", 0))
        if require_complete and not self.complete:
            raise AttrunFormatError(f"{self.path}: root attribute 'complete' is not 1 (unfinished run)")
        self.n = self._get("/examples/index").shape[0]
        self.tok_off = self._offsets("/tokens/offsets")
        self.n_tokens = int(self.tok_off[-1])

    # ---------- helpers ----------
    def close(self):
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _get(self, name):
        if name not in self.f:
            raise AttrunFormatError(f"{self.path}: dataset {name} is missing")
        return self.f[name]

    def _offsets(self, name):
        off = self._get(name)[...].astype(np.int64)
        if off.shape != (self.n + 1,) or off[0] != 0 or np.any(np.diff(off) < 0):
            raise AttrunFormatError(f"{self.path}: {name} must be {self.n + 1} non-decreasing offsets from 0, "
                                    f"got shape {off.shape}")
        return off

    def _rows(self, name, rows, ndim=None):
        """Dataset `name` checked to have `rows` rows."""
        d = self._get(name)
        if d.shape[0] != rows or (ndim is not None and d.ndim != ndim):
            raise AttrunFormatError(f"{self.path}: {name} has shape {d.shape}, expected {rows} rows"
                                    + (f" and {ndim} dimensions" if ndim else ""))
        return d[...]

    def methods(self):
        """Attribution methods with per-token results (including 'rollout' when present)."""
        g = self.f.get("/attributions")
        return [m for m in g.keys() if "token_sum" in g[m]] if g is not None else []

    def stat_names(self, group="/attention/stats"):
        g = self.f.get(group)
        return list(g.keys()) if g is not None else []

    def token_lengths(self):
        return np.diff(self.tok_off)

    # ---------- DataFrames ----------
    def examples(self):
        n = self.n
        df = pd.DataFrame({"index": self._rows("/examples/index", n, 1).astype(np.int64)})
        df["label"] = self._rows("/examples/label", n, 1).astype(np.int64) if "/examples/label" in self.f else -1
        df["target"] = self._rows("/examples/target", n, 1).astype(np.int64)
        df["n_tokens"] = self.token_lengths()
        if "/examples/text" in self.f:
            df["text"] = _strings(self._get("/examples/text"))
        if "/examples/logits" in self.f:
            logits = self._rows("/examples/logits", n, 2)
            for c in range(logits.shape[1]):
                df[f"logit_{c}"] = logits[:, c]
            # the model's prediction; /examples/target is the explained class, which a config
            # may set to the label (target: label), so it is not used to judge correctness
            df["predicted"] = logits.argmax(axis=1)
        elif "/examples/mlm_top_ids" in self.f:
            # masked LM: the most probable token at the mask (a label is a vocabulary id)
            df["predicted"] = self._rows("/examples/mlm_top_ids", n, 2)[:, 0].astype(np.int64)
        else:
            df["predicted"] = df["target"]
        has = df["label"] >= 0
        df["correct"] = pd.array(np.where(has, df["predicted"] == df["label"], pd.NA), dtype="boolean")
        for group in ("agreement", "faithfulness"):
            g = self.f.get(group)
            if g is None:
                continue
            for m in g.keys():
                for k in g[m].keys():
                    v = self._rows(f"/{group}/{m}/{k}", n)
                    if v.ndim == 1:
                        df[f"{group}/{m}/{k}"] = v
                    else:  # comprehensiveness / sufficiency [N,3]: k = 10, 20, 50 %
                        ks = g[m][k].attrs.get("k_percent", [10, 20, 50])
                        for j in range(v.shape[1]):
                            df[f"{group}/{m}/{k}@{int(ks[j]) if j < len(ks) else j}"] = v[:, j]
        return df

    def tokens(self):
        M = self.n_tokens
        ex = np.repeat(np.arange(self.n), self.token_lengths())
        df = pd.DataFrame({"example": ex, "position": np.arange(M) - self.tok_off[ex]})
        df["id"] = self._rows("/tokens/ids", M, 1).astype(np.int64)
        df["text"] = _strings(self._get("/tokens/text")) if "/tokens/text" in self.f else df["id"].astype(str)
        if len(df["text"]) != M:
            raise AttrunFormatError(f"{self.path}: /tokens/text has {len(df['text'])} strings, expected {M}")
        if "/tokens/char_span" in self.f:
            span = self._rows("/tokens/char_span", M, 2)
            df["char_start"], df["char_end"] = span[:, 0], span[:, 1]
        # special = the tokenizer's own special flags (/tokens/special), the rule the engine's
        # baselines and the statistics use. An empty character span is NOT that rule: a
        # byte-level token such as "Ġ" before a multibyte character has one too. Files written
        # before /tokens/special existed fall back to the old rules: the (0, 0) span, or, without
        # spans, the token text ([CLS], <s>, ...).
        if "/tokens/special" in self.f:
            df["special"] = self._rows("/tokens/special", M, 1) != 0
        elif "/tokens/char_span" in self.f:
            df["special"] = (span[:, 0] == 0) & (span[:, 1] == 0)
        else:
            df["special"] = df["text"].str.match(r"^(\[[A-Z]+\]|<[a-z/]+>)$")
        for m in self.methods():
            df[m] = self._rows(f"/attributions/{m}/token_sum", M, 1)
            if f"/attributions/{m}/token_l2" in self.f:
                df[f"{m}_l2"] = self._rows(f"/attributions/{m}/token_l2", M, 1)
        return df

    def continuation(self, e, method="ig"):
        """Pair e of a continuation job (corpus.continuation_field, docs/hdf5-schema.md): its rows r
        (one per explained continuation token, in order of j), the attribution matrix [K, p_max]
        (row j = /attributions/<method>/token_sum over its prefix, NaN past it), the explained token
        ids [K], and the token strings of the longest prefix plus its explained token."""
        ex = self._rows("/continuation/example", self.n, 1)
        rows = np.flatnonzero(ex == e)
        if rows.size == 0:
            raise IndexError(f"{self.path}: no continuation pair {e}")
        steps = self._rows("/continuation/step", self.n, 1)[rows]
        if np.any(steps != np.arange(rows.size)):
            raise AttrunFormatError(f"{self.path}: pair {e}: steps {steps} are not 0..{rows.size - 1}")
        ts = self._get(f"/attributions/{method}/token_sum")
        lens = self.token_lengths()[rows]
        mat = np.full((rows.size, int(lens.max())), np.nan, dtype=np.float32)
        for k, r in enumerate(rows):
            mat[k, :lens[k]] = ts[self.tok_off[r]:self.tok_off[r + 1]]
        targets = self._rows("/examples/target", self.n, 1)[rows].astype(np.int64)
        last = rows[-1]
        toks = _strings(self._get("/tokens/text"))[self.tok_off[last]:self.tok_off[last + 1]] \
            if "/tokens/text" in self.f else []
        return rows, mat, targets, toks

    def head_stats(self, group="/attention/stats"):
        names = self.stat_names(group)
        if not names:
            raise AttrunFormatError(f"{self.path}: group {group} is missing or empty")
        first = self._get(f"{group}/{names[0]}")
        if first.ndim != 3 or first.shape[0] != self.n:
            raise AttrunFormatError(f"{self.path}: {group}/{names[0]} has shape {first.shape}, "
                                    f"expected [{self.n}, L, H]")
        N, L, H = first.shape
        e, l, h = np.meshgrid(np.arange(N), np.arange(L), np.arange(H), indexing="ij")
        df = pd.DataFrame({"example": e.ravel(), "layer": l.ravel(), "head": h.ravel()})
        for s in names:
            v = self._get(f"{group}/{s}")
            if v.shape != (N, L, H):
                raise AttrunFormatError(f"{self.path}: {group}/{s} has shape {v.shape}, expected {(N, L, H)}")
            df[s] = v[...].astype(np.float64).ravel()
        return df

    # ---------- attention ----------
    def layers_heads(self):
        """(L, H): from attributes num_layers/num_heads (root or /attention), else the shape of a
        stats dataset [N, L, H], else /conductance/delta [N, L] with L*H from the offsets."""
        for obj in (self.f, self.f.get("/attention")):
            if obj is not None and "num_layers" in obj.attrs and "num_heads" in obj.attrs:
                return int(obj.attrs["num_layers"]), int(obj.attrs["num_heads"])
        for group in ("/attention/stats", "/conductance/stats"):
            names = self.stat_names(group)
            if names:
                s = self.f[f"{group}/{names[0]}"].shape
                if len(s) == 3:
                    return int(s[1]), int(s[2])
        if "/conductance/delta" in self.f and self.f["/conductance/delta"].ndim == 2 and self.n > 0:
            L = int(self.f["/conductance/delta"].shape[1])  # [N, L]
            off = self._offsets("/attention/offsets")
            T = int(self.tok_off[1] - self.tok_off[0])
            LH = int(off[1] - off[0]) // (T * T) if T else 0
            if L > 0 and LH % L == 0 and LH > 0:
                return L, LH // L
        raise AttrunFormatError(f"{self.path}: cannot tell layers from heads: no num_layers/num_heads "
                                f"attributes, no /attention/stats datasets and no /conductance/delta")

    def attention(self, i, name="/attention/probs"):
        """Example i's [L, H, T, T] float32 array (float16 files are widened)."""
        if not 0 <= i < self.n:
            raise IndexError(f"{self.path}: example {i} out of range 0..{self.n - 1}")
        off = self._offsets("/attention/offsets")
        d = self._get(name)
        T = int(self.tok_off[i + 1] - self.tok_off[i])
        L, H = self.layers_heads()
        a, b = int(off[i]), int(off[i + 1])
        if b - a != L * H * T * T or b > d.shape[0]:
            raise AttrunFormatError(f"{self.path}: {name} example {i}: {b - a} values at [{a}, {b}), "
                                    f"expected L*H*T*T = {L}*{H}*{T}*{T} within {d.shape[0]}")
        return d[a:b].astype(np.float32).reshape(L, H, T, T)


def benjamini_hochberg(p):
    """Benjamini-Hochberg adjusted p-values (q-values) of a 1-D array; NaNs stay NaN and are
    not counted among the tests."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return q
    pv = p[ok]
    order = np.argsort(pv, kind="mergesort")
    ranked = pv[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]  # monotone from the largest p down
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    q[ok] = out
    return q
