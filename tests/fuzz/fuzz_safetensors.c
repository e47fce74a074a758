/* Fuzzes the safetensors reader (io/safetensors.c).
 * Input: the bytes of a .safetensors file; or, when it starts with '{' and holds a
 * NUL byte, model.safetensors.index.json (before the NUL) and the shard
 * "shard.safetensors" (after it), to exercise the sharded path (st_open_dir,
 * st_weight_files).
 * Checked beyond "no crash, no leak": a successful open yields tensors whose bytes
 * lie inside the map and match dtype x shape; errors name the file. */
#include "fuzz_util.h"
#include "io/safetensors.h"

static void check_table(const SafeTensors *st)
{
    for (size_t i = 0; i < st->ntensors; i++) {
        const StTensor *t = &st->tensors[i];
        if (t->file < 0 || t->file >= st->nfiles)
            abort();
        const StFile *f = &st->files[t->file];
        const unsigned char *lo = f->map, *hi = lo + f->size;
        if (t->data < lo + 8 || t->data + t->nbytes > hi)
            abort(); /* tensor bytes outside the mapped file */
        if (i && strcmp(st->tensors[i - 1].name, t->name) >= 0)
            abort(); /* table must be sorted and free of duplicates */
        if (st_find(st, t->name) != t)
            abort();
        char sh[128];
        st_shape_str(t->ndim, t->shape, sh, sizeof sh);
        (void)st_file_of(st, t);
        size_t numel = st_numel(t);
        int fl = t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16 || t->dtype == ST_F64;
        if (fl && numel <= (1u << 16)) {
            float *out = malloc((numel ? numel : 1) * sizeof *out);
            char err[512] = "";
            if (st_read_f32(st, t, out, err, sizeof err) != 0)
                fuzz_check_err(err, t->name);
            free(out);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512], err[1024] = "";
    SafeTensors st;
    const uint8_t *rest;
    size_t nrest, n1 = fuzz_split(data, size, &rest, &nrest);
    if (size == 0 || data[0] != '{' || !rest) {
        fuzz_write(path, sizeof path, "model.safetensors", data, size);
        if (st_open_file(&st, path, err, sizeof err) == 0) {
            check_table(&st);
            st_close(&st);
        } else {
            fuzz_check_err(err, path);
        }
        fuzz_unlink("model.safetensors");
        return 0;
    }
    fuzz_write(path, sizeof path, "model.safetensors.index.json", data, n1);
    fuzz_write(path, sizeof path, "shard.safetensors", rest, nrest);
    if (st_open_dir(&st, fuzz_dir(), err, sizeof err) == 0) {
        check_table(&st);
        st_close(&st);
    } else {
        fuzz_check_err(err, NULL);
    }
    char **paths;
    int np;
    if (st_weight_files(fuzz_dir(), &paths, &np, err, sizeof err) == 0)
        st_free_paths(paths, np);
    fuzz_unlink("shard.safetensors");
    fuzz_unlink("model.safetensors.index.json");
    return 0;
}
