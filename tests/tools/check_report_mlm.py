"""A synthetic masked-LM result (docs/hdf5-schema.md, written with h5py independently of the
runner) through attrun_load and report.py (run by tests/test_analysis_report.sh):
    check_report_mlm.py SRC WORKDIR
What is planted and must come back:
  - a fixed explained target ('Ġmax') that is not the prediction (mlm_top_ids[:, 0]);
  - /examples/correct disagreeing with "prediction == label" on purpose (the writer judges by
    its candidates): the correct/wrong cohorts must follow /examples/correct (-1 = unknown);
  - candidate ids and top-5 ids outside the corpus's tokens: decoded from the model's vocab.json;
  - categories with names, received attention, counts; sinks (rate per layer 0 and 0.5, epsilon
    0.25); massive activations (ratio 40); attention probabilities whose rollout from the mask
    is computed here as one matrix product;
  - a dataset the schema document does not know (/examples/extra [N, 3]): loaded by shape."""
import contextlib
import io
import json
import os
import re
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd

SRC, WORK = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(SRC, "scripts", "analysis"))
from attrun_load import AttrunResult, xr  # noqa: E402
import report  # noqa: E402  (in-process runs: each python3 start costs seconds on a loaded machine)

rng = np.random.default_rng(7)
os.makedirs(WORK, exist_ok=True)
model = os.path.join(WORK, "mlm-model")
os.makedirs(model, exist_ok=True)
vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<mask>": 3, "int": 4, "Ġx": 5, "Ġ=": 6, "Ġ;": 7, "Ġy": 8,
         "Ġmin": 50, "Ġmax": 51, "Ġfoo": 52, "Ġbar": 53, "Ġbaz": 54, "Ġqux": 55}
with open(os.path.join(model, "vocab.json"), "w") as f:
    json.dump(vocab, f)
names = ["keyword", "identifier", "operator", "separator", "special", "unknown"]
cat_of = {"<s>": 4, "</s>": 4, "<mask>": 4, "int": 0, "Ġx": 1, "Ġy": 1, "Ġ=": 2, "Ġ;": 3}

N, L, H, K = 12, 2, 2, len(names)
toks, off, aoff, probs, mpos, roll_ref = [], [0], [0], [], [], []
for i in range(N):
    body = ["int", "Ġx", "Ġ=", "<mask>", "Ġ;"] + ["Ġy", "Ġ;"] * int(rng.integers(0, 3))
    t = ["<s>"] + body + ["</s>"]
    T = len(t)
    toks += t
    off.append(off[-1] + T)
    mpos.append(t.index("<mask>"))
    a = rng.random((L, H, T, T)) + 0.05
    a /= a.sum(-1, keepdims=True)
    probs.append(a.ravel())
    aoff.append(aoff[-1] + a.size)
    # rollout from the mask: row p of (A_L + I)~ ... (A_1 + I)~, one product of full matrices
    R = np.eye(T)
    for l in range(L):
        A = a[l].mean(0) + np.eye(T)
        R = (A / A.sum(1, keepdims=True)) @ R
    roll_ref.append(R[mpos[-1]])
M = off[-1]
ids = np.array([vocab[w] for w in toks], np.int32)
top_ids = np.tile(np.array([50, 51, 52, 53, 54], np.int32), (N, 1))
top_ids[1::2] = [52, 50, 51, 53, 55]                   # odd rows predict 'Ġfoo'
label = np.array([50, 52, -1] * 4, np.int32)           # ids; -1 unknown
correct = np.array([1, 0, -1, 0, 1, -1, 1, 0, -1, 0, 1, -1], np.int8)
# rows 0, 6: label 50 = prediction 50 -> correct 1 (agrees); row 1: label 52 = prediction 52 but
# correct 0 (the writer's candidates say otherwise): the loader must follow the file
cand_ids = np.tile(np.array([50, 52], np.int32), (N, 1))  # 'Ġmin', 'Ġfoo'
cand_logits = np.where(np.arange(N)[:, None] % 2 == 0, [[2.0, 1.0]], [[1.0, 2.0]]).astype(np.float32)
top_ids[4, 0] = 53  # the full-vocabulary argmax is no candidate: the prediction is still candidate 50
pred_ref = np.where(np.arange(N) % 2 == 0, 50, 52)
cat = np.array([cat_of[w] for w in toks], np.int16)
count = np.stack([np.bincount(cat[off[i]:off[i + 1]], minlength=K) for i in range(N)]).astype(np.int32)
received = rng.random((N, L, H, K))
received /= received.sum(-1, keepdims=True)
sink = np.zeros((N, L, H), np.float32)
sink[:, 1, 0] = 1.0                                     # layer 1: half its heads are sinks
top = np.zeros((N, L, 3), np.float32)
top[:, :, 0] = 40.0
top[:, :, 1] = 2.0
top[:, :, 2] = 1.0
med = np.ones((N, L), np.float32)
path = os.path.join(WORK, "mlm.h5")
with h5py.File(path, "w") as f:
    st = h5py.string_dtype()
    f["/examples/index"] = np.arange(N, dtype=np.int64) + 10
    f["/examples/label"] = label
    f["/examples/target"] = np.full(N, 51, np.int32)      # fixed target 'Ġmax'
    f["/examples/mlm_position"] = np.array(mpos, np.int32)
    f["/examples/mlm_top_ids"] = top_ids
    f["/examples/mlm_top_probs"] = np.tile(np.array([0.4, 0.2, 0.1, 0.05, 0.01], np.float32), (N, 1))
    f["/examples/correct"] = correct
    f["/examples/candidate_ids"] = cand_ids
    f["/examples/candidate_logits"] = cand_logits
    f["/examples/extra"] = rng.random((N, 3)).astype(np.float32)
    f["/examples/category_count"] = count
    f.create_dataset("/examples/text", data=["int x = <mask> ;"] * N, dtype=st)
    f["/tokens/offsets"] = np.array(off, np.int64)
    f["/tokens/ids"] = ids
    f.create_dataset("/tokens/text", data=toks, dtype=st)
    f["/tokens/special"] = np.isin(ids, [0, 2, 3]).astype(np.int8)
    f["/tokens/category"] = cat
    f["/tokens/category"].attrs["names"] = np.array(names, dtype=h5py.string_dtype())
    f["/attributions/ig/token_sum"] = rng.normal(size=M).astype(np.float32)
    f["/attributions/ig/category_mass"] = rng.random((N, K)).astype(np.float32)
    f["/attention/offsets"] = np.array(aoff, np.int64)
    f["/attention/probs"] = np.concatenate(probs).astype(np.float32)
    f["/attention"].attrs["num_layers"] = np.int64(L)
    f["/attention"].attrs["num_heads"] = np.int64(H)
    f["/attention/stats/cls"] = rng.random((N, L, H)).astype(np.float32)
    f["/attention/stats/sink"] = sink
    f["/attention/stats/sink"].attrs["epsilon"] = 0.25
    f["/attention/categories/received"] = received.astype(np.float32)
    f["/hidden/massive/top_values"] = top
    f["/hidden/massive/top_positions"] = np.zeros((N, L, 3), np.int32)
    f["/hidden/massive/top_dims"] = np.full((N, L, 3), 7, np.int32)
    f["/hidden/massive/median_abs"] = med
    f.attrs["complete"] = np.int64(1)
    f.attrs["model"] = model

# ---- the schema document as the loader reads it: every dataset row understood ----
from attrun_schema import Schema  # noqa: E402
doc = os.path.join(SRC, "docs", "hdf5-schema.md")
sch = Schema.load(doc)
n_rows = sum(1 for line in open(doc, encoding="utf-8") if line.startswith("| `/"))
assert len(sch.rows) == n_rows and n_rows > 40, (len(sch.rows), n_rows)
for row in sch.rows:
    assert row.shapes and all(s and all(s) for s in row.shapes), row
assert sch.lookup("/attributions/saliency/token_l2").path == "/attributions/<method>/token_l2"
assert sch.lookup("/attention/stats/sink").path == "/attention/stats/sink"  # the exact row first

# ---- loader ----
r = AttrunResult(path)
assert r.is_mlm()
ex = r.examples()
assert list(ex["predicted"]) == list(pred_ref), "prediction = the candidates' argmax, not the target"
assert (ex["target"] == 51).all() and (ex["target_token"] == "Ġmax").all()
assert list(ex["predicted_token"][:2]) == ["Ġmin", "Ġfoo"], list(ex["predicted_token"][:2])
assert list(ex["label_token"][:3]) == ["Ġmin", "Ġfoo", None], list(ex["label_token"][:3])
want = [None if c < 0 else bool(c) for c in correct]
got = [None if pd.isna(c) else bool(c) for c in ex["correct"]]
assert got == want, ("correct must come from /examples/correct", got, want)
assert list(ex["candidate_tokens@0"][:1]) == ["Ġmin"] and list(ex["candidate_tokens@1"][:1]) == ["Ġfoo"]
assert list(ex["mlm_top_tokens@4"][:2]) == ["Ġbaz", "Ġqux"], list(ex["mlm_top_tokens@4"][:2])
assert np.allclose(ex["candidate_logits@1"], cand_logits[:, 1])
assert "category_count@identifier" in ex.columns and (ex["category_count@special"] == 3).all()
assert "attributions/ig/category_mass@keyword" in ex.columns
assert "extra@0" in ex.columns and "extra@2" in ex.columns, "undocumented [N, 3] dataset not loaded"
assert list(r.decode([50, 99])) == ["Ġmin", "[id 99]"]
tok = r.tokens()
assert list(tok["category"][:3]) == ["special", "keyword", "identifier"], list(tok["category"][:3])
assert tok["explained"].sum() == N and (tok[tok["explained"]]["text"] == "<mask>").all()
ds = r.datasets().set_index("path")
assert ds.loc["/attention/categories/received", "dims"] == ("example", "layer", "head", "category")
assert ds.loc["/attention/categories/received", "documented"]
assert ds.loc["/examples/extra", "dims"] == ("example", "dim_1") and not ds.loc["/examples/extra", "documented"]
assert ds.loc["/hidden/massive/top_values", "dims"] == ("example", "layer", "rank")
fr = r.frame("/attention/categories/received")
assert len(fr) == N * L * H * K and set(fr["category"]) == set(names)
row = fr[(fr.example == 3) & (fr.layer == 1) & (fr["head"] == 0) & (fr.category == "operator")]
assert np.isclose(row["value"].iloc[0], received[3, 1, 0, 2]) and row["corpus_row"].iloc[0] == 13
for i in range(N):
    assert np.abs(r.rollout(i) - roll_ref[i]).max() < 1e-6  # probs stored as float32, f"rollout from the mask, example {i}"
if xr is not None:
    a = r.array("/attention/categories/received")
    assert a.dims == ("example", "layer", "head", "category") and list(a["category"].values) == names
    assert float(a.sel(category="operator", layer=1, head=0).isel(example=3)) == np.float32(received[3, 1, 0, 2])
    d = r.to_xarray()
    assert d["tokens/category"].dims == ("token",) and "attention/probs" not in d
    assert list(d["corpus_row"].values) == list(range(10, 10 + N))
else:
    try:
        r.array("/attention/stats/cls")
        raise SystemExit("array() without xarray must fail")
    except ImportError as e:
        assert "python3-xarray" in str(e), e
r.close()
# without candidates: the full-vocabulary argmax at the mask
import shutil  # noqa: E402
shutil.copy(path, path + ".nocand.h5")
with h5py.File(path + ".nocand.h5", "r+") as f:
    del f["/examples/candidate_ids"], f["/examples/candidate_logits"]
nc = AttrunResult(path + ".nocand.h5").examples()
assert list(nc["predicted"]) == list(top_ids[:, 0]), "prediction = the top token at the mask, not the target"
print("mlm loader ok")

# ---- report ----
rep = os.path.join(WORK, "mlmrep")
p = subprocess.run([sys.executable, os.path.join(SRC, "scripts", "analysis", "report.py"), path, rep, "--min-count", "1"],
                   capture_output=True, text=True)
assert p.returncode == 0 and "Traceback" not in p.stderr, p.stdout + p.stderr
page = open(os.path.join(rep, "report.html"), encoding="utf-8").read()
for key in ['id="categories"', 'id="sinks"', 'id="massive"', 'id="cohorts"', 'id="cohort-summary"',
            'class="tok special explained"', 'data-method="rollout-mask"', "mask at position 4",
            "explained target &#x27;Ġmax&#x27;", "predicted &#x27;Ġmin&#x27; (correct)",
            'id="sink-epsilon">0.25<', "candidates (logit): &#x27;Ġmin&#x27;", 'id="category-mass"']:
    assert key in page, f"{key} not in the MLM report"
ct = pd.read_csv(os.path.join(rep, "cohort_tests.csv"))
assert (ct["n_a"] == 4).all() and (ct["n_b"] == 4).all(), ct[["n_a", "n_b"]]  # from /examples/correct
sinks = pd.read_csv(os.path.join(rep, "sinks.csv"))
assert list(sinks["sink_rate"]) == [0.0, 0.5], sinks
mass = pd.read_csv(os.path.join(rep, "massive.csv"))
assert np.allclose(mass["ratio_mean"], 40.0) and list(mass["most_common_dim"]) == [7, 7], mass
cats = pd.read_csv(os.path.join(rep, "categories.csv"))
c = cats[(cats.layer == 1) & (cats["head"] == 0) & (cats.category == "operator")].iloc[0]
assert np.isclose(c["received"], received[:, 1, 0, 2].mean(), atol=1e-6), c
share = (count / count.sum(1, keepdims=True)).mean(0)
assert np.isclose(c["share"], share[2]), c
assert os.path.getsize(os.path.join(rep, "categories_attention.png")) > 0
assert os.path.getsize(os.path.join(rep, "categories_attention_lift.png")) > 0

# ---- external cohorts: a file (corpus row -> cohort), a column; bad input exits 2 ----
cf = os.path.join(WORK, "cohorts.csv")
with open(cf, "w") as f:
    f.write("index,cohort\n" + "".join(f"{10 + i},{'short' if i < 6 else 'long'}\n" for i in range(N)))

def run_report(argv):
    """report.main in this process: (exit status, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = report.main(argv)
    return rc, err.getvalue()


rc, err = run_report([path, rep + "2", "--cohort-file", cf, "--cohorts", "short,long", "--test", "welch",
                      "--length-control", "strata", "--strata", "2"])
assert rc == 0, err
ct = pd.read_csv(os.path.join(rep + "2", "cohort_tests.csv"))
assert (ct["cohort_a"] == "short").all() and (ct["n_a"] == 6).all() and (ct["n_b"] == 6).all()
assert "Welch" in open(os.path.join(rep + "2", "report.html"), encoding="utf-8").read()
with open(cf, "a") as f:
    f.write("999,short\n")
for extra, msg in [(["--cohort-file", cf], r"cohorts.csv:\d+: index 999 is not in the result"),
                   (["--cohort-column", "nope"], "cohort column 'nope' is not a column"),
                   (["--cohort-column", "label", "--cohorts", "50,77"], "cohort level '77' is not present")]:
    rc, err = run_report([path, rep + "3"] + extra)
    assert rc == 2 and re.search(msg, err), (extra, rc, err)
print("mlm report ok")
