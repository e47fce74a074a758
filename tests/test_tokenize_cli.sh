#!/usr/bin/env bash
# attrun tokenize: output format, errors with line numbers, --help, and every
# reference text of HF's BertTokenizerFast / RobertaTokenizerFast and of the tokenizer.json
# models (GPT-2, Qwen2, Llama) pushed through the CLI and compared id by id
# (shared/reference/tokenization); tokenizer.json errors.
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

# 3. all reference texts through the CLI (NUL characters included: \u0000 is passed on), for the
# legacy files (tiny-bert vocab.txt, tiny-roberta vocab.json + merges.txt) and tokenizer.json
# (tiny-gpt2, tiny-qwen2, tiny-llama; llama's hf_fast_ids where the text holds literal specials)
PY=/usr/bin/python3
if [ ! -x "$PY" ]; then
    echo "SKIPPED: $PY is absent, the full reference comparison did not run ($fails failures above)"
    [ $fails = 0 ] && exit 77
    exit 1
fi
R=$SHARED/reference
for m in bert roberta gpt2 qwen2 llama; do
    case $m in
    bert) ref=$R/tokenization/hf_bert_base_uncased.json key=fast dir=$BERT ;;
    roberta) ref=$R/tokenization/hf_roberta_base.json key=ids dir=$ROB ;;
    llama) ref=$R/tokenization/llama_spm_2k.json key=hf_fast_ids dir=$R/models/tiny-llama ;;
    *) ref=$R/tokenization/${m}_2k.json key=ids dir=$R/models/tiny-$m ;;
    esac
    [ -f "$ref" ] || { echo "skip $m: $ref absent"; continue; }
    "$PY" -c '
import json, sys
for it in json.load(open(sys.argv[1]))["items"]:
    print(json.dumps({"text": it["text"]}))' "$ref" >"$TMP/in.jsonl"
    "$BIN" tokenize --model "$dir" --max-length 100000 <"$TMP/in.jsonl" >"$TMP/out.jsonl"
    check "$m reference run" $?
    "$PY" -c '
import json, sys
items = json.load(open(sys.argv[1]))["items"]
outs = [json.loads(l) for l in open(sys.argv[2])]
assert len(outs) == len(items), (len(outs), len(items))
bad = 0
for it, o in zip(items, outs):
    n = len(it["text"])
    want = it.get(sys.argv[3], it.get("ids"))
    ok = o["ids"] == want and len(o["tokens"]) == len(o["ids"]) == len(o["offsets"])
    ok = ok and all(0 <= s <= e <= n for s, e in o["offsets"])
    if not ok:
        bad += 1
        if bad <= 3: print("mismatch:", repr(it["text"]), o["ids"], want)
print("%s: %d/%d equal" % (sys.argv[1].split("/")[-1], len(items) - bad, len(items)))
sys.exit(1 if bad else 0)' "$ref" "$TMP/out.jsonl" $key
    check "$m reference ids" $?
done

# 4. tokenizer.json errors name the file and the JSON path; exit 2
mkdir -p "$TMP/badtj"
printf '%s' '{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, {"type": "Split", "pattern": {"Regex": "[a-"}, "behavior": "Isolated"}]}, "model": {"type": "WordPiece", "unk_token": "u", "vocab": {"u": 0}}}' >"$TMP/badtj/tokenizer.json"
"$BIN" tokenize --model "$TMP/badtj" </dev/null >/dev/null 2>"$TMP/err"
[ $? = 2 ] && grep -q 'badtj/tokenizer.json: pre_tokenizer.pretokenizers\[1\].pattern.Regex: invalid regex' "$TMP/err"
check "bad regex in tokenizer.json ($(cat "$TMP/err"))" $?
printf '%s' '{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}' >"$TMP/badtj/tokenizer.json"
"$BIN" tokenize --model "$TMP/badtj" </dev/null >/dev/null 2>"$TMP/err"
[ $? = 2 ] && grep -q 'model.type: the Unigram model is not supported' "$TMP/err"
check "Unigram refused ($(cat "$TMP/err"))" $?

echo "$fails failure(s)"
[ $fails = 0 ]
