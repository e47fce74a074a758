/* Spool files: durable append of finished work units, and the scan that
 * resume and assembly start from (see spool.h). */
#include "runner/spool.h"
#include "engine/clock.h"
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static uint32_t crc32_of(const void *p, uint64_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    const unsigned char *b = p;
    while (n > 0) { /* zlib takes uInt lengths */
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, b, k);
        b += k;
        n -= k;
    }
    return (uint32_t)c;
}

int spool_open(SpoolWriter *w, const char *dir, int rank, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    size_t n = strlen(dir) + 64;
    w->path = malloc(n);
    snprintf(w->path, n, "%s/rank%d-%ld.bin", dir, rank, (long)getpid());
    w->f = fopen(w->path, "ab");
    if (!w->f) {
        snprintf(err, errlen, "%s: cannot create spool file: %s", w->path, strerror(errno));
        return -1;
    }
    w->last_sync = clock_now();
    return 0;
}

/* Regroups n bytes by their position in 16-byte lanes (the tail stays in place). */
static void shuffle16(const unsigned char *in, unsigned char *out, uint64_t n, int back)
{
    uint64_t g = n / 16;
    for (uint64_t i = 0; i < g; i++)
        for (int k = 0; k < 16; k++) {
            if (back)
                out[i * 16 + k] = in[k * g + i];
            else
                out[k * g + i] = in[i * 16 + k];
        }
    memcpy(out + g * 16, in + g * 16, n - g * 16);
}

/* The compact form of a payload (malloc'ed, *stored bytes), or NULL when it is not smaller. */
static unsigned char *pack(const void *payload, uint64_t bytes, uint64_t *stored)
{
    if (bytes < SPOOL_PACK_MIN || bytes > UINT32_MAX)
        return NULL;
    unsigned char *sh = malloc(bytes);
    uLong cap = compressBound((uLong)bytes);
    unsigned char *out = malloc(8 + cap);
    if (!sh || !out) {
        free(sh);
        free(out);
        return NULL;
    }
    shuffle16(payload, sh, bytes, 0);
    memcpy(out, &bytes, 8);
    /* level 1: the gain is in the sign and exponent planes, which any level finds */
    int rc = compress2(out + 8, &cap, sh, (uLong)bytes, 1);
    free(sh);
    if (rc != Z_OK || 8 + cap >= bytes) {
        free(out);
        return NULL;
    }
    *stored = 8 + cap;
    return out;
}

int spool_append(SpoolWriter *w, int example, int method, int i0, int i1, const void *payload, uint64_t bytes,
                 char *err, size_t errlen)
{
    uint64_t stored = bytes;
    unsigned char *packed = pack(payload, bytes, &stored);
    const void *data = packed ? (const void *)packed : payload;
    SpoolHeader h = {SPOOL_MAGIC, example, method, i0, i1, crc32_of(data, stored), stored, 0,
                     packed ? SPOOL_SHUFFLE_DEFLATE : SPOOL_RAW};
    h.hcrc = crc32_of(&h, sizeof h);
    int sync = clock_now() - w->last_sync >= SPOOL_SYNC_SECONDS;
    int bad = fwrite(&h, sizeof h, 1, w->f) != 1 || (stored && fwrite(data, 1, stored, w->f) != stored) ||
              fflush(w->f) || (sync && fsync(fileno(w->f)));
    free(packed);
    if (bad) {
        snprintf(err, errlen, "%s: cannot write spool record: %s", w->path, strerror(errno));
        return -1;
    }
    if (sync)
        w->last_sync = clock_now();
    w->bytes += sizeof h + stored;
    w->raw_bytes += bytes;
    return 0;
}

int spool_close(SpoolWriter *w, char *err, size_t errlen)
{
    int rc = 0;
    if (w->f && (fflush(w->f) || fsync(fileno(w->f)))) {
        snprintf(err, errlen, "%s: cannot sync spool file: %s", w->path, strerror(errno));
        rc = -1;
    }
    if (w->f && fclose(w->f) && !rc) {
        snprintf(err, errlen, "%s: cannot close spool file: %s", w->path, strerror(errno));
        rc = -1;
    }
    w->f = NULL;
    free(w->path);
    w->path = NULL;
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_rec(const void *a, const void *b)
{
    const SpoolRecord *x = a, *y = b;
    if (x->example != y->example)
        return x->example < y->example ? -1 : 1;
    if (x->method != y->method)
        return x->method < y->method ? -1 : 1;
    if (x->i0 != y->i0)
        return x->i0 < y->i0 ? -1 : 1;
    if (x->i1 != y->i1)
        return x->i1 > y->i1 ? -1 : 1; /* the widest first */
    /* equal ranges: by content, so the kept copy does not depend on how file names sort */
    if (x->crc != y->crc)
        return x->crc < y->crc ? -1 : 1;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? -1 : 1;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int is_rank_file(const char *name)
{
    size_t L = strlen(name);
    return L > 8 && !strncmp(name, "rank", 4) && !strcmp(name + L - 4, ".bin");
}

/* The rank files of dir, sorted by name into idx->files: 0, 1 when dir does not exist (an empty
 * spool), -1 when it cannot be read. */
static int list_rank_files(const char *dir, SpoolIndex *idx, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "%s: cannot read spool directory: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    int cap = 0;
    while ((de = readdir(d))) {
        size_t L = strlen(de->d_name);
        if (!is_rank_file(de->d_name))
            continue;
        if (idx->nfiles == cap) {
            cap = cap ? cap * 2 : 16;
            idx->files = realloc(idx->files, sizeof(char *) * cap);
        }
        size_t n = strlen(dir) + L + 2;
        idx->files[idx->nfiles] = malloc(n);
        snprintf(idx->files[idx->nfiles++], n, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    if (idx->nfiles)
        qsort(idx->files, idx->nfiles, sizeof(char *), cmp_str);
    return 0;
}

/* Scratch of scan_file, kept across files: the payload buffer and the record capacity. */
typedef struct {
    void *buf;
    size_t bufcap;
    long rcap;
} ScanScratch;

/* Indexes the records of spool file fi (open as f, size bytes) into idx->r, up to the first bad
 * header or truncated payload; records whose payload fails its CRC are left out. */
static void scan_file(SpoolIndex *idx, int fi, FILE *f, int64_t size, ScanScratch *s)
{
    int64_t pos = 0;
    while (pos + (int64_t)sizeof(SpoolHeader) <= size) {
        SpoolHeader h;
        fseeko(f, pos, SEEK_SET);
        if (fread(&h, sizeof h, 1, f) != 1)
            break;
        /* a bad header or a payload past the end: the tail of a killed writer */
        uint32_t hc = h.hcrc;
        h.hcrc = 0;
        if (h.magic != SPOOL_MAGIC || hc != crc32_of(&h, sizeof h) || h.codec > SPOOL_SHUFFLE_DEFLATE ||
            pos + (int64_t)sizeof h + (int64_t)h.bytes > size)
            break;
        if (h.bytes > s->bufcap) {
            free(s->buf);
            s->bufcap = h.bytes;
            s->buf = malloc(s->bufcap);
        }
        int ok = fread(s->buf, 1, h.bytes, f) == h.bytes && crc32_of(s->buf, h.bytes) == h.crc;
        uint64_t raw = h.bytes;
        if (ok && h.codec == SPOOL_SHUFFLE_DEFLATE) {
            ok = h.bytes >= 8;
            if (ok)
                memcpy(&raw, s->buf, 8);
            ok = ok && raw <= UINT32_MAX;
        }
        if (ok) {
            if (idx->n == s->rcap) {
                s->rcap = s->rcap ? s->rcap * 2 : 1024;
                idx->r = realloc(idx->r, sizeof(SpoolRecord) * s->rcap);
            }
            SpoolRecord *r = &idx->r[idx->n++];
            r->file = fi;
            r->offset = pos + (int64_t)sizeof h;
            r->example = h.example;
            r->method = h.method;
            r->i0 = h.i0;
            r->i1 = h.i1;
            r->bytes = raw;
            r->stored = h.bytes;
            r->crc = h.crc;
            r->codec = h.codec;
        }
        pos += (int64_t)sizeof h + (int64_t)h.bytes;
    }
}

/* Drop records (sorted by cmp_rec) whose items overlap an earlier kept one of the same
 * (example, method): duplicates can only come from a unit computed twice, and either copy is the same. */
static void drop_duplicates(SpoolIndex *idx)
{
    long k = 0;
    for (long i = 0; i < idx->n; i++) {
        SpoolRecord *r = &idx->r[i];
        int dup = 0;
        for (long j = k - 1; j >= 0; j--) {
            SpoolRecord *q = &idx->r[j];
            if (q->example != r->example || q->method != r->method)
                break;
            if (r->i0 < q->i1 && q->i0 < r->i1) {
                dup = 1;
                break;
            }
        }
        if (!dup)
            idx->r[k++] = *r;
    }
    idx->n = k;
}

int spool_scan(const char *dir, SpoolIndex *idx, char *err, size_t errlen)
{
    memset(idx, 0, sizeof *idx);
    int lrc = list_rank_files(dir, idx, err, errlen);
    if (lrc)
        return lrc > 0 ? 0 : -1;
    idx->fp = calloc(idx->nfiles ? idx->nfiles : 1, sizeof(FILE *));
    ScanScratch s = {0};
    for (int fi = 0; fi < idx->nfiles; fi++) {
        FILE *f = fopen(idx->files[fi], "rb");
        if (!f) {
            snprintf(err, errlen, "%s: cannot open spool file: %s", idx->files[fi], strerror(errno));
            free(s.buf);
            return -1;
        }
        fseeko(f, 0, SEEK_END);
        scan_file(idx, fi, f, ftello(f), &s);
        fclose(f);
    }
    free(s.buf);
    if (idx->n)
        qsort(idx->r, idx->n, sizeof(SpoolRecord), cmp_rec);
    drop_duplicates(idx);
    return 0;
}

long spool_find(const SpoolIndex *idx, int example, int method)
{
    long lo = 0, hi = idx->n;
    while (lo < hi) {
        long mid = (lo + hi) / 2;
        const SpoolRecord *r = &idx->r[mid];
        if (r->example < example || (r->example == example && r->method < method))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < idx->n && idx->r[lo].example == example && idx->r[lo].method == method)
        return lo;
    return -1;
}

void *spool_read(SpoolIndex *idx, const SpoolRecord *r, char *err, size_t errlen)
{
    if (!idx->fp[r->file]) {
        idx->fp[r->file] = fopen(idx->files[r->file], "rb");
        if (!idx->fp[r->file]) {
            snprintf(err, errlen, "%s: cannot open spool file: %s", idx->files[r->file], strerror(errno));
            return NULL;
        }
    }
    FILE *f = idx->fp[r->file];
    unsigned char *buf = malloc(r->stored ? r->stored : 1), *out = buf;
    int ok = buf && fseeko(f, r->offset, SEEK_SET) == 0 && fread(buf, 1, r->stored, f) == r->stored &&
             crc32_of(buf, r->stored) == r->crc;
    if (ok && r->codec == SPOOL_SHUFFLE_DEFLATE) {
        unsigned char *sh = malloc(r->bytes ? r->bytes : 1);
        out = malloc(r->bytes ? r->bytes : 1);
        uLongf n = (uLongf)r->bytes;
        ok = sh && out && uncompress(sh, &n, buf + 8, (uLong)(r->stored - 8)) == Z_OK && n == r->bytes;
        if (ok)
            shuffle16(sh, out, r->bytes, 1);
        free(sh);
        free(buf);
        if (!ok) {
            free(out);
            out = NULL;
        }
    }
    if (!ok) {
        snprintf(err, errlen, "%s: spool record at byte %lld (example %d) is unreadable or fails its CRC; "
                 "delete the file and run again with --resume", idx->files[r->file], (long long)r->offset,
                 r->example);
        if (out == buf)
            free(buf);
        return NULL;
    }
    return out;
}

void spool_index_free(SpoolIndex *idx)
{
    for (int i = 0; i < idx->nfiles; i++) {
        if (idx->fp && idx->fp[i])
            fclose(idx->fp[i]);
        free(idx->files[i]);
    }
    free(idx->files);
    free(idx->fp);
    free(idx->r);
    memset(idx, 0, sizeof *idx);
}

int spool_own_name(const char *name)
{
    static const char *const fixed[] = {"job.yaml", "inputs.txt", "lock", "reserve"};
    size_t L = strlen(name);
    char base[256];
    if (L >= sizeof base)
        return 0;
    memcpy(base, name, L + 1);
    if (L > 4 && !strcmp(base + L - 4, ".tmp"))
        base[L - 4] = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (!strcmp(base, fixed[i]))
            return 1;
    return is_rank_file(base);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int spool_remove_dir(const char *dir, int keep_lock, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: cannot read the spool directory: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    int foreign = 0;
    char first[256] = "";
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (!spool_own_name(de->d_name)) {
            if (!foreign++)
                snprintf(first, sizeof first, "%s", de->d_name);
            continue;
        }
        if (keep_lock && !strcmp(de->d_name, "lock"))
            continue;
        char *p = join(dir, de->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
    if (foreign) {
        snprintf(err, errlen, "%s holds %d file%s attrun did not write (e.g. '%s'); left as it is", dir, foreign,
                 foreign > 1 ? "s" : "", first);
        return -1;
    }
    if (keep_lock)
        return 0;
    if (rmdir(dir) && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove the spool directory %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int spool_write_file(const char *dir, const char *name, const char *text, char *err, size_t errlen)
{
    char *path = join(dir, name);
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    snprintf(tmp, n, "%s.tmp", path);
    int rc = -1;
    FILE *f = fopen(tmp, "wb");
    if (f && fputs(text, f) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0) {
        if (fclose(f) == 0 && rename(tmp, path) == 0)
            rc = 0;
        f = NULL;
    }
    if (rc) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        if (f)
            fclose(f);
        unlink(tmp);
    }
    free(tmp);
    free(path);
    return rc;
}

char *spool_read_file(const char *dir, const char *name)
{
    char *path = join(dir, name);
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (cap - n < 2)
            buf = realloc(buf, cap *= 2);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}
