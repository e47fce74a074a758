#!/usr/bin/env bash
# attrun tokenize: output format, errors with line numbers, --help, and every
# reference text of HF's BertTokenizerFast / RobertaTokenizerFast pushed through
# the CLI and compared id by id (shared/reference/tokenization).
set -u
BIN=${ATTRUN_BIN:?ATTRUN_BIN not set}
SHARED=${ATTRUN_SHARED:-../shared}
BERT=$SHARED/reference/models/tiny-bert
ROB=$SHARED/reference/models/tiny-roberta
if [ ! -f "$BERT/vocab.txt" ] || [ ! -f "$ROB/merges.txt" ]; then
    echo "SKIPPED: $SHARED/reference/models is absent"
    exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
check() { # name, condition result
    if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}

# 1. exact output (ids from the HF reference file, offsets by hand)
printf '%s\n' '{"text": "Hello, my dog is cute"}' '{"text": "hello world", "text_pair": "my dog"}' |
    "$BIN" tokenize --model "$BERT" >"$TMP/out" 2>"$TMP/err"
check "bert exit 0" $?
cat >"$TMP/want" <<'EOF'
{"ids": [101, 7592, 1010, 2026, 3899, 2003, 10140, 102], "tokens": ["[CLS]", "hello", ",", "my", "dog", "is", "cute", "[SEP]"], "offsets": [[0, 0], [0, 5], [5, 6], [7, 9], [10, 13], [14, 16], [17, 21], [0, 0]]}
{"ids": [101, 7592, 2088, 102, 2026, 3899, 102], "tokens": ["[CLS]", "hello", "world", "[SEP]", "my", "dog", "[SEP]"], "offsets": [[0, 0], [0, 5], [6, 11], [0, 0], [0, 2], [3, 6], [0, 0]]}
EOF
cmp -s "$TMP/out" "$TMP/want"
check "bert output" $?

printf '%s\n' '{"text": "Hello world"}' | "$BIN" tokenize --model "$ROB" >"$TMP/out"
echo '{"ids": [0, 31414, 232, 2], "tokens": ["<s>", "Hello", "Ġworld", "</s>"], "offsets": [[0, 0], [0, 5], [6, 11], [0, 0]]}' >"$TMP/want"
cmp -s "$TMP/out" "$TMP/want"
check "roberta output" $?

printf '%s\n' '{"text": "a b c d e f g"}' | "$BIN" tokenize --model "$BERT" --max-length 4 >"$TMP/out"
echo '{"ids": [101, 1037, 1038, 102], "tokens": ["[CLS]", "a", "b", "[SEP]"], "offsets": [[0, 0], [0, 1], [2, 3], [0, 0]]}' >"$TMP/want"
cmp -s "$TMP/out" "$TMP/want"
check "--max-length 4" $?

# 2. errors: the bad line is named, earlier lines were written, exit 1
printf '%s\n' '{"text": "ok"}' '{"text": "ok", ' '{"text": "never"}' | "$BIN" tokenize --model "$BERT" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc = 1 ] && grep -q 'stdin:2: malformed JSON' "$TMP/err" && [ "$(wc -l <"$TMP/out")" = 1 ]
check "malformed JSON line 2 -> exit 1 ($(cat "$TMP/err"))" $?
printf '%s\n' '{"txt": "x"}' | "$BIN" tokenize --model "$BERT" >/dev/null 2>"$TMP/err"
[ $? = 1 ] && grep -q 'stdin:1: missing "text"' "$TMP/err"
check "missing text" $?
printf '{"text": "\xff"}\n' | "$BIN" tokenize --model "$BERT" >/dev/null 2>"$TMP/err"
[ $? = 1 ] && grep -q 'stdin:1:' "$TMP/err"
check "invalid UTF-8 ($(cat "$TMP/err"))" $?
"$BIN" tokenize --model "$TMP/none" </dev/null >/dev/null 2>"$TMP/err"
[ $? = 2 ] && grep -q "$TMP/none" "$TMP/err"
check "missing model dir" $?
"$BIN" tokenize </dev/null >/dev/null 2>"$TMP/err"
[ $? = 2 ] && grep -q -- '--model' "$TMP/err"
check "no --model" $?
"$BIN" tokenize --model "$BERT" --max-length x </dev/null >/dev/null 2>&1
[ $? = 2 ]
check "bad --max-length" $?
"$BIN" tokenize --help >"$TMP/out"
[ $? = 0 ] && grep -q 'text_pair' "$TMP/out"
check "--help" $?

# 3. all reference texts through the CLI (texts with NUL cannot be passed on and are left out)
PY=/usr/bin/python3
if [ ! -x "$PY" ]; then
    echo "SKIPPED: $PY is absent, the full reference comparison did not run ($fails failures above)"
    [ $fails = 0 ] && exit 77
    exit 1
fi
for m in bert roberta; do
    if [ $m = bert ]; then ref=$SHARED/reference/tokenization/hf_bert_base_uncased.json key=fast dir=$BERT
    else ref=$SHARED/reference/tokenization/hf_roberta_base.json key=ids dir=$ROB; fi
    "$PY" -c '
import json, sys
for it in json.load(open(sys.argv[1]))["items"]:
    if "\0" not in it["text"]:
        print(json.dumps({"text": it["text"]}))' "$ref" >"$TMP/in.jsonl"
    "$BIN" tokenize --model "$dir" <"$TMP/in.jsonl" >"$TMP/out.jsonl"
    check "$m reference run" $?
    "$PY" -c '
import json, sys
items = [it for it in json.load(open(sys.argv[1]))["items"] if "\0" not in it["text"]]
outs = [json.loads(l) for l in open(sys.argv[2])]
assert len(outs) == len(items), (len(outs), len(items))
bad = 0
for it, o in zip(items, outs):
    n = len(it["text"])
    ok = o["ids"] == it[sys.argv[3]] and len(o["tokens"]) == len(o["ids"]) == len(o["offsets"])
    ok = ok and all(0 <= s <= e <= n for s, e in o["offsets"])
    if not ok:
        bad += 1
        if bad <= 3: print("mismatch:", repr(it["text"]), o["ids"], it[sys.argv[3]])
print("%s: %d/%d equal" % (sys.argv[1].split("/")[-1], len(items) - bad, len(items)))
sys.exit(1 if bad else 0)' "$ref" "$TMP/out.jsonl" $key
    check "$m reference ids" $?
done

echo "$fails failure(s)"
[ $fails = 0 ]
