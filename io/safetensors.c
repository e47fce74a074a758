/* safetensors reader: mmap, header validation, sharded index, F32/F16/BF16/F64 -> F32.
 * See io/safetensors.h for the format. Validation happens once, on open, so that
 * st_read_f32 can trust every offset it is given. */
#define _GNU_SOURCE
#include "io/safetensors.h"
#include "io/errmsg.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    size_t size;
} DTYPES[ST_NDTYPES] = {
    [ST_BOOL] = {"BOOL", 1},     [ST_U8] = {"U8", 1},    [ST_I8] = {"I8", 1},
    [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1},
    [ST_I16] = {"I16", 2},       [ST_U16] = {"U16", 2},  [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2},     [ST_I32] = {"I32", 4},  [ST_U32] = {"U32", 4},
    [ST_F32] = {"F32", 4},       [ST_F64] = {"F64", 8},  [ST_I64] = {"I64", 8},
    [ST_U64] = {"U64", 8},
};

/* Largest header accepted; the reference Rust implementation uses the same 100 MB bound. */
#define ST_MAX_HEADER (100u * 1000u * 1000u)

const char *st_dtype_name(StDtype d)
{
    return (unsigned)d < ST_NDTYPES ? DTYPES[d].name : "?";
}

const char *st_shape_str(int ndim, const int64_t *shape, char *buf, size_t len)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
    return buf;
}

size_t st_numel(const StTensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)t->shape[i];
    return n;
}

const char *st_file_of(const SafeTensors *st, const StTensor *t)
{
    return st->files[t->file].path;
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Range of one tensor in the data section, for the overlap check. */
typedef struct {
    size_t begin, end;
    const char *name;
} Span;

static int span_cmp(const void *a, const void *b)
{
    const Span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int tensor_cmp(const void *a, const void *b)
{
    return strcmp(((const StTensor *)a)->name, ((const StTensor *)b)->name);
}

static void free_tensors(StTensor *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(t[i].name);
    free(t);
}

/* Parses one header entry into t. data/dsize: the file's data section. */
static int parse_entry(const char *path, const char *name, json_t *v, const unsigned char *data,
                       size_t dsize, StTensor *t, char *err, size_t errlen)
{
    if (!json_is_object(v))
        return io_fail(err, errlen, "%s: tensor '%s': header entry is not a JSON object", path, name);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd))
        return io_fail(err, errlen, "%s: tensor '%s': 'dtype' is missing or not a string", path, name);
    const char *ds = json_string_value(jd);
    int dt = -1;
    for (int i = 0; i < ST_NDTYPES; i++)
        if (strcmp(ds, DTYPES[i].name) == 0)
            dt = i;
    if (dt < 0)
        return io_fail(err, errlen, "%s: tensor '%s': unknown dtype '%s'", path, name, ds);
    if (!json_is_array(js))
        return io_fail(err, errlen, "%s: tensor '%s': 'shape' is missing or not an array", path, name);
    if (json_array_size(js) > ST_MAX_DIMS)
        return io_fail(err, errlen, "%s: tensor '%s': shape has %zu dimensions (at most %d supported)", path,
                    name, json_array_size(js), ST_MAX_DIMS);
    t->ndim = (int)json_array_size(js);
    size_t numel = 1;
    int overflow = 0;
    for (int i = 0; i < t->ndim; i++) {
        json_t *e = json_array_get(js, (size_t)i);
        if (!json_is_integer(e) || json_integer_value(e) < 0)
            return io_fail(err, errlen, "%s: tensor '%s': shape entry %d is not a non-negative integer", path,
                        name, i);
        t->shape[i] = json_integer_value(e);
        size_t d = (size_t)t->shape[i];
        if (d && numel > SIZE_MAX / d)
            overflow = 1;
        else
            numel *= d;
    }
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
        !json_is_integer(json_array_get(jo, 1)))
        return io_fail(err, errlen, "%s: tensor '%s': 'data_offsets' is not an array of two integers", path, name);
    json_int_t b = json_integer_value(json_array_get(jo, 0)), e = json_integer_value(json_array_get(jo, 1));
    if (b < 0 || e < b)
        return io_fail(err, errlen, "%s: tensor '%s': data_offsets [%lld, %lld] are not a valid range", path, name,
                    (long long)b, (long long)e);
    if ((unsigned long long)e > dsize)
        return io_fail(err, errlen,
                    "%s: tensor '%s': data_offsets [%lld, %lld] lie outside the data section (%zu bytes): "
                    "the file is truncated or the header is wrong",
                    path, name, (long long)b, (long long)e, dsize);
    size_t esz = DTYPES[dt].size;
    char sh[160];
    if (overflow || numel > SIZE_MAX / esz || numel * esz != (size_t)(e - b))
        return io_fail(err, errlen, "%s: tensor '%s': data_offsets [%lld, %lld] hold %lld bytes, but %s %s needs %s%zu",
                    path, name, (long long)b, (long long)e, (long long)(e - b), DTYPES[dt].name,
                    st_shape_str(t->ndim, t->shape, sh, sizeof sh), overflow ? "more than " : "",
                    overflow ? SIZE_MAX : numel * esz);
    t->dtype = (StDtype)dt;
    t->nbytes = numel * esz;
    t->data = data + b;
    return 0;
}

/* Maps path and appends its tensors (unsorted) to *ts. On error nothing is left mapped. */
static int open_one(const char *path, int file_idx, StFile *f, StTensor **ts, size_t *nt, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return io_fail(err, errlen, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return io_fail(err, errlen, "%s: file is %zu bytes, shorter than the 8-byte header length: truncated", path,
                    size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return io_fail(err, errlen, "%s: mmap failed: %s", path, strerror(errno));
    const unsigned char *base = map;
    uint64_t hlen = le64(base);
    json_t *root = NULL;
    Span *spans = NULL;
    StTensor *mine = NULL;
    size_t nmine = 0;
    int rc = -1;
    if (hlen > size - 8) {
        io_fail(err, errlen, "%s: header length %llu exceeds the file size (%zu bytes): truncated or not a safetensors file",
             path, (unsigned long long)hlen, size);
        goto out;
    }
    if (hlen > ST_MAX_HEADER) {
        io_fail(err, errlen, "%s: header length %llu is larger than the %u bytes accepted", path,
             (unsigned long long)hlen, ST_MAX_HEADER);
        goto out;
    }
    json_error_t je;
    root = json_loadb((const char *)base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        io_fail(err, errlen, "%s: header is not valid JSON (byte %d of the header: %s)", path, je.position, je.text);
        goto out;
    }
    if (!json_is_object(root)) {
        io_fail(err, errlen, "%s: header is not a JSON object", path);
        goto out;
    }
    const unsigned char *data = base + 8 + hlen;
    size_t dsize = size - 8 - (size_t)hlen;
    size_t cap = json_object_size(root);
    mine = calloc(cap ? cap : 1, sizeof *mine);
    spans = calloc(cap ? cap : 1, sizeof *spans);
    if (!mine || !spans) {
        io_fail(err, errlen, "%s: out of memory", path);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "__metadata__") == 0) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(val)) {
                io_fail(err, errlen, "%s: '__metadata__' is not a JSON object", path);
                goto out;
            }
            json_object_foreach(val, mk, mv) if (!json_is_string(mv))
            {
                io_fail(err, errlen, "%s: '__metadata__' entry '%s' is not a string", path, mk);
                goto out;
            }
            continue;
        }
        StTensor *t = &mine[nmine];
        if (parse_entry(path, key, val, data, dsize, t, err, errlen) != 0)
            goto out;
        t->file = file_idx;
        if (!(t->name = strdup(key))) {
            io_fail(err, errlen, "%s: out of memory", path);
            goto out;
        }
        spans[nmine] = (Span){(size_t)(t->data - data), (size_t)(t->data - data) + t->nbytes, t->name};
        nmine++;
    }
    /* Overlapping tensors would alias each other's bytes: a corrupt or hand-made file. */
    qsort(spans, nmine, sizeof *spans, span_cmp);
    size_t last_end = 0;
    const char *last = NULL;
    for (size_t i = 0; i < nmine; i++) {
        if (spans[i].begin == spans[i].end)
            continue;
        if (last && spans[i].begin < last_end) {
            io_fail(err, errlen, "%s: tensors '%s' and '%s' overlap in the data section (byte %zu)", path, last,
                 spans[i].name, spans[i].begin);
            goto out;
        }
        last_end = spans[i].end;
        last = spans[i].name;
    }
    StTensor *grown = realloc(*ts, (*nt + nmine + 1) * sizeof **ts);
    if (!grown) {
        io_fail(err, errlen, "%s: out of memory", path);
        goto out;
    }
    *ts = grown;
    memcpy(*ts + *nt, mine, nmine * sizeof *mine);
    *nt += nmine;
    nmine = 0;
    f->path = strdup(path);
    f->map = map;
    f->size = size;
    rc = f->path ? 0 : io_fail(err, errlen, "%s: out of memory", path);
out:
    json_decref(root);
    free(spans);
    free_tensors(mine, nmine);
    if (rc != 0) {
        free(f->path);
        f->path = NULL;
        munmap(map, size);
    }
    return rc;
}

/* Sorts the merged table and refuses a name present twice (two shards claiming one tensor). */
static int finish_table(SafeTensors *st, char *err, size_t errlen)
{
    qsort(st->tensors, st->ntensors, sizeof *st->tensors, tensor_cmp);
    for (size_t i = 1; i < st->ntensors; i++)
        if (strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0)
            return io_fail(err, errlen, "%s: tensor '%s' appears in both %s and %s", st->source, st->tensors[i].name,
                        st->files[st->tensors[i - 1].file].path, st->files[st->tensors[i].file].path);
    return 0;
}

int st_open_file(SafeTensors *st, const char *path, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    st->files = calloc(1, sizeof *st->files);
    st->source = strdup(path);
    if (!st->files || !st->source) {
        st_close(st);
        return io_fail(err, errlen, "%s: out of memory", path);
    }
    if (open_one(path, 0, &st->files[0], &st->tensors, &st->ntensors, err, errlen) != 0) {
        st_close(st);
        return -1;
    }
    st->nfiles = 1;
    if (finish_table(st, err, errlen) != 0) {
        st_close(st);
        return -1;
    }
    return 0;
}

/* Reads <index>'s weight_map. Returns the root (caller decrefs) or NULL with err set. */
static json_t *load_index(const char *index, json_t **weight_map, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(index, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        io_fail(err, errlen, "%s: not valid JSON (line %d: %s)", index, je.line, je.text);
        return NULL;
    }
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm)) {
        io_fail(err, errlen, "%s: key 'weight_map' is missing or not an object", index);
        json_decref(root);
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(wm, k, v)
    {
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        if (!s || !*s || s[0] == '/' || strstr(s, "..")) {
            io_fail(err, errlen, "%s: weight_map entry for tensor '%s' is not a file name inside the directory", index,
                 k);
            json_decref(root);
            return NULL;
        }
    }
    *weight_map = wm;
    return root;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Distinct shard names of a weight map, in order of first appearance (borrowed strings). */
static const char **shard_names(json_t *wm, int *n)
{
    const char **names = calloc(json_object_size(wm) + 1, sizeof *names);
    *n = 0;
    if (!names)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach(wm, k, v)
    {
        const char *s = json_string_value(v);
        int seen = 0;
        for (int i = 0; i < *n && !seen; i++)
            seen = strcmp(names[i], s) == 0;
        if (!seen)
            names[(*n)++] = s;
    }
    return names;
}

static int no_weights(const char *dir, char *err, size_t errlen)
{
    char *bin = join_path(dir, "pytorch_model.bin");
    int has_bin = bin && file_exists(bin);
    free(bin);
    return io_fail(err, errlen, "%s: no model.safetensors or model.safetensors.index.json found%s", dir,
                has_bin ? " (pytorch_model.bin is not read: convert it to model.safetensors once, as docs/models.md shows)" : "");
}

/* Where a checkpoint's weights are: *single = <dir>/model.safetensors when it exists, else
 * *index = <dir>/model.safetensors.index.json loaded into *root (its weight_map in *wm).
 * Returns -1 with a message when neither exists or the index does not load. */
static int locate_weights(const char *dir, char **single, char **index, json_t **root, json_t **wm,
                          char *err, size_t errlen)
{
    *single = *index = NULL;
    *root = *wm = NULL;
    char *p = join_path(dir, "model.safetensors");
    if (!p)
        return io_fail(err, errlen, "%s: out of memory", dir);
    if (file_exists(p)) {
        *single = p;
        return 0;
    }
    free(p);
    p = join_path(dir, "model.safetensors.index.json");
    if (!p)
        return io_fail(err, errlen, "%s: out of memory", dir);
    if (!file_exists(p)) {
        free(p);
        return no_weights(dir, err, errlen);
    }
    *root = load_index(p, wm, err, errlen);
    if (!*root) {
        free(p);
        return -1;
    }
    *index = p;
    return 0;
}

int st_open_dir(SafeTensors *st, const char *dir, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    char *single, *index;
    json_t *root, *wm;
    if (locate_weights(dir, &single, &index, &root, &wm, err, errlen))
        return -1;
    if (single) {
        int rc = st_open_file(st, single, err, errlen);
        free(single);
        return rc;
    }
    st->source = index;
    int ns = 0;
    const char **names = shard_names(wm, &ns);
    int rc = -1;
    if (!names || ns == 0) {
        io_fail(err, errlen, "%s: weight_map is empty", index);
        goto out;
    }
    st->files = calloc((size_t)ns, sizeof *st->files);
    if (!st->files) {
        io_fail(err, errlen, "%s: out of memory", index);
        goto out;
    }
    for (int i = 0; i < ns; i++) {
        char *p = join_path(dir, names[i]);
        if (!p) {
            io_fail(err, errlen, "%s: out of memory", index);
            goto out;
        }
        if (!file_exists(p)) {
            /* Name a tensor that needs the shard, so the user can tell which part is gone. */
            const char *k, *who = "?";
            json_t *v;
            json_object_foreach(wm, k, v) if (strcmp(json_string_value(v), names[i]) == 0)
            {
                who = k;
                break;
            }
            io_fail(err, errlen, "%s: shard '%s' (holding tensor '%s') does not exist", index, names[i], who);
            free(p);
            goto out;
        }
        int r = open_one(p, i, &st->files[i], &st->tensors, &st->ntensors, err, errlen);
        free(p);
        if (r != 0)
            goto out;
        st->nfiles = i + 1;
    }
    if (finish_table(st, err, errlen) != 0)
        goto out;
    /* The index must describe the shards truthfully: a tensor it places in a shard must be there. */
    const char *k;
    json_t *v;
    json_object_foreach(wm, k, v)
    {
        const StTensor *t = st_find(st, k);
        const char *want = json_string_value(v);
        int idx = -1;
        for (int i = 0; i < ns; i++)
            if (strcmp(names[i], want) == 0)
                idx = i;
        if (!t || t->file != idx) {
            io_fail(err, errlen, "%s: weight_map places tensor '%s' in '%s', but that shard has no such tensor", index,
                 k, want);
            goto out;
        }
    }
    rc = 0;
out:
    free(names);
    json_decref(root);
    if (rc != 0)
        st_close(st);
    return rc;
}

int st_weight_files(const char *dir, char ***paths, int *n, char *err, size_t errlen)
{
    *paths = NULL;
    *n = 0;
    char *single, *index;
    json_t *root, *wm;
    if (locate_weights(dir, &single, &index, &root, &wm, err, errlen))
        return -1;
    if (single) {
        *paths = malloc(sizeof **paths);
        if (!*paths) {
            free(single);
            return io_fail(err, errlen, "%s: out of memory", dir);
        }
        (*paths)[0] = single;
        *n = 1;
        return 0;
    }
    int ns = 0;
    const char **names = shard_names(wm, &ns);
    char **out = names ? calloc((size_t)ns + 1, sizeof *out) : NULL;
    int rc = 0;
    if (!out) {
        rc = io_fail(err, errlen, "%s: out of memory", index);
    } else {
        for (int i = 0; i < ns && rc == 0; i++)
            if (!(out[i] = join_path(dir, names[i])))
                rc = io_fail(err, errlen, "%s: out of memory", index);
        if (rc == 0)
            qsort(out, (size_t)ns, sizeof *out, str_cmp);
    }
    free(names);
    json_decref(root);
    free(index);
    if (rc != 0) {
        st_free_paths(out, ns);
        return -1;
    }
    *paths = out;
    *n = ns;
    return 0;
}

void st_free_paths(char **paths, int n)
{
    if (!paths)
        return;
    for (int i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

void st_close(SafeTensors *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->nfiles; i++) {
        munmap(st->files[i].map, st->files[i].size);
        free(st->files[i].path);
    }
    free(st->files);
    free_tensors(st->tensors, st->ntensors);
    free(st->source);
    memset(st, 0, sizeof *st);
}

void st_release(const SafeTensors *st, const StTensor *t)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0 || t->file < 0 || t->file >= st->nfiles)
        return;
    uintptr_t base = (uintptr_t)st->files[t->file].map, b = (uintptr_t)t->data, e = b + t->nbytes;
    uintptr_t b0 = base + ((b - base + (uintptr_t)pg - 1) / (uintptr_t)pg) * (uintptr_t)pg; /* first whole page */
    uintptr_t e0 = base + ((e - base) / (uintptr_t)pg) * (uintptr_t)pg;                     /* end of the last */
    if (e0 > b0)
        (void)madvise((void *)b0, e0 - b0, MADV_DONTNEED);
}

const StTensor *st_find(const SafeTensors *st, const char *name)
{
    size_t lo = 0, hi = st->ntensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->tensors[mid].name, name);
        if (c == 0)
            return &st->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

float st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    float f;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        f = ldexpf((float)mant, -24);
        return sign ? -f : f;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | (mant << 13); /* inf, or NaN keeping its payload */
    else
        bits = sign | ((exp + 112u) << 23) | (mant << 13); /* rebias 15 -> 127 */
    memcpy(&f, &bits, sizeof f);
    return f;
}

float st_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16; /* BF16 is the top half of an F32 */
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Little-endian loads from unaligned bytes (compilers turn these into plain loads on x86). */
static uint16_t ld16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t ld32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t ld64(const unsigned char *p) { return (uint64_t)ld32(p) | ((uint64_t)ld32(p + 4) << 32); }

int st_read_f32(const SafeTensors *st, const StTensor *t, float *out, char *err, size_t errlen)
{
    size_t n = st_numel(t);
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case ST_F32:
        for (size_t i = 0; i < n; i++) {
            uint32_t b = ld32(p + 4 * i);
            memcpy(&out[i], &b, 4);
        }
        break;
    case ST_F16:
        for (size_t i = 0; i < n; i++)
            out[i] = st_f16_to_f32(ld16(p + 2 * i));
        break;
    case ST_BF16:
        for (size_t i = 0; i < n; i++)
            out[i] = st_bf16_to_f32(ld16(p + 2 * i));
        break;
    case ST_F64:
        for (size_t i = 0; i < n; i++) {
            uint64_t b = ld64(p + 8 * i);
            double d;
            memcpy(&d, &b, 8);
            out[i] = (float)d; /* round to nearest; a value beyond float range becomes inf and is refused below */
        }
        break;
    default:
        return io_fail(err, errlen, "%s: tensor '%s' has dtype %s; only F32, F16, BF16 and F64 weights are supported",
                    st_file_of(st, t), t->name, st_dtype_name(t->dtype));
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(out[i]))
            return io_fail(err, errlen, "%s: tensor '%s' has a non-finite value (%s) at flat index %zu",
                        st_file_of(st, t), t->name, isnan(out[i]) ? "nan" : "inf", i);
    return 0;
}
