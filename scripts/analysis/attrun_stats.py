"""Two-cohort statistics of scripts/analysis/report.py (definitions: docs/analysis.md §5).

Every function compares cohort a with cohort b column by column: x [n_a, ...] and y [n_b, ...]
(one row per example, any trailing shape such as [L, H]); NaNs are left out per column.
Effects are signed a - b. Only numpy and scipy (Debian: python3-numpy python3-scipy).

  benjamini_hochberg(p)           BH-adjusted p-values (q), NaN = not tested
  welch(x, y)                     Welch's t-test (unequal variances) + Cohen's d
  mann_whitney(x, y)              two-sided Mann-Whitney U (scipy) + rank-biserial correlation
  ols_cohort(v, in_a, covariates) OLS v ~ 1 + [cohort a] + covariates: the cohort coefficient,
                                  its t-test p and the coefficient in residual-sd units
  length_covariates(n_tokens, how, strata)  the covariate matrix of a length control
"""
import numpy as np


def _sps():
    """scipy.stats, imported on first use: attrun_load re-exports benjamini_hochberg, and the
    loader needs only numpy, pandas and h5py."""
    from scipy import stats
    return stats


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


def _moments(x):
    """Per-column count, mean and variance (ddof 1) of the finite values of x [n, ...]."""
    ok = np.isfinite(x)
    n = ok.sum(axis=0)
    z = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = z.sum(axis=0) / n
        var = (np.where(ok, x - mean, 0.0) ** 2).sum(axis=0) / (n - 1)
    return n, mean, var


def cohens_d(x, y):
    """(mean_a - mean_b) / pooled sd, the pooled variance ((n_a-1) s_a^2 + (n_b-1) s_b^2) / (n_a+n_b-2)."""
    na, ma, va = _moments(np.asarray(x, np.float64))
    nb, mb, vb = _moments(np.asarray(y, np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        sp = np.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
        d = (ma - mb) / sp
    return np.where((na >= 2) & (nb >= 2) & (sp > 0), d, np.nan)


def welch(x, y):
    """Welch's two-sided t-test per column. Returns dict t, df, p, effect (Cohen's d); NaN where
    a cohort has fewer than 2 finite values or both variances are 0."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    na, ma, va = _moments(x)
    nb, mb, vb = _moments(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        sa, sb = va / na, vb / nb
        se2 = sa + sb
        t = (ma - mb) / np.sqrt(se2)
        df = se2 ** 2 / (sa ** 2 / (na - 1) + sb ** 2 / (nb - 1))  # Welch-Satterthwaite
    bad = (na < 2) | (nb < 2) | ~(se2 > 0)
    t, df = np.where(bad, np.nan, t), np.where(bad, np.nan, df)
    p = np.where(bad, np.nan, 2.0 * _sps().t.sf(np.abs(np.nan_to_num(t)), np.nan_to_num(df, nan=1.0)))
    return {"statistic": t, "df": df, "p": p, "effect": cohens_d(x, y)}


def mann_whitney(x, y):
    """Two-sided Mann-Whitney U per column (scipy's default method: exact for small samples
    without ties, else the normal approximation with tie correction). U is cohort a's;
    effect = rank-biserial correlation 2 U / (n_a n_b) - 1 (+1: every a above every b).
    NaN where a cohort has fewer than 2 finite values or every value is equal."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    shape = x.shape[1:]
    xs, ys = x.reshape(len(x), -1), y.reshape(len(y), -1)
    U, p, eff = (np.full(xs.shape[1], np.nan) for _ in range(3))
    for c in range(xs.shape[1]):
        a, b = xs[:, c], ys[:, c]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if len(a) < 2 or len(b) < 2 or np.ptp(np.concatenate([a, b])) == 0:
            continue
        r = _sps().mannwhitneyu(a, b, alternative="two-sided")
        U[c], p[c] = r.statistic, r.pvalue
        eff[c] = 2.0 * r.statistic / (len(a) * len(b)) - 1.0
    return {"statistic": U.reshape(shape), "p": p.reshape(shape), "effect": eff.reshape(shape)}


TESTS = {"welch": welch, "mannwhitney": mann_whitney}


def length_covariates(n_tokens, how, strata=4):
    """Covariate columns of a length control. how: 'none' -> no columns; 'ols' -> the length
    itself; 'strata' -> indicator columns of `strata` length strata (quantile bins of n_tokens by
    average rank, so equal lengths share one; the first stratum is the reference level). Returns (matrix [n, k], labels of the strata or None)."""
    n_tokens = np.asarray(n_tokens, np.float64)
    if how == "none":
        return np.zeros((len(n_tokens), 0)), None
    if how == "ols":
        return n_tokens[:, None], None
    if how != "strata":
        raise ValueError(f"length control must be none, ols or strata, not {how!r}")
    # stratum of a length = its quantile by average rank, so equal lengths share a stratum
    ranks = _sps().rankdata(n_tokens)
    idx = np.minimum(((ranks - 0.5) / len(n_tokens) * strata).astype(np.int64), strata - 1)
    levels = np.unique(idx)
    labels = [f"{int(n_tokens[idx == k].min())}-{int(n_tokens[idx == k].max())}" for k in levels]
    cols = np.stack([(idx == k).astype(np.float64) for k in levels[1:]], axis=1) if len(levels) > 1 \
        else np.zeros((len(n_tokens), 0))
    return cols, labels


def ols_cohort(v, in_a, covariates):
    """OLS of v on an intercept, the indicator of cohort a and the covariate columns, for every
    column of v [n, ...] (rows with a NaN value are left out of that column's fit).
    Returns dict coef (the cohort coefficient: the a - b difference at equal covariates),
    statistic (its t), df (n - parameters), p (two-sided), effect (coef / residual sd).
    NaN where the design is rank deficient (e.g. the cohort is determined by the strata), leaves
    no residual degrees of freedom, or every value of the column is equal."""
    v = np.asarray(v, np.float64)
    in_a = np.asarray(in_a, bool)
    cov = np.asarray(covariates, np.float64).reshape(len(v), -1)
    shape = v.shape[1:]
    vs = v.reshape(len(v), -1)
    X_all = np.column_stack([np.ones(len(v)), in_a.astype(np.float64), cov])
    out = {k: np.full(vs.shape[1], np.nan) for k in ("coef", "statistic", "df", "p", "effect")}
    cache = {}
    for c in range(vs.shape[1]):
        ok = np.isfinite(vs[:, c])
        key = ok.tobytes()
        if key not in cache:
            X = X_all[ok]
            keep = np.ptp(X, axis=0) > 0
            keep[0] = True  # the intercept; constant covariates (one stratum present) drop out
            X = X[:, keep]
            n, k = X.shape
            rank = np.linalg.matrix_rank(X) if n else 0
            cache[key] = None if (rank < k or n <= k or not keep[1]) else (X, np.linalg.pinv(X.T @ X))
        fit = cache[key]
        if fit is None:
            continue
        X, XtXi = fit
        y = vs[ok, c]
        if np.ptp(y) == 0:
            continue  # every value equal: nothing to test (the fit is exact, its se rounding noise)
        beta = XtXi @ (X.T @ y)
        resid = y - X @ beta
        df = X.shape[0] - X.shape[1]
        s2 = float(resid @ resid) / df
        se = np.sqrt(s2 * XtXi[1, 1])
        out["coef"][c], out["df"][c] = beta[1], df
        if se > 0:
            t = beta[1] / se
            out["statistic"][c], out["p"][c] = t, 2.0 * _sps().t.sf(abs(t), df)
            out["effect"][c] = beta[1] / np.sqrt(s2)
    return {k: a.reshape(shape) for k, a in out.items()}


def rank_columns(v):
    """Average ranks of the finite values of each column of v [n, ...] (NaN stays NaN): the
    transform of a rank-based (Conover-Iman) length control for the Mann-Whitney choice."""
    v = np.asarray(v, np.float64)
    out = np.full(v.shape, np.nan)
    flat, of = v.reshape(len(v), -1), out.reshape(len(v), -1)
    for c in range(flat.shape[1]):
        ok = np.isfinite(flat[:, c])
        if ok.any():
            of[ok, c] = _sps().rankdata(flat[ok, c])
    return out
