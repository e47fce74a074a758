"""Cohorts of scripts/analysis/report.py: which examples are compared (correct vs wrong, a column,
or an external file), and the per-head tests with and without length control."""
import csv
import warnings

import numpy as np
import pandas as pd

from attrun_stats import TESTS, benjamini_hochberg, length_covariates, ols_cohort, rank_columns


class CohortError(ValueError):
    """A cohort option that cannot be applied (bad file, unknown column or level)."""


def _level_str(v):
    if isinstance(v, (bool, np.bool_)):
        return "correct" if v else "wrong"
    return str(v)


def read_cohort_file(path, ex):
    """CSV with a header: a column `example` (row of the result file, 0-based) or `index` (the
    corpus row, /examples/index) and a column `cohort`. Returns a Series of level strings
    aligned with ex (None where the file does not list the example)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise CohortError(f"cohort file {path}: {e.strerror or e}") from e
    if not rows:
        raise CohortError(f"cohort file {path}: no rows (expected a header with example or index, and cohort)")
    cols = rows[0].keys()
    key = "example" if "example" in cols else "index" if "index" in cols else None
    if key is None or "cohort" not in cols:
        raise CohortError(f"cohort file {path}: needs the columns cohort and example (file row) or index "
                          f"(corpus row); it has {', '.join(cols)}")
    where = {int(v): i for i, v in enumerate(ex["index"])} if key == "index" else None
    out = [None] * len(ex)
    for line, r in enumerate(rows, start=2):
        try:
            k = int(r[key])
        except (TypeError, ValueError):
            raise CohortError(f"cohort file {path}:{line}: {key} {r[key]!r} is not an integer") from None
        i = where.get(k) if where is not None else (k if 0 <= k < len(ex) else None)
        if i is None:
            raise CohortError(f"cohort file {path}:{line}: {key} {k} is not in the result "
                              f"({'corpus rows of its examples' if where is not None else f'0..{len(ex) - 1}'})")
        if out[i] is not None and out[i] != r["cohort"]:
            raise CohortError(f"cohort file {path}:{line}: {key} {k} is listed twice with different cohorts")
        out[i] = r["cohort"]
    return pd.Series(out, index=ex.index, dtype=object)


def cohort_levels(ex, column=None, file=None):
    """(levels per example as strings, None = not in any cohort; a description of the source)."""
    if file:
        return read_cohort_file(file, ex), f"cohort file {file}"
    col = column or "correct"
    if col not in ex.columns:
        raise CohortError(f"cohort column {col!r} is not a column of the examples "
                          f"(available: {', '.join(map(str, ex.columns))})")
    v = ex[col]
    lev = pd.Series([None if pd.isna(x) else _level_str(x) for x in v], index=ex.index, dtype=object)
    if column is None:
        return lev, "correct vs wrong prediction"
    return lev, f"column {col}"


def pick_two(levels, wanted=None):
    """The two levels compared: `wanted` ("A,B"), else correct/wrong, else the only two there are."""
    present = sorted({x for x in levels if x is not None})
    if wanted:
        ab = [w.strip() for w in wanted.split(",")]
        if len(ab) != 2 or ab[0] == ab[1]:
            raise CohortError(f"--cohorts needs two different levels A,B, got {wanted!r}")
        for w in ab:
            if w not in present:
                raise CohortError(f"cohort level {w!r} is not present (levels: {', '.join(present) or 'none'})")
        return ab[0], ab[1]
    if set(present) == {"correct", "wrong"}:
        return "correct", "wrong"
    if len(present) == 2:
        return present[0], present[1]
    if len(present) < 2:
        return None
    raise CohortError(f"{len(present)} cohort levels ({', '.join(present)}): choose two with --cohorts A,B")


def compare(stats, in_a, in_b, n_tokens, test="mannwhitney", control="ols", strata=4, alpha=0.05):
    """stats: {name: [N, L, H]}; in_a, in_b: bool [N] (disjoint). One row per statistic x head:
    the uncontrolled test (effect = Cohen's d for welch, rank-biserial r for mannwhitney; p; q =
    BH over the heads of the statistic) and, with control != none, the length-controlled one: OLS
    of the statistic (mannwhitney: of its ranks, and of the length's ranks, Conover-Iman) on
    cohort + length (ols) or cohort + length-stratum indicators (strata); its cohort
    coefficient's p and BH q, effect_len = coefficient / residual sd."""
    rows = []
    sel = in_a | in_b
    n_tok = np.asarray(n_tokens, np.float64)[sel]
    a_sel = np.asarray(in_a)[sel]
    for name, v in stats.items():
        N, L, H = v.shape
        x, y = v[in_a], v[in_b]
        r = TESTS[test](x, y)
        q = benjamini_hochberg(r["p"].ravel()).reshape(L, H)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a head with no finite value: NaN
            ma, mb = np.nanmean(x, axis=0), np.nanmean(y, axis=0)
        res = {"mean_a": ma, "mean_b": mb, "effect": r["effect"], "statistic": r["statistic"], "p": r["p"], "q": q}
        if control != "none":
            vv = v[sel]
            ln = n_tok
            if test == "mannwhitney":
                vv = rank_columns(vv)
                if control == "ols":
                    ln = rank_columns(n_tok[:, None])[:, 0]
            cov, _ = length_covariates(ln, control, strata)
            o = ols_cohort(vv, a_sel, cov)
            res.update({"coef_len": o["coef"], "effect_len": o["effect"], "p_len": o["p"],
                        "q_len": benjamini_hochberg(o["p"].ravel()).reshape(L, H)})
        for l in range(L):
            for h in range(H):
                row = {"stat": name, "layer": l, "head": h, "n_a": int(in_a.sum()), "n_b": int(in_b.sum())}
                row.update({k: float(a[l, h]) for k, a in res.items()})
                row["significant"] = bool(row["q"] < alpha)
                if control != "none":
                    row["significant_len"] = bool(row["q_len"] < alpha)
                rows.append(row)
    return pd.DataFrame(rows)


def summary_by_stat(ct, control):
    """Per statistic: heads tested, significant before/after length control, and the head with the
    smallest q (its effect and q before and after)."""
    out = []
    for name, c in ct.groupby("stat", sort=False):
        tested = c[np.isfinite(c["p"])]
        row = {"stat": name, "heads_tested": len(tested), "significant": int(c["significant"].sum())}
        if control != "none":
            row["significant_len"] = int(c["significant_len"].sum())
        if len(tested):
            best = tested.sort_values(["q", "p"]).iloc[0]
            row.update({"top_head": f"{int(best['layer'])}.{int(best['head'])}", "effect": best["effect"],
                        "q": best["q"]})
            if control != "none":
                row.update({"effect_len": best["effect_len"], "q_len": best["q_len"]})
        out.append(row)
    return pd.DataFrame(out)
