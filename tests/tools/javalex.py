"""An independent Java lexer for the tests: javalang's JavaTokenizer rules (c2nes/javalang,
javalang/tokenizer.py, read for its rules, not copied) written again in Python, with the
deviations attrun documents in docs/analysis.md section 6.1 (comments are tokens, the
one-line `//` rule, 'x' literals are `character`, unterminated literals, unknown characters,
no \\u translation). Not used by attrun itself: tests compare io/lex_java.c against it.

lex(text) -> list of (start, end, category) in code points, categories as in NAMES.
"""
import unicodedata

NAMES = ["keyword", "modifier", "basictype", "boolean", "null", "identifier", "separator",
         "operator", "annotation", "integer", "floatingpoint", "character", "string", "comment",
         "special", "unknown"]

KEYWORDS = set("""abstract assert boolean break byte case catch char class const continue default
do double else enum extends final finally float for goto if implements import instanceof int
interface long native new package private protected public return short static strictfp super
switch synchronized this throw throws transient try void volatile while""".split())
MODIFIERS = set("""abstract default final native private protected public static strictfp
synchronized transient volatile""".split())
BASIC = set("boolean byte char double float int long short".split())
OPS = set(""">>>= >>= <<= %= ^= |= &= /= *= -= += << -- ++ || && != >= <= == % ^ | & / * - + : ?
~ ! < > = ... -> ::""".split())
SEPS = set("(){}[];,.")
START = {"Lu", "Ll", "Lt", "Lm", "Lo", "Nl", "Pc", "Sc"}
PART = START | {"Mc", "Mn", "Nd"}


def word_cat(w):
    if w in KEYWORDS:
        return "basictype" if w in BASIC else "modifier" if w in MODIFIERS else "keyword"
    if w in ("true", "false"):
        return "boolean"
    return "null" if w == "null" else "identifier"


class Lexer:
    def __init__(self, s):
        self.s, self.n = s, len(s)
        self.one_line = "\n" not in s and "\r" not in s

    def ch(self, i):
        return self.s[i] if 0 <= i < self.n else ""

    def digits(self, j, ds):
        # javalang read_digits: '_' runs count only before a digit; one trailing l/L
        tmp, c = 0, ""
        while j + tmp < self.n:
            c = self.s[j + tmp]
            if c in ds:
                j, tmp = j + 1 + tmp, 0
            elif c == "_":
                tmp += 1
            else:
                break
        return j + 1 if c and c in "lL" else j

    def decimal(self, i):
        j = self.digits(i, "0123456789")
        if j >= self.n or self.s[j] not in ".eEfFdD":
            return j, "integer"
        if self.s[j] == ".":
            j = self.digits(j + 1, "0123456789")
        if self.ch(j) and self.ch(j) in "eE":
            j += 1
            if self.ch(j) and self.ch(j) in "-+":
                j += 1
            j = self.digits(j, "0123456789")
        if self.ch(j) and self.ch(j) in "fFdD":
            j += 1
        return j, "floatingpoint"

    def hexnum(self, i):
        hx = "0123456789abcdefABCDEF"
        j = self.digits(i + 2, hx)
        if j >= self.n or self.s[j] not in ".pP":
            return j, "integer"
        if self.s[j] == ".":
            j = self.digits(j + 1, hx)
        for cs in ("pP", "-+"):
            if self.ch(j) and self.ch(j) in cs:
                j += 1
        j = self.digits(j, "0123456789")
        if self.ch(j) and self.ch(j) in "fFdD":
            j += 1
        return j, "floatingpoint"

    def number(self, i):
        c, cn = self.s[i], self.ch(i + 1)
        if c == "0" and cn and cn in "xX":
            return self.hexnum(i)
        if c == "0" and cn and cn in "bB":
            return self.digits(i + 2, "01"), "integer"
        if c == "0" and cn and cn in "01234567":
            return self.digits(i + 1, "01234567"), "integer"
        return self.decimal(i)

    def string(self, i):
        delim, state = self.s[i], 0
        for j in range(i + 1, self.n):
            c = self.s[j]
            if state == 0:
                if c == "\\":
                    state = 1
                elif c == delim:
                    return j + 1
            elif state == 1:
                if c in "btnfru\"'\\":
                    state = 0
                elif c in "0123":
                    state = 2
                elif c in "01234567":
                    state = 3
            elif state == 2:
                if c in "01234567":
                    state = 3
                elif c == "\\":
                    state = 1
                elif c == delim:
                    return j + 1
            else:
                state = 0
                if c == "\\":
                    state = 1
                elif c == delim:
                    return j + 1
        return None

    def operator(self, i):
        for l in range(min(4, self.n - i), 0, -1):
            if self.s[i:i + l] in OPS:
                return i + l
        return None

    def line_comment(self, i):
        e = i + 2
        while e < self.n and self.s[e] not in "\r\n":
            e += 1
        if not self.one_line:
            return e
        import re
        words = [(m.start() + i + 2, m.end() + i + 2) for m in re.finditer(r"\S+", self.s[i + 2:e])]
        for k, (a, b) in enumerate(words):
            w = self.s[a:b]
            if (len(w) == 1 and w in SEPS) or w in OPS:
                while k > 0 and word_cat(self.s[words[k - 1][0]:words[k - 1][1]]) != "identifier":
                    k -= 1
                return words[k - 1][1] if k > 0 else i + 2
        return words[-1][1] if words else i + 2

    def tokens(self):
        out, i = [], 0
        while i < self.n:
            c, cn = self.s[i], self.ch(i + 1)
            if c.isspace():
                i += 1
                continue
            if c == "/" and cn in ("/", "*"):
                if cn == "/":
                    j = self.line_comment(i)
                else:
                    k = self.s.find("*/", i + 2)
                    j = self.n if k < 0 else k + 2
                cat = "comment"
            elif c == "." and cn == "." and self.operator(i):
                j, cat = self.operator(i), "operator"
            elif c == "@":
                j, cat = i + 1, "annotation"
            elif c == "." and cn and unicodedata.category(cn) == "Nd":
                j, cat = self.decimal(i)
            elif c in SEPS:
                j, cat = i + 1, "separator"
            elif c in "'\"":
                j = self.string(i)
                cat = "unknown" if j is None else "string" if c == '"' else "character"
                j = i + 1 if j is None else j
            elif c in "0123456789":
                j, cat = self.number(i)
            elif unicodedata.category(c) in START:
                j = i + 1
                while j < self.n and unicodedata.category(self.s[j]) in PART:
                    j += 1
                cat = word_cat(self.s[i:j])
            elif self.operator(i):
                j, cat = self.operator(i), "operator"
            else:
                j, cat = i + 1, "unknown"
            out.append((i, j, cat))
            i = j
        return out


def lex(text):
    return Lexer(text).tokens()




def compare(corpus, dump):
    """Compares io/lex_java.c's tokens of every corpus text (dump lines "row start end cat",
    written by tests/test_lex_java.c) with lex(); prints the first differences."""
    import json
    texts = [json.loads(l)["text"] for l in open(corpus, encoding="utf-8")]
    got = [[] for _ in texts]
    for line in open(dump):
        r, a, b, c = line.split()
        got[int(r)].append((int(a), int(b), c))
    bad, ntok = 0, 0
    for r, t in enumerate(texts):
        want = lex(t)
        ntok += len(want)
        if want != got[r]:
            bad += 1
            k = next(i for i in range(min(len(want), len(got[r])) + 1)
                     if i >= len(want) or i >= len(got[r]) or want[i] != got[r][i])
            print(f"row {r}: first difference at token {k}: javalex {want[k:k + 2]} vs C {got[r][k:k + 2]}")
    print(f"{len(texts)} texts, {ntok} tokens, {bad} texts differ")
    return bad == 0


if __name__ == "__main__":
    import sys
    if sys.argv[1] == "--compare":
        sys.exit(0 if compare(sys.argv[2], sys.argv[3]) else 1)
    for t in lex(sys.argv[1]):
        print(t[0], t[1], t[2], repr(sys.argv[1][t[0]:t[1]]))
