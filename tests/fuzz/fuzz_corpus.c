/* Fuzzes the corpus readers (io/corpus.c): TSV, CSV, JSONL, plain text.
 * Input: byte 0: bits 0-1 format (0 TSV, 1 CSV, 2 JSONL, 3 text), bit 2 on_error
 * skip, bit 3 read a pair field "sentence2", bit 4 map string labels through the
 * names {negative, positive}, bit 5 leave text_field to the reader's default,
 * bit 6 offset 1, bit 7 limit 3; then the file's bytes. Checked beyond "no
 * crash, no leak": records come in file order with valid UTF-8 text, labels
 * are -1 or in range when names are given, and every error names "FILE:LINE". */
#include "fuzz_util.h"
#include "io/corpus.h"

static const char *const EXT[4] = {"c.tsv", "c.csv", "c.jsonl", "c.txt"};
static const CorpusFormat FMT[4] = {CORPUS_TSV, CORPUS_CSV, CORPUS_JSONL, CORPUS_TEXT};

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int utf8_ok(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s, n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
        if (n == 9)
            return 0;
        unsigned cp = n == 0 ? c : c & (0x3F >> n);
        for (unsigned i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        static const unsigned MIN[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < MIN[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        s += n + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned f = data[0];
    char path[512], err[1024] = "";
    fuzz_write(path, sizeof path, EXT[f & 3], data + 1, size - 1);
    static char *names[2] = {"negative", "positive"};
    CorpusSpec spec = {0};
    spec.path = path;
    spec.format = FMT[f & 3];
    spec.text_field = f & 32 ? NULL : (f & 3) == 2 ? "text" : "sentence";
    spec.pair_field = f & 8 ? "sentence2" : NULL;
    spec.label_field = f & 16 ? "label" : NULL;
    spec.skip_errors = (f >> 2) & 1;
    spec.label_names = f & 16 ? names : NULL;
    spec.n_labels = f & 16 ? 2 : 0;
    spec.offset = f & 64 ? 1 : 0;
    spec.limit = f & 128 ? 3 : 0;
    Corpus *c = corpus_open(&spec, err, sizeof err);
    if (!c) {
        fuzz_check_err(err, path);
        fuzz_unlink(EXT[f & 3]);
        return 0;
    }
    CorpusRecord r;
    long last_row = -1, last_line = 0, nrec = 0;
    for (int i = 0; i < 100000; i++) {
        err[0] = 0;
        int rc = corpus_next(c, &r, err, sizeof err);
        if (rc == 0)
            break;
        if (rc == -1) {
            fuzz_check_err(err, path);
            break;
        }
        if (rc == 2) {
            if (!spec.skip_errors)
                abort(); /* skipped a row without on_error: skip */
            fuzz_check_err(err, path);
        } else if (rc == 1) {
            if (!r.text || !utf8_ok((const unsigned char *)r.text))
                abort();
            if (r.text_pair && !utf8_ok((const unsigned char *)r.text_pair))
                abort();
            if (r.label < -1)
                abort(); /* -1 is "absent"; labels are class indices */
            if (spec.limit > 0 && ++nrec > spec.limit)
                abort(); /* more than `limit` records */
        } else {
            abort(); /* not a documented return value */
        }
        if (r.row <= last_row || r.line < last_line || r.line < 1)
            abort(); /* rows and lines must advance */
        last_row = r.row;
        last_line = r.line;
    }
    corpus_close(c);
    fuzz_unlink(EXT[f & 3]);
    return 0;
}
