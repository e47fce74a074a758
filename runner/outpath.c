/* Output-path safety (see outpath.h). */
#include "runner/outpath.h"
#include "io/checkpoint.h"
#include "io/h5out.h"
#include "runner/lock.h"
#include "runner/spool.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };
/* the longest name attrun adds to out: ".spool/rank<int>-<pid>.bin.tmp" */
#define OUT_SUFFIX_MAX 48

char *out_spool_path(const char *out)
{
    size_t n = strlen(out) + 7;
    char *s = malloc(n);
    snprintf(s, n, "%s.spool", out);
    return s;
}

static int same_file(const struct stat *a, const char *path)
{
    struct stat b;
    return path && stat(path, &b) == 0 && a->st_dev == b.st_dev && a->st_ino == b.st_ino;
}

/* Which input `out` is (a description in buf), or NULL. */
static const char *input_named(const struct stat *o, const RunConfig *c, const char *config_path, char *buf,
                               size_t n)
{
    if (same_file(o, c->corpus.path))
        return snprintf(buf, n, "the corpus (corpus.path: %s)", c->corpus.path), buf;
    if (same_file(o, config_path))
        return snprintf(buf, n, "the job's config file %s", config_path), buf;
    DIR *d = opendir(c->model);
    if (!d)
        return NULL;
    struct dirent *de;
    const char *hit = NULL;
    while (!hit && (de = readdir(d))) {
        size_t L = strlen(c->model) + strlen(de->d_name) + 2;
        char *p = malloc(L);
        snprintf(p, L, "%s/%s", c->model, de->d_name);
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && same_file(o, p)) {
            snprintf(buf, n, "a file of the model directory (%s)", p);
            hit = buf;
        }
        free(p);
    }
    closedir(d);
    return hit;
}

static int check_length(const RunConfig *c, char *msg, size_t n)
{
    size_t L = strlen(c->out);
    const char *base = strrchr(c->out, '/');
    base = base ? base + 1 : c->out;
    if (L + OUT_SUFFIX_MAX >= PATH_MAX || strlen(base) + 7 > NAME_MAX) {
        snprintf(msg, n, "%s: out: the path is %zu characters (its last part %zu); with the spool files "
                 "attrun adds to it ('.spool/...') it must stay within the system's limits: at most %d characters, "
                 "%d for the last part; use a shorter path", c->source, L, strlen(base), PATH_MAX - OUT_SUFFIX_MAX,
                 NAME_MAX - 7);
        return EXIT_USAGE;
    }
    if (!base[0]) {
        snprintf(msg, n, "%s: out: '%s' names a directory; give a file name such as %sresult.h5", c->source,
                 c->out, c->out);
        return EXIT_USAGE;
    }
    return 0;
}

static int check_dir(const RunConfig *c, char *msg, size_t n)
{
    char *dir = strdup(c->out);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, strlen(dir) + 1, ".");
    struct stat st;
    int rc = 0;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(msg, n, "%s: out: directory %s does not exist (create it first)", c->source, dir);
        rc = EXIT_USAGE;
    } else if (access(dir, W_OK | X_OK)) {
        snprintf(msg, n, "%s: out: directory %s is not writable: %s", c->source, dir, strerror(errno));
        rc = EXIT_USAGE;
    }
    free(dir);
    return rc;
}

/* A spool directory holding only attrun's files (0), or an exit status with msg. */
static int check_spool_dir(const char *spool, int *has_job, char *msg, size_t n)
{
    struct stat st;
    *has_job = 0;
    if (lstat(spool, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode)) {
        snprintf(msg, n, "%s exists and is not attrun's spool directory; move it away or choose another out",
                 spool);
        return EXIT_USAGE;
    }
    DIR *d = opendir(spool);
    if (!d) {
        snprintf(msg, n, "%s: cannot read the spool directory: %s", spool, strerror(errno));
        return EXIT_USAGE;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (!strcmp(de->d_name, "job.yaml"))
            *has_job = 1;
        if (!spool_own_name(de->d_name) && !rc) {
            snprintf(msg, n, "%s holds '%s', which attrun did not write: it is not (only) attrun's spool "
                     "directory; move it away or choose another out", spool, de->d_name);
            rc = EXIT_USAGE;
        }
    }
    closedir(d);
    return rc;
}

/* --resume of a result without spools: complete and of the same job (OUT_COMPLETE), or refused. */
static int check_complete(const RunConfig *c, const char *yaml_res, char *msg, size_t n)
{
    int64_t done = 0;
    if (h5out_read_root_int(c->out, "complete", &done) != 0 || done != 1)
        return OUT_GO; /* an incomplete result without spools: computed again */
    char *old = h5out_read_root_str(c->out, "config");
    RunConfig oc;
    config_init(&oc);
    char err[1024];
    char *old_res = NULL;
    if (old && config_parse_string(&oc, old, strlen(old), c->out, err, sizeof err) == 0)
        old_res = config_to_yaml(&oc, 1);
    config_free(&oc);
    free(old);
    int same = old_res && !strcmp(old_res, yaml_res);
    free(old_res);
    if (!same) {
        snprintf(msg, n, "%s is complete, but for a different configuration than %s (compare its 'config' "
                 "attribute); nothing was changed. Use another out, or --overwrite to replace it", c->out,
                 c->source);
        return EXIT_USAGE;
    }
    char *osha = h5out_read_root_str(c->out, "weights_sha256"), sha[65];
    int same_w = osha && checkpoint_weights_sha256(c->model, sha, err, sizeof err) == 0 && !strcmp(osha, sha);
    free(osha);
    if (!same_w) {
        snprintf(msg, n, "%s is complete, but was computed with other weights than those now in %s "
                 "(weights_sha256 differs); nothing was changed. Use another out, or --overwrite to replace it",
                 c->out, c->model);
        return EXIT_USAGE;
    }
    snprintf(msg, n, "%s is already complete (same configuration and weights); nothing to resume", c->out);
    return OUT_COMPLETE;
}

int out_precheck(const RunConfig *c, const char *config_path, const char *spool, int resume, int overwrite,
                 const char *yaml_res, char *msg, size_t n)
{
    int rc = check_length(c, msg, n);
    if (rc)
        return rc;
    struct stat st;
    int have_out = stat(c->out, &st) == 0;
    if (have_out && S_ISDIR(st.st_mode)) {
        snprintf(msg, n, "%s: out: %s is a directory; give a file name such as %s/result.h5", c->source, c->out,
                 c->out);
        return EXIT_USAGE;
    }
    char what[4200];
    if (have_out && input_named(&st, c, config_path, what, sizeof what)) {
        snprintf(msg, n, "%s: out: %s is %s; refusing to write the result over an input", c->source, c->out,
                 what);
        return EXIT_USAGE;
    }
    if ((rc = check_dir(c, msg, n)))
        return rc;
    int has_job = 0;
    if ((rc = check_spool_dir(spool, &has_job, msg, n)))
        return rc;
    struct stat ss;
    int have_spool = lstat(spool, &ss) == 0;
    if (have_out && !has_job) {
        char *fmt = h5out_read_root_str(c->out, "format");
        int ours = fmt && !strncmp(fmt, "attrun/", 7);
        free(fmt);
        if (!ours) {
            snprintf(msg, n, "%s: out: %s already exists and is not an attrun result (no format = "
                     "\"attrun/...\" attribute); attrun replaces or resumes only its own results: choose another "
                     "out", c->source,
                     c->out);
            return EXIT_USAGE;
        }
    }
    if ((have_out || have_spool) && !resume && !overwrite) {
        snprintf(msg, n, "%s already exists%s; use --overwrite to replace it or --resume to continue it",
                 have_out ? c->out : spool, have_out && have_spool ? " (with spools)" : "");
        return EXIT_USAGE;
    }
    if (resume && have_out && !have_spool)
        return check_complete(c, yaml_res, msg, n);
    return OUT_GO;
}

int out_claim(const RunConfig *c, const char *config_path, const char *spool, int resume, int overwrite,
              int *lockfd, char *msg, size_t n)
{
    *lockfd = -1;
    if (mkdir(spool, 0777) && errno != EEXIST) {
        snprintf(msg, n, "cannot create the spool directory %s: %s", spool, strerror(errno));
        return EXIT_RUNTIME;
    }
    int fd = spool_lock(spool, msg, n);
    if (fd == -1)
        return EXIT_USAGE;
    if (fd == -2)
        fprintf(stderr, "attrun run: %s\n", msg);
    *lockfd = fd;
    if (!overwrite && !resume) {
        /* checked before loading, but another job may have written this output meanwhile */
        struct stat st;
        char *job = spool_read_file(spool, "job.yaml");
        int taken = stat(c->out, &st) == 0 || job != NULL;
        free(job);
        if (taken) {
            snprintf(msg, n, "%s appeared while this job was loading (another job on the same out?); use "
                     "--overwrite to replace it or --resume to continue it", c->out);
            return EXIT_USAGE;
        }
    }
    if (!overwrite)
        return 0;
    /* checked before loading; the files may have changed since: check again before deleting */
    struct stat st;
    char what[4200];
    if (stat(c->out, &st) == 0 && input_named(&st, c, config_path, what, sizeof what)) {
        snprintf(msg, n, "%s: out: %s is %s; refusing to write the result over an input", c->source, c->out,
                 what);
        return EXIT_USAGE;
    }
    if (spool_remove_dir(spool, 1, msg, n))
        return EXIT_USAGE;
    if (unlink(c->out) && errno != ENOENT) {
        snprintf(msg, n, "cannot remove the old output %s: %s", c->out, strerror(errno));
        return EXIT_RUNTIME;
    }
    return 0;
}

int out_not_held(const char *out, char *msg, size_t n)
{
    int fd = open(out, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    /* HDF5 1.10+ locks files with flock(2) (LOCK_SH for readers) while they are open */
    int rc = 0;
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        if (errno == EWOULDBLOCK) {
            snprintf(msg, n, "%s is held open by another process (HDF5 file locking: a reader such as h5py "
                     "holds a lock while the file is open), so attrun cannot rewrite it. Close that reader "
                     "(f.close()), or let readers skip the lock (export HDF5_USE_FILE_LOCKING=FALSE before "
                     "starting them; they must then not read a file that is being written), and run again with "
                     "--resume", out);
            rc = -1;
        }
    } else {
        flock(fd, LOCK_UN);
    }
    close(fd);
    return rc;
}

/* Whether the spool directory holds any non-empty rank file. */
static int has_records(const char *spool)
{
    DIR *d = opendir(spool);
    if (!d)
        return 0;
    struct dirent *de;
    int any = 0;
    while (!any && (de = readdir(d))) {
        size_t L = strlen(de->d_name);
        if (strncmp(de->d_name, "rank", 4) || L < 5 || strcmp(de->d_name + L - 4, ".bin"))
            continue;
        size_t k = strlen(spool) + L + 2;
        char *p = malloc(k);
        snprintf(p, k, "%s/%s", spool, de->d_name);
        struct stat st;
        any = stat(p, &st) == 0 && st.st_size > 0;
        free(p);
    }
    closedir(d);
    return any;
}

int out_bind_spool(const char *spool, const char *yaml_res, const char *inputs, const InputsDigest *d,
                   const RunConfig *c, char *msg, size_t n)
{
    char *job = spool_read_file(spool, "job.yaml"), *inp = spool_read_file(spool, "inputs.txt");
    int rc = 0;
    if ((!job || !inp) && has_records(spool)) {
        snprintf(msg, n, "%s holds spool records but no %s: they cannot be checked against this job; start "
                 "again with --overwrite", spool, !job ? "job.yaml" : "inputs.txt (spools of an older attrun?)");
        rc = EXIT_USAGE;
    } else if (job && strcmp(job, yaml_res)) {
        snprintf(msg, n, "%s holds the spools of a different configuration (see %s/job.yaml); resume with the "
                 "same settings or start again with --overwrite", spool, spool);
        rc = EXIT_USAGE;
    } else if (inp && inputs_compare(inp, d, c->model, c->corpus.path, msg, n)) {
        rc = EXIT_USAGE;
    } else if ((!job && spool_write_file(spool, "job.yaml", yaml_res, msg, n)) ||
               (!inp && spool_write_file(spool, "inputs.txt", inputs, msg, n))) {
        rc = EXIT_RUNTIME;
    }
    free(job);
    free(inp);
    return rc;
}
