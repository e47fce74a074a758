"""Load an attrun HDF5 result (docs/hdf5-schema.md) into pandas DataFrames and xarray objects.

    r = AttrunResult("result.h5")
    r.examples()      # one row per example: index, label, target, predicted, correct, text, and
                      #   every other per-example dataset (logit_<c>, mlm_top_ids@<rank>,
                      #   attributions/<m>/f_input, agreement/*, faithfulness/*@<k>, ...);
                      #   masked LM: target_token, predicted_token, label_token, mlm_top_tokens@<r>
    r.tokens()        # one row per token: example, position, id, text, char span, special, category,
                      #   explained (the masked-LM position), <method> (token_sum), <method>_l2,
                      #   conductance@<layer> (/conductance/hidden/token_sum), ...
    r.head_stats()    # one row per example x layer x head: a column per /attention/stats/<name>
    r.attention(i)    # example i's attention probabilities, float32 [L, H, T, T]
    r.datasets()      # every dataset of the file: path, dims, shape, dtype, documented, description
    r.frame(path)     # any dataset as a long DataFrame (one column per named dim + value)
    r.array(path)     # any dataset as an xarray.DataArray with named dims and coordinates
    r.to_xarray()     # all of them in one xarray.Dataset (needs xarray: Debian python3-xarray)
    r.decode(ids)     # vocabulary ids -> token strings
    r.continuation(e) # continuation jobs: pair e's rows, [K, p_max] attribution matrix, targets, tokens

The dims come from docs/hdf5-schema.md (attrun_schema.py reads it; tests/test_schema_doc.c keeps
it equal to runner/schema.c), so a dataset the writer adds is loaded without a change here; a
dataset the document does not know gets its dims from its shape.

Needs numpy, pandas and h5py (Debian: python3-numpy python3-pandas python3-h5py); xarray only for
array() and to_xarray(). Every missing or malformed dataset raises AttrunFormatError naming the
file and dataset.
"""
import json
import os

import h5py
import numpy as np
import pandas as pd

from attrun_schema import Schema, dim_names
from attrun_stats import benjamini_hochberg  # noqa: F401  (re-exported: older scripts import it here)

try:
    import xarray as xr
except ImportError:  # optional: only array() and to_xarray() need it
    xr = None

XARRAY_MISSING = ("xarray is not installed (Debian: python3-xarray); AttrunResult.array() and to_xarray() "
                  "need it; frame() returns the same data as a pandas DataFrame")

# Per-token datasets with a hidden-size dimension: large, loaded only on request.
LARGE_DIMS = ("hidden",)


class AttrunFormatError(ValueError):
    """The file does not follow the attrun result schema."""


def _strings(ds):
    """A 1-D variable-length string dataset as a list of str."""
    try:
        return list(ds.asstr()[...])
    except TypeError:  # fixed-length or already str
        return [s.decode("utf-8") if isinstance(s, bytes) else str(s) for s in ds[...]]


def _read_vocab(path):
    """{id: token string} from a vocab.txt (line number = id), vocab.json ({token: id}) or
    tokenizer.json (model.vocab plus added_tokens); a directory: the first of those in it."""
    if os.path.isdir(path):
        for name in ("tokenizer.json", "vocab.json", "vocab.txt"):
            if os.path.isfile(os.path.join(path, name)):
                return _read_vocab(os.path.join(path, name))
        return {}
    if path.endswith(".txt"):
        with open(path, encoding="utf-8") as f:
            return {i: line.rstrip("\n") for i, line in enumerate(f)}
    with open(path, encoding="utf-8") as f:
        j = json.load(f)
    if "model" in j and isinstance(j["model"], dict):  # tokenizer.json
        v = j["model"].get("vocab", {})
        out = {int(i): t for t, i in v.items()} if isinstance(v, dict) else \
            {i: e[0] for i, e in enumerate(v)}  # unigram: [[token, score], ...]
        for a in j.get("added_tokens", []):
            out[int(a["id"])] = a["content"]
        return out
    return {int(i): t for t, i in j.items()}


class AttrunResult:
    def __init__(self, path, require_complete=False, vocab=None, schema=None):
        """vocab: a vocabulary file or model directory to decode ids with (default: the model
        directory named by the root attribute `model`, if it can be found, plus the file's own
        token ids and strings). schema: an attrun_schema.Schema (default: docs/hdf5-schema.md)."""
        self.path = str(path)
        self.f = h5py.File(self.path, "r")
        self.complete = int(self.f.attrs.get("complete", 0))
        if require_complete and not self.complete:
            raise AttrunFormatError(f"{self.path}: root attribute 'complete' is not 1 (unfinished run)")
        self.n = self._get("/examples/index").shape[0]
        self.tok_off = self._offsets("/tokens/offsets")
        self.n_tokens = int(self.tok_off[-1])
        self.schema = schema if schema is not None else Schema.load()
        self._vocab_arg = vocab
        self._vocab = None

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
        return [k for k in g.keys() if isinstance(g[k], h5py.Dataset)] if g is not None else []

    def token_lengths(self):
        return np.diff(self.tok_off)

    def is_mlm(self):
        return "/examples/mlm_position" in self.f

    def category_names(self):
        """The K category names (attribute `names` of /tokens/category), or None."""
        if "/tokens/category" not in self.f:
            return None
        names = self.f["/tokens/category"].attrs.get("names")
        if names is None:
            raise AttrunFormatError(f"{self.path}: /tokens/category has no attribute 'names'")
        return [s.decode("utf-8") if isinstance(s, bytes) else str(s) for s in np.atleast_1d(names)]

    # ---------- vocabulary ----------
    def _model_dir(self):
        m = self.f.attrs.get("model")
        if m is None:
            return None
        m = m.decode() if isinstance(m, bytes) else str(m)
        here = os.path.dirname(os.path.abspath(__file__))
        for base in ("", os.path.dirname(os.path.abspath(self.path)), os.path.join(here, "..", ".."),
                     os.path.join(here, "..")):  # cwd, the file's folder, the source tree, share/attrun
            p = os.path.join(base, m) if base else m
            if os.path.isdir(p):
                return p
        return None

    def vocab(self):
        """{id: token string}: the file's own tokens, completed by the model's vocabulary."""
        if self._vocab is None:
            v = {}
            src = self._vocab_arg or self._model_dir()
            if src:
                try:
                    v = _read_vocab(src)
                except (OSError, ValueError) as e:
                    raise AttrunFormatError(f"{self.path}: cannot read the vocabulary {src}: {e}") from e
            if "/tokens/ids" in self.f and "/tokens/text" in self.f:
                v.update(zip(self.f["/tokens/ids"][...].tolist(), _strings(self.f["/tokens/text"])))
            self._vocab = v
        return self._vocab

    def decode(self, ids):
        """Token strings of vocabulary ids (any shape; an id nobody knows reads '[id 123]')."""
        v = self.vocab()
        a = np.asarray(ids)
        out = np.array([v.get(int(i), f"[id {int(i)}]") for i in a.ravel()], dtype=object)
        return out.reshape(a.shape)

    # ---------- every dataset, with named dims ----------
    def describe(self, path):
        """(dims, documented): the named dims of dataset `path`; ('ragged',) for the flat
        [L,H,T,T] arrays (read them with attention()). documented = the schema knows it."""
        d = self._get(path)
        row = self.schema.lookup(path)
        sym = row.dims_for(d.ndim) if row is not None else None
        if sym == ("ragged",):
            return ("ragged",), True
        if sym is not None:
            return dim_names(path, sym), True
        return self._guess_dims(path, d.shape), False

    def _guess_dims(self, path, shape):
        """Dims from the shape alone: rows N -> example, M -> token (N + 1: offsets); later
        dims L -> layer, H -> head, K category names -> category, else dim_<i>."""
        try:
            L, H = self.layers_heads()
        except AttrunFormatError:
            L = H = None
        names = self.category_names() if "/tokens/category" in self.f else None
        K = len(names) if names else None
        dims = []
        for i, s in enumerate(shape):
            if i == 0:
                if s == self.n and not (s == self.n_tokens and path.startswith("/tokens/")):
                    dims.append("example")
                elif s == self.n_tokens:
                    dims.append("token")
                elif s == self.n + 1:
                    dims.append("offset")
                else:
                    dims.append("dim_0")
            elif s == L and "layer" not in dims:
                dims.append("layer")
            elif s == H and "head" not in dims and "layer" in dims:
                dims.append("head")
            elif s == K and "category" not in dims:
                dims.append("category")
            else:
                dims.append(f"dim_{i}")
        return tuple(dims)

    def datasets(self):
        """One row per dataset of the file: path, dims, shape, dtype, documented, description."""
        rows = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                p = "/" + name
                dims, doc = self.describe(p)
                desc = obj.attrs.get("description", "")
                rows.append({"path": p, "dims": dims, "shape": obj.shape, "dtype": str(obj.dtype),
                             "documented": doc,
                             "description": desc.decode() if isinstance(desc, bytes) else str(desc)})
        self.f.visititems(visit)
        return pd.DataFrame(rows, columns=["path", "dims", "shape", "dtype", "documented", "description"])

    def numpy(self, path):
        """(values, dims) of dataset `path`; float16 is widened to float32, strings are str."""
        d = self._get(path)
        dims, _ = self.describe(path)
        if d.dtype.kind in ("O", "S", "U"):
            return np.array(_strings(d), dtype=object), dims
        v = d[...]
        if v.dtype == np.float16:
            v = v.astype(np.float32)
        if len(dims) != v.ndim:
            raise AttrunFormatError(f"{self.path}: {path} has shape {v.shape}, its dims are {dims}")
        for dim, size in zip(dims, v.shape):
            want = {"example": self.n, "token": self.n_tokens, "offset": self.n + 1}.get(dim)
            if want is not None and size != want:
                raise AttrunFormatError(f"{self.path}: {path} has {size} rows along {dim}, expected {want}")
        return v, dims

    def coords(self, path, dims, shape):
        """Coordinate values of each named dim (category names, k_percent, layer numbers, ...)."""
        out = {}
        for dim, size in zip(dims, shape):
            if dim == "category":
                names = self.category_names()
                out[dim] = names if names and len(names) == size else list(range(size))
            elif dim == "k_percent":
                ks = self.f[path].attrs.get("k_percent", [10, 20, 50])
                out[dim] = [int(k) for k in ks] if len(ks) == size else list(range(size))
            elif dim == "bound" and size == 2:
                out[dim] = ["start", "end"]
            else:
                out[dim] = list(range(size))
        return out

    def frame(self, path):
        """Dataset `path` as a long DataFrame: one column per dim (its coordinate) and `value`;
        example rows also get `corpus_row`, token rows `example` and `position`."""
        v, dims = self.numpy(path)
        if dims == ("ragged",):
            raise AttrunFormatError(f"{self.path}: {path} is a ragged [L,H,T,T] array; use attention(i, name)")
        co = self.coords(path, dims, v.shape)
        grids = np.meshgrid(*[np.arange(s) for s in v.shape], indexing="ij")
        df = pd.DataFrame({d: np.asarray(co[d], dtype=object if any(isinstance(c, str) for c in co[d])
                                         else np.int64)[g.ravel()] for d, g in zip(dims, grids)})
        df["value"] = v.ravel()
        if dims and dims[0] == "example":
            df["corpus_row"] = self.f["/examples/index"][...][df["example"].to_numpy()]
        elif dims and dims[0] == "token":
            ex = np.repeat(np.arange(self.n), self.token_lengths())
            t = df["token"].to_numpy()
            df["example"], df["position"] = ex[t], t - self.tok_off[ex[t]]
        return df

    def _xr_coords(self, dims, co):
        c = {d: co[d] for d in dims}
        if "example" in dims:
            c["corpus_row"] = ("example", self.f["/examples/index"][...])
        if "token" in dims:
            ex = np.repeat(np.arange(self.n), self.token_lengths())
            c["token_example"] = ("token", ex)
            c["token_position"] = ("token", np.arange(self.n_tokens) - self.tok_off[ex])
        return c

    def array(self, path):
        """Dataset `path` as an xarray.DataArray with named dims and coordinates."""
        if xr is None:
            raise ImportError(XARRAY_MISSING)
        v, dims = self.numpy(path)
        if dims == ("ragged",):
            raise AttrunFormatError(f"{self.path}: {path} is a ragged [L,H,T,T] array; use attention(i, name)")
        co = self.coords(path, dims, v.shape)
        desc = self.f[path].attrs.get("description", "")
        return xr.DataArray(v, dims=dims, coords=self._xr_coords(dims, co), name=path.lstrip("/"),
                            attrs={"description": desc.decode() if isinstance(desc, bytes) else str(desc)})

    def to_xarray(self, include_large=False):
        """Every dataset but the ragged attention arrays and offsets in one xarray.Dataset
        (variables named by their path without the leading '/'); per-token arrays with a
        hidden-size dim (full, hidden states) only with include_large."""
        if xr is None:
            raise ImportError(XARRAY_MISSING)
        ds = self.datasets()
        arrays = {}
        for p, dims in zip(ds["path"], ds["dims"]):
            if dims == ("ragged",) or "offset" in dims or (not include_large and any(d in LARGE_DIMS for d in dims)):
                continue
            if "dim_0" in dims:  # rows of no known kind: nothing to align it with
                continue
            arrays[p.lstrip("/")] = self.array(p)
        return xr.Dataset(arrays, attrs={k: (v.decode() if isinstance(v, bytes) else v)
                                         for k, v in self.f.attrs.items() if np.ndim(v) == 0})

    def skipped(self):
        """Corpus rows skipped by corpus.on_error: skip, with the reasons."""
        if "/examples/skipped_rows" not in self.f:
            return pd.DataFrame({"row": pd.Series([], dtype=np.int64), "reason": pd.Series([], dtype=object)})
        rows = self.f["/examples/skipped_rows"][...].astype(np.int64)
        reasons = _strings(self.f["/examples/skipped_reasons"]) if "/examples/skipped_reasons" in self.f \
            else [""] * len(rows)
        return pd.DataFrame({"row": rows, "reason": reasons})

    # ---------- DataFrames ----------
    def _per_row(self, dim):
        """(path, dims) of every dataset with rows of `dim` (example or token), file order."""
        ds = self.datasets()
        return [(p, d) for p, d in zip(ds["path"], ds["dims"]) if d and d[0] == dim]

    def examples(self):
        n = self.n
        df = pd.DataFrame({"index": self._rows("/examples/index", n, 1).astype(np.int64)})
        df["label"] = self._rows("/examples/label", n, 1).astype(np.int64) if "/examples/label" in self.f else -1
        df["target"] = self._rows("/examples/target", n, 1).astype(np.int64)
        df["n_tokens"] = self.token_lengths()
        for p, dims in self._per_row("example"):
            name = p[len("/examples/"):] if p.startswith("/examples/") else p.lstrip("/")
            if name in ("index", "label", "target", "correct") or len(dims) > 2 or "head" in dims:
                continue  # per layer x head (x category): head_stats(), frame(), array()
            if len(dims) == 1:
                if self.f[p].dtype.kind in ("O", "S", "U"):
                    df[name] = _strings(self._get(p))
                else:
                    df[name] = self._rows(p, n)
                continue
            v = self._rows(p, n)
            if name == "logits":  # logit_<class>
                for c in range(v.shape[1]):
                    df[f"logit_{c}"] = v[:, c]
                continue
            co = self.coords(p, dims, v.shape)[dims[1]]
            for j in range(v.shape[1]):
                df[f"{name}@{co[j]}"] = v[:, j]
        # the model's prediction; /examples/target is what was explained (a config may explain the
        # label or a fixed class/token), so it is never taken for the prediction
        if "/examples/logits" in self.f:
            df["predicted"] = self._rows("/examples/logits", n, 2).argmax(axis=1).astype(np.int64)
        elif "/examples/candidate_ids" in self.f and "/examples/candidate_logits" in self.f:
            # masked LM with mlm.candidates: the candidate with the highest logit (first on a tie),
            # the rule /examples/correct uses (docs/analysis.md §10)
            ids = self._rows("/examples/candidate_ids", n, 2)
            lg = self._rows("/examples/candidate_logits", n, 2)
            if ids.shape != lg.shape:
                raise AttrunFormatError(f"{self.path}: /examples/candidate_ids {ids.shape} and "
                                        f"/examples/candidate_logits {lg.shape} differ")
            df["predicted"] = ids[np.arange(n), lg.argmax(axis=1)].astype(np.int64) if ids.shape[1] else \
                pd.array([pd.NA] * n, dtype="Int64")
        elif "/examples/mlm_top_ids" in self.f:
            # masked LM: the most probable token at the mask (a label is a vocabulary id)
            df["predicted"] = self._rows("/examples/mlm_top_ids", n, 2)[:, 0].astype(np.int64)
        else:
            df["predicted"] = pd.array([pd.NA] * n, dtype="Int64")  # unknown: no logits written
        if "/examples/correct" in self.f:
            # the writer's own judgement (e.g. the candidate argmax against the label): -1 unknown
            c = self._rows("/examples/correct", n, 1).astype(np.int64)
            df["correct"] = pd.array(np.where(c >= 0, c == 1, pd.NA), dtype="boolean")
        else:
            has = (df["label"] >= 0).to_numpy() & df["predicted"].notna().to_numpy()
            pred = df["predicted"].astype("Int64").fillna(-2).to_numpy(np.int64)
            df["correct"] = pd.array(np.where(has, pred == df["label"].to_numpy(), pd.NA), dtype="boolean")
        if self.is_mlm():
            # vocabulary ids as token strings
            df["target_token"] = self.decode(df["target"].to_numpy())
            df["predicted_token"] = self.decode(df["predicted"].astype("Int64").fillna(-1).to_numpy(np.int64))
            lab = df["label"].to_numpy()
            df["label_token"] = np.where(lab >= 0, self.decode(np.maximum(lab, 0)), None)
            for base in ("mlm_top_ids", "candidate_ids"):
                cols = [c for c in df.columns if c.startswith(base + "@")]
                for c in cols:
                    df[c.replace("_ids@", "_tokens@")] = self.decode(df[c].to_numpy())
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
        if self.is_mlm():
            # the explained position (the first mask of the example)
            pos = self._rows("/examples/mlm_position", self.n, 1).astype(np.int64)
            df["explained"] = df["position"].to_numpy() == pos[ex]
        for p, dims in self._per_row("token"):
            if p in ("/tokens/ids", "/tokens/text", "/tokens/char_span", "/tokens/special") \
                    or any(d in LARGE_DIMS for d in dims) or len(dims) > 2:
                continue
            parts = p.strip("/").split("/")
            if parts[0] == "attributions" and parts[-1] in ("token_sum", "token_l2"):
                name = parts[1] + ("_l2" if parts[-1] == "token_l2" else "")
            elif p == "/conductance/hidden/token_sum":
                name = "conductance"
            elif p == "/conductance/hidden/token_l2":
                name = "conductance_l2"
            elif p.startswith("/tokens/"):
                name = parts[-1]
            else:
                name = p.lstrip("/")
            v = self._rows(p, M)
            if p == "/tokens/category":
                names = self.category_names()
                if v.size and (v.min() < 0 or v.max() >= len(names)):
                    raise AttrunFormatError(f"{self.path}: /tokens/category has values outside 0..{len(names) - 1}")
                df["category"] = pd.Categorical.from_codes(v.astype(np.int64), categories=names)
            elif v.ndim == 1:
                df[name] = v
            else:
                co = self.coords(p, dims, v.shape)[dims[1]]
                for j in range(v.shape[1]):
                    df[f"{name}@{co[j]}"] = v[:, j]
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
        if "/conductance/delta" in self.f and self.f["/conductance/delta"].ndim == 2 and self.n > 0 \
                and "/attention/offsets" in self.f:
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

    def rollout(self, i, position=None):
        """Attention rollout of example i (docs/analysis.md §2) from query row `position`
        (default: the explained mask position of a masked LM, else 0 = [CLS], the row attrun
        stores as /attributions/rollout/token_sum). Needs /attention/probs. float64 [T]."""
        a = self.attention(i).astype(np.float64)
        if position is None:
            position = int(self.f["/examples/mlm_position"][i]) if self.is_mlm() else 0
        L, H, T, _ = a.shape
        if not 0 <= position < T:
            raise IndexError(f"{self.path}: example {i}: rollout position {position} out of range 0..{T - 1}")
        r = np.zeros(T)
        r[position] = 1.0
        for l in range(L - 1, -1, -1):  # e_p^T A_L ... A_1: the last layer first
            A = a[l].mean(axis=0) + np.eye(T)
            A /= A.sum(axis=1, keepdims=True)
            r = r @ A
        return r
