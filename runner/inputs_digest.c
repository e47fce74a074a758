/* Digests of a job's inputs (see inputs_digest.h). */
#include "runner/inputs_digest.h"
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void hexify(const unsigned char *md, char hex[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void add_i64(EVP_MD_CTX *c, int64_t v)
{
    EVP_DigestUpdate(c, &v, sizeof v);
}

/* The files besides the weights that shape the model or the tokenizer (those present). */
static const char *const MODEL_FILES[] = {"config.json", "vocab.txt", "vocab.json", "merges.txt",
                                          "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json",
                                          "added_tokens.json"};

static int model_digest(const char *dir, char hex[65], char *err, size_t errlen)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    char buf[65536];
    int rc = 0;
    for (size_t i = 0; i < sizeof MODEL_FILES / sizeof *MODEL_FILES && !rc; i++) {
        size_t n = strlen(dir) + strlen(MODEL_FILES[i]) + 2;
        char *p = malloc(n);
        snprintf(p, n, "%s/%s", dir, MODEL_FILES[i]);
        FILE *f = fopen(p, "rb");
        if (f) {
            EVP_DigestUpdate(c, MODEL_FILES[i], strlen(MODEL_FILES[i]) + 1);
            size_t k;
            while ((k = fread(buf, 1, sizeof buf, f)) > 0)
                EVP_DigestUpdate(c, buf, k);
            if (ferror(f)) {
                snprintf(err, errlen, "%s: read error: %s", p, strerror(errno));
                rc = -1;
            }
            fclose(f);
        }
        free(p);
    }
    unsigned char md[32];
    EVP_DigestFinal_ex(c, md, NULL);
    EVP_MD_CTX_free(c);
    hexify(md, hex);
    return rc;
}

static void examples_digest(const Examples *ex, char hex[65])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    add_i64(c, ex->n);
    add_i64(c, ex->mask_id);
    add_i64(c, ex->unk_id);
    add_i64(c, ex->cls_id);
    add_i64(c, ex->sep_id);
    if (ex->n_cand) { /* mlm.candidates (a file of words can change under the same config); none: as before */
        add_i64(c, ex->n_cand);
        EVP_DigestUpdate(c, ex->cand_ids, sizeof(int) * (size_t)ex->n_cand);
    }
    for (long i = 0; i < ex->n; i++) {
        int64_t t0 = ex->off[i], T = ex->off[i + 1] - t0;
        add_i64(c, ex->row[i]);
        add_i64(c, ex->label[i]);
        add_i64(c, ex->target[i]);
        add_i64(c, ex->mlm_pos[i]);
        add_i64(c, T);
        EVP_DigestUpdate(c, ex->ids + t0, sizeof(int) * (size_t)T);
        EVP_DigestUpdate(c, ex->type_ids + t0, sizeof(int) * (size_t)T);
        EVP_DigestUpdate(c, ex->special + t0, sizeof(int) * (size_t)T);
    }
    unsigned char md[32];
    EVP_DigestFinal_ex(c, md, NULL);
    EVP_MD_CTX_free(c);
    hexify(md, hex);
}

int inputs_digest(const char *model_dir, const Examples *ex, InputsDigest *d, char *err, size_t errlen)
{
    if (model_digest(model_dir, d->model, err, errlen))
        return -1;
    examples_digest(ex, d->examples);
    d->n_examples = ex->n;
    return 0;
}

int inputs_agree(const InputsDigest *d, MPI_Comm comm, char *msg, size_t n)
{
    int rank, nranks;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &nranks);
    InputsDigest r0 = *d;
    MPI_Bcast(&r0, (int)sizeof r0, MPI_BYTE, 0, comm);
    /* bit 0: weights, 1: model files, 2: examples */
    int mine = (strcmp(r0.weights, d->weights) ? 1 : 0) | (strcmp(r0.model, d->model) ? 2 : 0) |
               (strcmp(r0.examples, d->examples) || r0.n_examples != d->n_examples ? 4 : 0);
    int any;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_BOR, comm);
    if (!any)
        return 1;
    int *all = malloc(sizeof(int) * nranks);
    long *cnt = malloc(sizeof(long) * nranks);
    MPI_Allgather(&mine, 1, MPI_INT, all, 1, MPI_INT, comm);
    MPI_Allgather(&d->n_examples, 1, MPI_LONG, cnt, 1, MPI_LONG, comm);
    snprintf(msg, n, "the ranks did not read the same inputs (a corpus that is a pipe, or node-local copies of "
             "the model or corpus that differ); rank 0 read %ld examples:", cnt[0]);
    int shown = 0;
    for (int r = 1; r < nranks && shown < 8; r++) {
        if (!all[r])
            continue;
        shown++;
        snprintf(msg + strlen(msg), n - strlen(msg), " rank %d: %s%s%s(%ld examples);", r,
                 all[r] & 1 ? "other weights, " : "", all[r] & 2 ? "other config/tokenizer files, " : "",
                 all[r] & 4 ? "other examples " : "", cnt[r]);
    }
    snprintf(msg + strlen(msg), n - strlen(msg), " every rank must see the same files");
    free(all);
    free(cnt);
    return 0;
}

char *inputs_text(const InputsDigest *d)
{
    char *t = malloc(512);
    snprintf(t, 512, "weights_sha256 %s\nmodel_files_sha256 %s\nexamples_sha256 %s\nexamples %ld\n", d->weights,
             d->model, d->examples, d->n_examples);
    return t;
}

/* The value of `key` in a stored inputs.txt ("" when absent). */
static void field(const char *text, const char *key, char *out, size_t n)
{
    out[0] = 0;
    size_t L = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, key, L) && p[L] == ' ') {
            size_t k = strcspn(p + L + 1, "\n");
            snprintf(out, n, "%.*s", (int)k, p + L + 1);
            return;
        }
}

int inputs_compare(const char *stored, const InputsDigest *d, const char *model_dir, const char *corpus,
                   char *msg, size_t n)
{
    char w[80], m[80], e[80], cnt[32];
    field(stored, "weights_sha256", w, sizeof w);
    field(stored, "model_files_sha256", m, sizeof m);
    field(stored, "examples_sha256", e, sizeof e);
    field(stored, "examples", cnt, sizeof cnt);
    char what[1024] = "";
    if (strcmp(w, d->weights))
        snprintf(what + strlen(what), sizeof what - strlen(what), "; the weights in %s (sha256 %.12s… then, "
                 "%.12s… now)", model_dir, w, d->weights);
    if (strcmp(m, d->model))
        snprintf(what + strlen(what), sizeof what - strlen(what), "; config.json or the tokenizer files in %s",
                 model_dir);
    if (strcmp(e, d->examples) || atol(cnt) != d->n_examples)
        snprintf(what + strlen(what), sizeof what - strlen(what), "; the examples of %s (%s examples then, %ld "
                 "now; rows edited, inserted or removed, other tokenization, or other mlm.candidates)", corpus,
                 cnt[0] ? cnt : "?", d->n_examples);
    if (!what[0])
        return 0;
    snprintf(msg, n, "the inputs changed since the spools were written%s. The finished units would mix old and "
             "new inputs, so they are not resumed: restore the old inputs, or start again with --overwrite",
             what);
    return -1;
}

int corpus_shareable(const char *path, int nranks, char *msg, size_t n)
{
    struct stat st;
    if (nranks <= 1 || stat(path, &st) || S_ISREG(st.st_mode))
        return 0; /* a missing file is reported by the corpus reader */
    snprintf(msg, n, "corpus.path: %s is not a regular file (a pipe, FIFO or device): each of the %d ranks "
             "reads the corpus itself and would get a different part of the stream; copy it to a file first "
             "(or run one rank)", path, nranks);
    return -1;
}
