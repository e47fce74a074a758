/* Reading safetensors files (https://github.com/huggingface/safetensors):
 *   [u64 little-endian N][N bytes of JSON header][data section]
 * The header maps tensor names to {dtype, shape, data_offsets:[begin,end]} (offsets
 * relative to the data section) plus an optional "__metadata__" object of strings.
 * Files are mmap'ed read-only; every header field is validated on open (sizes,
 * bounds, overlaps) so later reads never touch memory outside the map.
 * A checkpoint directory holds either model.safetensors or a sharded set described by
 * model.safetensors.index.json ({"weight_map": {tensor: shard file}}).
 * Every error message names the file and, where there is one, the tensor. */
#ifndef ATTRUN_SAFETENSORS_H
#define ATTRUN_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef enum {
    ST_BOOL = 0, ST_U8, ST_I8, ST_F8_E5M2, ST_F8_E4M3, ST_I16, ST_U16, ST_F16, ST_BF16,
    ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64, ST_NDTYPES
} StDtype;

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t nbytes;              /* numel * dtype size, checked against data_offsets */
    const unsigned char *data;  /* inside the owning file's map; not aligned */
    int file;                   /* index into SafeTensors.files */
} StTensor;

typedef struct {
    char *path;
    void *map;
    size_t size;
} StFile;

typedef struct {
    char *source;       /* what messages about missing tensors name: the .safetensors or the index file */
    StFile *files;      /* one, or the shards in index order */
    int nfiles;
    StTensor *tensors;  /* all files' tensors, sorted by name */
    size_t ntensors;
} SafeTensors;

/* Opens and validates one .safetensors file. Returns 0, or -1 with a message in err. */
int st_open_file(SafeTensors *st, const char *path, char *err, size_t errlen);
/* Opens <dir>/model.safetensors, else <dir>/model.safetensors.index.json and its shards. */
int st_open_dir(SafeTensors *st, const char *dir, char *err, size_t errlen);
/* Paths of the weight files of a checkpoint directory, sorted by name (malloc'ed array of
 * malloc'ed strings; free with st_free_paths). Only reads the index, never the shards. */
int st_weight_files(const char *dir, char ***paths, int *n, char *err, size_t errlen);
void st_free_paths(char **paths, int n);
void st_close(SafeTensors *st);

const StTensor *st_find(const SafeTensors *st, const char *name);
const char *st_file_of(const SafeTensors *st, const StTensor *t);
size_t st_numel(const StTensor *t);
const char *st_dtype_name(StDtype d);
/* "[30522, 64]" into buf. */
const char *st_shape_str(int ndim, const int64_t *shape, char *buf, size_t len);

/* Converts a floating tensor (F32, F16, BF16, F64) to F32 into out (numel floats) and checks
 * that every value is finite. Returns 0, or -1 with a message naming file and tensor. */
int st_read_f32(const SafeTensors *st, const StTensor *t, float *out, char *err, size_t errlen);

/* Drops the map's pages that lie wholly inside t's bytes from this process (madvise
 * MADV_DONTNEED: the file stays in the page cache, a later read maps it back in), so that a
 * checkpoint converted tensor by tensor does not hold the stored copy and the float32 copy
 * at once. A no-op where madvise fails. */
void st_release(const SafeTensors *st, const StTensor *t);

/* Exact conversions (every F16 and BF16 value, subnormals, inf and NaN included, is a float). */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t b);
#endif
