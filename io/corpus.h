/* Corpus readers: TSV and CSV with a header (columns by name), JSONL (fields by
 * name), plain text (one example per line). Streamed line by line: a corpus of
 * any size is never loaded whole. Every error names the file and line. */
#ifndef ATTRUN_CORPUS_H
#define ATTRUN_CORPUS_H
#include <stddef.h>

typedef enum { CORPUS_AUTO = 0, CORPUS_TSV, CORPUS_CSV, CORPUS_JSONL, CORPUS_TEXT } CorpusFormat;

typedef struct {
    const char *path;
    CorpusFormat format;      /* AUTO: by extension (.tsv, .csv, .jsonl/.json, else text) */
    const char *text_field;   /* default "sentence" if the header (TSV/CSV) or the record (JSONL) has it, else "text" */
    const char *pair_field;   /* optional second segment (NULL: none) */
    const char *label_field;  /* optional (NULL: default "label" when the column exists) */
    const char *cont_field;   /* optional continuation of the text (causal LMs), NULL: none; empty is a bad row */
    long offset, limit;       /* row range: skip `offset` rows, then at most `limit` (<= 0: all) */
    int skip_errors;          /* on_error: skip (1) or fail (0) */
    const char *extra_field;  /* JSONL only: a field handed out as JSON text (token categories), or NULL */
    const char *id_field;     /* TSV/CSV/JSONL: a column/field handed out as a string (rec->id), or NULL */
    char *const *keep_fields; /* (n_keep) more columns/fields handed out as strings (rec->kept) */
    int n_keep;
    int label_strings;        /* 1: a label that is not a number is handed out as rec->label_text (label -1)
                                 instead of being looked up in label_names (masked-LM gold words) */
    char **label_names;       /* id2label names, to map string labels (may be NULL) */
    int n_labels;
    int n_classes;            /* numeric labels must be 0 .. n_classes-1 (0: only >= 0 is checked) */
} CorpusSpec;

typedef struct {
    long row;                 /* 0-based data row in the file (header excluded) */
    long line;                /* 1-based line number in the file */
    char *text;               /* UTF-8, owned by the reader until the next call */
    char *text_pair;          /* or NULL */
    char *continuation;       /* cont_field's text, or NULL */
    int label;                /* -1 when absent */
    char *extra;              /* extra_field's value as compact JSON text (owned by the reader), or NULL */
    const char *id;           /* id_field's value (owned by the reader), or NULL without id_field */
    const char *const *kept;  /* (n_keep) keep_fields' values (owned by the reader), or NULL */
    const char *label_text;   /* with label_strings: the label as written when it is not a number, or NULL */
} CorpusRecord;

typedef struct Corpus Corpus;

Corpus *corpus_open(const CorpusSpec *spec, char *err, size_t errlen);
/* 1: a record; 0: end of corpus; -1: error (err: "FILE:LINE: what"); with skip_errors,
 * 2: the row was skipped (err holds the reason, rec->row/line are set). */
int corpus_next(Corpus *c, CorpusRecord *rec, char *err, size_t errlen);
void corpus_close(Corpus *c);
const char *corpus_format_name(CorpusFormat f);
#endif
