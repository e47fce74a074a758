/* attrun tokenize --model DIR [--max-length N]: JSONL {"text": ..., "text_pair": ...}
 * on stdin, one {"ids", "tokens", "offsets"} object per line on stdout, so the
 * tokenizer can be diffed against Hugging Face's on any text. */
#include "io/tokenizer.h"
#include "runner/commands.h"
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: attrun tokenize --model DIR [--max-length N]\n"
               "\n"
               "Reads JSON Lines on stdin, one object per line: {\"text\": \"...\"} with an optional\n"
               "\"text_pair\". Writes one line per input line on stdout:\n"
               "  {\"ids\": [...], \"tokens\": [...], \"offsets\": [[start, end], ...]}\n"
               "Offsets are [start, end) in Unicode code points of the text (of text_pair for the\n"
               "second segment), [0, 0] for added special tokens, as HF's offset_mapping.\n"
               "\n"
               "  --model DIR        checkpoint directory with tokenizer.json (Hugging Face's tokenizers\n"
               "                     pipeline: WordPiece or BPE, read whenever present), else vocab.txt\n"
               "                     (WordPiece) or vocab.json + merges.txt (byte-level BPE); and\n"
               "                     tokenizer_config.json\n"
               "  --max-length N     truncate to N tokens, specials included (default: the\n"
               "                     tokenizer's model_max_length; none when it has none)\n"
               "  -h, --help         this help\n"
               "\n"
               "Exit status: 0 on success, 1 on a bad input line (the message names the line), 2 on\n"
               "bad arguments or an unloadable tokenizer.\n");
}

/* JSON string with the escapes JSON needs; input is valid UTF-8. */
static void put_str(FILE *o, const char *s)
{
    fputc('"', o);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(o, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(o, "\\u%04x", *p);
        else
            fputc(*p, o);
    }
    fputc('"', o);
}

/* Parses the options: -1 to go on with *model and *max_length set, else the exit code (0 after --help). */
static int parse_tokenize_args(int argc, char **argv, const char **model, int *max_length)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},
        {"max-length", required_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "m:n:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            *model = optarg;
            break;
        case 'n': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 2 || v > 1000000) {
                fprintf(stderr, "attrun tokenize: --max-length: '%s' is not an integer in [2, 1000000]\n", optarg);
                return 2;
            }
            *max_length = (int)v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "attrun tokenize: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!*model) {
        fprintf(stderr, "attrun tokenize: --model DIR is required\n");
        usage(stderr);
        return 2;
    }
    return -1;
}

/* Why one parsed input line is not {"text": s[, "text_pair": s|null]}, or NULL with *text and *pair
 * (NULL when absent) set. j is NULL when the line is not JSON; je then says why. */
static const char *line_problem(const json_t *j, const json_error_t *je, json_t **text, json_t **pair,
                                char *whybuf, size_t whylen)
{
    *text = *pair = NULL;
    if (!j) {
        snprintf(whybuf, whylen, "malformed JSON at column %d: %s", je->column, je->text);
        return whybuf;
    }
    if (!json_is_object(j))
        return "expected a JSON object {\"text\": ...}";
    if (!json_is_string(*text = json_object_get(j, "text")))
        return *text ? "\"text\" is not a string" : "missing \"text\"";
    if ((*pair = json_object_get(j, "text_pair")) && !json_is_null(*pair) && !json_is_string(*pair))
        return "\"text_pair\" is not a string";
    return NULL;
}

/* One output line: {"ids": [...], "tokens": [...], "offsets": [[a, b], ...]}, as HF's encode prints them. */
static void print_encoding(const Tokenizer *tok, const Encoding *e)
{
    fputs("{\"ids\": [", stdout);
    for (int k = 0; k < e->n; k++)
        printf(k ? ", %d" : "%d", e->ids[k]);
    fputs("], \"tokens\": [", stdout);
    for (int k = 0; k < e->n; k++) {
        if (k)
            fputs(", ", stdout);
        put_str(stdout, tokenizer_id_to_token(tok, e->ids[k]));
    }
    fputs("], \"offsets\": [", stdout);
    for (int k = 0; k < e->n; k++)
        printf(k ? ", [%d, %d]" : "[%d, %d]", e->offsets[k][0], e->offsets[k][1]);
    fputs("]}\n", stdout);
}

/* Encodes stdin line by line to stdout: 0, or 1 at the first bad line (the lines before it are printed). */
static int tokenize_lines(const Tokenizer *tok, int max_length)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &je);
        char whybuf[300];
        json_t *text, *pair;
        const char *why = line_problem(j, &je, &text, &pair, whybuf, sizeof whybuf);
        if (why) {
            fprintf(stderr, "attrun tokenize: stdin:%ld: %s\n", lineno, why);
            json_decref(j);
            rc = 1;
            break;
        }
        Encoding e;
        if (tokenizer_encode_n(tok, json_string_value(text), json_string_length(text),
                               json_is_string(pair) ? json_string_value(pair) : NULL,
                               json_is_string(pair) ? json_string_length(pair) : 0, max_length, &e)) {
            fprintf(stderr, "attrun tokenize: stdin:%ld: text is not valid UTF-8\n", lineno);
            json_decref(j);
            rc = 1;
            break;
        }
        print_encoding(tok, &e);
        encoding_free(&e);
        json_decref(j);
    }
    free(line);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL;
    int max_length = 0;
    int arc = parse_tokenize_args(argc, argv, &model, &max_length);
    if (arc >= 0)
        return arc;
    char err[1024];
    Tokenizer *tok = tokenizer_load(model, err, sizeof err);
    if (!tok) {
        fprintf(stderr, "attrun tokenize: %s\n", err);
        return 2;
    }
    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    int rc = tokenize_lines(tok, max_length);
    tokenizer_free(tok);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "attrun tokenize: cannot write stdout\n");
        return 1;
    }
    return rc;
}
