#!/usr/bin/env bash
# A job on a tokenizer.json-only copy of the bundled model gives the same HDF5 datasets
# (bitwise, tests/tools/h5compare.py same) as the same job on the model's vocab.txt:
# models/sst2-tiny's vocab written as tokenizer.json the way transformers' BertConverter
# writes it (tests/tools/write_tokenizer_json.py), the copy holding config.json, the
# weights and tokenizer.json only. Also `attrun tokenize` on both: identical output.
source "$(dirname "$0")/tools/run_lib.sh"
LEGACY=$SRC/models/sst2-tiny
[ -f "$LEGACY/vocab.txt" ] || { echo "SKIPPED: $LEGACY absent"; exit 77; }
$PY -c "import h5py, numpy" 2>/dev/null || { echo "SKIPPED: $PY has no h5py/numpy"; exit 77; }

TJ=$WORK/sst2-tiny-tokjson
mkdir -p "$TJ"
cp "$LEGACY/config.json" "$TJ/"
ln -s "$LEGACY/model.safetensors" "$TJ/model.safetensors"
$PY "$SRC/tests/tools/write_tokenizer_json.py" bert "$LEGACY/vocab.txt" "$TJ" || fail "writing tokenizer.json"
[ "$(ls "$TJ" | tr '\n' ' ')" = "config.json model.safetensors tokenizer.json " ] || fail "copy holds $(ls "$TJ")"

head -41 "$SRC/data/sst2-dev.tsv" > corpus.tsv
for m in legacy tj; do
    dir=$LEGACY
    [ $m = tj ] && dir=$TJ
    cat > $m.yaml <<EOC
model: $dir
corpus: {path: $WORK/corpus.tsv, text_field: sentence, label_field: label, max_length: 64}
methods: [ig, saliency]
target: predicted
ig: {steps: 8}
attention: {save: true}
out: $WORK/$m.h5
threads: 1
EOC
    "$BIN" run $m.yaml --quiet > $m.log 2>&1 || { cat $m.log; fail "attrun run on the $m tokenizer"; }
    $PY -c 'import json,sys
for l in open(sys.argv[1]).read().split("\n")[1:]:
    if l: print(json.dumps({"text": l.split("\t")[0]}))' corpus.tsv | "$BIN" tokenize --model "$dir" > $m.tok ||
        fail "attrun tokenize on the $m tokenizer"
done
$H5CMP same legacy.h5 tj.h5 || fail "HDF5 datasets differ between vocab.txt and tokenizer.json"
cmp -s legacy.tok tj.tok || fail "attrun tokenize output differs"
echo "ok: $(grep -c . legacy.tok) examples: same HDF5 datasets and tokenize output from vocab.txt and tokenizer.json"
