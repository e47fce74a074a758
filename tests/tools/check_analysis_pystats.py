"""Checks of scripts/analysis/attrun_stats.py and report_cohorts.compare against hand-computed
values, scipy, and identities that hold for any data (run by tests/test_analysis_pystats.sh).
    check_analysis_pystats.py SRC"""
import os
import sys

import numpy as np
from scipy import stats as sps

sys.path.insert(0, os.path.join(sys.argv[1], "scripts", "analysis"))
from attrun_stats import (benjamini_hochberg, cohens_d, length_covariates, mann_whitney, ols_cohort,  # noqa: E402
                          welch)
from report_cohorts import compare  # noqa: E402

rng = np.random.default_rng(16)
checks = 0


def close(a, b, tol, what):
    global checks
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    assert np.array_equal(np.isnan(a), np.isnan(b)), f"{what}: NaN pattern {a} vs {b}"
    ok = ~np.isnan(a)
    err = np.abs(a[ok] - b[ok]).max() if ok.any() else 0.0
    assert err <= tol, f"{what}: max error {err:g} > {tol:g}\n{a}\n{b}"
    checks += 1


# ---- Benjamini-Hochberg, by hand ----
# sorted p .01 .03 .04 .2 (m = 4): p*m/rank .04 .06 .0533 .2 -> running min from the top .04 .0533 .0533 .2
close(benjamini_hochberg([0.01, 0.04, 0.03, 0.2, np.nan]), [0.04, 0.16 / 3, 0.16 / 3, 0.2, np.nan], 1e-15, "BH 1")
# m = 6: p*6/rank .03 .027 .1 .15 .24 .3 -> .027 .027 .1 .15 .24 .3
close(benjamini_hochberg([0.3, 0.005, 0.2, 0.009, 0.1, 0.05]), [0.3, 0.027, 0.24, 0.027, 0.15, 0.1], 1e-15, "BH 2")
close(benjamini_hochberg([0.9, 0.95]), [0.95, 0.95], 1e-15, "BH 3 (monotone)")
close(benjamini_hochberg([0.6, 0.7, 0.8]), [0.8, 0.8, 0.8], 1e-15, "BH 4")
close(benjamini_hochberg([np.nan, np.nan]), [np.nan, np.nan], 0, "BH all NaN")
close(benjamini_hochberg([0.04]), [0.04], 0, "BH one test")

# ---- Cohen's d, rank-biserial by hand ----
close(cohens_d(np.array([1.0, 2, 3]), np.array([4.0, 5, 6])), -3.0, 1e-15, "d: means 2, 5, pooled sd 1")
# x = 1 2 3 5 (var 8.75/3), y = 0 0 3 (var 3): pooled var (8.75 + 6) / 5 = 2.95, d = (2.75 - 1) / sqrt(2.95)
close(cohens_d(np.array([1.0, 2, 3, 5]), np.array([0.0, 0, 3])), 1.75 / np.sqrt(2.95), 1e-15, "d: unequal n")
r = mann_whitney(np.array([[1.0], [2], [3]]), np.array([[4.0], [5], [6]]))
close(r["effect"], [-1.0], 1e-15, "rank-biserial: every a below every b")
close(r["statistic"], [0.0], 0, "U = 0")
# pairs (a, b): 4>2, 4>3, 1<2, 1<3 -> (2 - 2) / 4 = 0
close(mann_whitney(np.array([[1.0], [4]]), np.array([[2.0], [3]]))["effect"], [0.0], 1e-15, "rank-biserial 0")

# ---- Welch against scipy, many columns at once, NaNs, degenerate columns ----
x = rng.normal(0.3, 1.0, (23, 4, 5))
y = rng.normal(0.0, 2.5, (41, 4, 5))
x[3, 0, 0] = np.nan
y[:40, 1, 1] = np.nan           # one finite value left: untestable
x[:, 2, 2], y[:, 2, 2] = 1.0, 1.0  # both constant: untestable
w = welch(x, y)
for l in range(4):
    for h in range(5):
        a, b = x[:, l, h], y[:, l, h]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if len(b) < 2 or np.ptp(np.concatenate([a, b])) == 0:
            assert np.isnan(w["p"][l, h]), (l, h, w["p"][l, h])
            continue
        ref = sps.ttest_ind(a, b, equal_var=False)
        close(w["statistic"][l, h], ref.statistic, 1e-12, f"Welch t {l},{h}")
        close(w["p"][l, h], ref.pvalue, 1e-12, f"Welch p {l},{h}")
        # Welch-Satterthwaite df by its formula, independently
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        close(w["df"][l, h], (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)), 1e-9, "Welch df")

# ---- Mann-Whitney against scipy; rank-biserial against counting pairs ----
x = rng.integers(0, 6, (17, 3)).astype(float)  # ties
y = rng.integers(1, 8, (12, 3)).astype(float)
m = mann_whitney(x, y)
for c in range(3):
    ref = sps.mannwhitneyu(x[:, c], y[:, c], alternative="two-sided")
    close(m["p"][c], ref.pvalue, 1e-12, f"MW p {c}")
    gt = (x[:, c][:, None] > y[:, c][None, :]).sum()
    lt = (x[:, c][:, None] < y[:, c][None, :]).sum()
    close(m["effect"][c], (gt - lt) / (17 * 12), 1e-12, f"rank-biserial {c} by pair counts")

# ---- OLS cohort coefficient ----
n = 60
in_a = np.zeros(n, bool)
in_a[rng.permutation(n)[:25]] = True
v = rng.normal(size=(n, 3)) + 0.8 * in_a[:, None]
# without covariates the cohort coefficient's t-test is Student's two-sample t-test
o = ols_cohort(v, in_a, np.zeros((n, 0)))
for c in range(3):
    ref = sps.ttest_ind(v[in_a, c], v[~in_a, c], equal_var=True)
    close(o["statistic"][c], ref.statistic, 1e-9, "OLS = Student t")
    close(o["p"][c], ref.pvalue, 1e-9, "OLS p = Student p")
    close(o["coef"][c], v[in_a, c].mean() - v[~in_a, c].mean(), 1e-12, "OLS coef = mean difference")
# with a length covariate: Frisch-Waugh-Lovell (residualise value and cohort on 1 + length)
length = rng.integers(5, 60, n).astype(float) + 20 * in_a
v2 = 0.05 * length[:, None] + rng.normal(size=(n, 2)) + np.array([0.0, 0.7]) * in_a[:, None]
o = ols_cohort(v2, in_a, length[:, None])
for c in range(2):
    ry = v2[:, c] - np.polyval(np.polyfit(length, v2[:, c], 1), length)
    ra = in_a - np.polyval(np.polyfit(length, in_a.astype(float), 1), length)
    close(o["coef"][c], (ry @ ra) / (ra @ ra), 1e-9, "FWL coefficient")
    rr = np.corrcoef(ry, ra)[0, 1]
    t = rr * np.sqrt((n - 3) / (1 - rr ** 2))
    close(o["statistic"][c], t, 1e-8, "FWL t (partial correlation)")
    close(o["p"][c], 2 * sps.t.sf(abs(t), n - 3), 1e-9, "FWL p")
    close(o["df"][c], n - 3, 0, "df = n - 3")
# exact data: the coefficient is recovered exactly
exact = (2.0 + 3.0 * in_a + 0.5 * length)[:, None]
close(ols_cohort(exact, in_a, length[:, None])["coef"], [3.0], 1e-9, "exact coefficient")
# untestable: a constant column; a cohort the strata determine (rank deficient)
close(ols_cohort(np.ones((n, 1)), in_a, length[:, None])["p"], [np.nan], 0, "constant column")
cov, labels = length_covariates(np.where(in_a, 100.0, 10.0), "strata", 2)
close(ols_cohort(v[:, :1], in_a, cov)["p"], [np.nan], 0, "cohort = stratum")

# ---- strata: quantile bins of the length ----
cov, labels = length_covariates(np.arange(1.0, 9.0), "strata", 4)
# ranks 1..8, (rank - 0.5) / 8 * 4 -> bins {1,2} {3,4} {5,6} {7,8}; indicators for bins 2..4
close(cov, np.repeat(np.eye(4)[:, 1:], 2, axis=0), 0, "strata indicators")
assert len(labels) == 4, labels

# ---- compare(): a length-only difference vanishes under control, a real one stays ----
N = 300
length = rng.integers(8, 60, N).astype(float)
wrong = rng.random(N) < 1 / (1 + np.exp(-(length - 34) / 6))  # longer examples are more often wrong
st = np.empty((N, 1, 3))
st[:, 0, 0] = 0.001 * length + 0.003 * rng.normal(size=N)                   # only length
st[:, 0, 1] = 0.001 * length + 0.01 * (~wrong) + 0.003 * rng.normal(size=N)  # length and cohort
st[:, 0, 2] = rng.normal(size=N)                                  # nothing
for test in ("welch", "mannwhitney"):
    for control in ("ols", "strata"):
        ct = compare({"cls": st}, ~wrong, wrong, length, test, control, strata=5)
        h = ct.set_index("head")
        assert h.loc[0, "q"] < 1e-6, (test, control, h.loc[0, "q"])        # confounded: looks huge
        assert h.loc[0, "q_len"] > 0.01, (test, control, h.loc[0, "q_len"])  # but is length
        assert h.loc[1, "q_len"] < 1e-6 and h.loc[1, "effect_len"] > 0, (test, control, h.loc[1])
        assert h.loc[2, "q_len"] > 0.01 and h.loc[2, "q"] > 0.01, (test, control, h.loc[2])
        assert bool(h.loc[0, "significant"]) and not bool(h.loc[0, "significant_len"])
        checks += 1
ct = compare({"cls": st}, ~wrong, wrong, length, "welch", "none")
assert "q_len" not in ct.columns and ct["q"].between(0, 1).all()
print(f"analysis statistics: {checks} checks ok")
