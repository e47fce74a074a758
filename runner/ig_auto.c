/* Adaptive IG between rounds (see ig_auto.h). */
#include "runner/ig_auto.h"
#include "io/mpi_agree.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ig_auto_method(const RunConfig *cfg, const MethodSpec *specs, int i)
{
    return cfg->methods[i] == M_IG && specs[i].steps == IG_STEPS_AUTO;
}

void ig_auto_free_levels(Partial **lv, const MethodSpec *sp)
{
    int n[IG_AUTO_MAX_LEVELS], off[IG_AUTO_MAX_LEVELS];
    int L = ig_auto_levels(sp, n, off);
    for (int l = 0; l < L; l++) {
        partial_free(lv[l]);
        lv[l] = NULL;
    }
}

int ig_auto_merge_levels(SpoolIndex *idx, long e, const MethodSpec *sp, const Model *m, int T,
                         Partial **lv, int *have, char *err, size_t errlen)
{
    int n[IG_AUTO_MAX_LEVELS], off[IG_AUTO_MAX_LEVELS], got[IG_AUTO_MAX_LEVELS] = {0};
    int L = ig_auto_levels(sp, n, off);
    memset(lv, 0, sizeof(Partial *) * IG_AUTO_MAX_LEVELS);
    *have = 0;
    long k = spool_find(idx, (int)e, (int)sp->kind);
    for (; k >= 0 && k < idx->n && idx->r[k].example == e && idx->r[k].method == (int)sp->kind; k++) {
        const SpoolRecord *q = &idx->r[k];
        int l = ig_auto_level_of(sp, q->i0);
        if (l < 0 || q->i1 > off[l] + n[l]) {
            snprintf(err, errlen, "spool record of example %ld (ig) has items [%d, %d), not within one level of "
                     "ig.steps: auto: the spools belong to another configuration", e, q->i0, q->i1);
            goto fail;
        }
        void *buf = spool_read(idx, q, err, errlen);
        if (!buf)
            goto fail;
        Partial *p = partial_unpack(buf, q->bytes);
        free(buf);
        if (!p || p->T != T || p->D != m->cfg.D || p->n_items != off[L - 1] + n[L - 1]) {
            partial_free(p);
            snprintf(err, errlen, "a spooled partial of example %ld (ig) cannot be unpacked or has the wrong shape",
                     e);
            goto fail;
        }
        if (!lv[l]) {
            lv[l] = p;
        } else {
            int bad = partial_merge(lv[l], p);
            partial_free(p);
            if (bad) {
                snprintf(err, errlen, "spooled partials of example %ld (ig) do not fit together", e);
                goto fail;
            }
        }
        got[l] += q->i1 - q->i0;
    }
    while (*have < L && got[*have] == n[*have])
        (*have)++;
    return 0;
fail:
    ig_auto_free_levels(lv, sp);
    return -1;
}

/* Example e of adaptive method mi: the items it needs now, and what the plan counts. */
static int plan_example(const AssembleInput *in, SpoolIndex *idx, long e, int mi, int *need, IgAutoPlan *pl,
                        char *err, size_t errlen)
{
    const MethodSpec *sp = &in->specs[mi];
    int n[IG_AUTO_MAX_LEVELS], off[IG_AUTO_MAX_LEVELS];
    ig_auto_levels(sp, n, off);
    Example x;
    examples_view(in->ex, e, &x);
    Partial *lv[IG_AUTO_MAX_LEVELS];
    int have;
    if (ig_auto_merge_levels(idx, e, sp, in->model, x.T, lv, &have, err, errlen))
        return -1;
    int level = -1;
    double est[IG_AUTO_MAX_LEVELS];
    const char *why = NULL;
    int rc = ig_auto_decide(in->model, sp, &x, lv, have, &level, est, &why);
    ig_auto_free_levels(lv, sp);
    if (rc < 0) {
        snprintf(err, errlen, "example %ld (corpus row %ld), ig: %s", e, in->ex->row[e], why ? why : "failed");
        return -1;
    }
    if (rc == 0) {
        *need = off[level] + n[level];
        pl->finished++;
        pl->unconverged += !(est[level] <= sp->tolerance);
        pl->steps += off[level] + n[level];
    } else {
        int next = have < 1 ? 1 : have; /* the first round: levels 0 and 1 */
        *need = off[next] + n[next];
        pl->pending++;
    }
    return 0;
}

int ig_auto_plan(const AssembleInput *in, SpoolIndex *idx, int *limit, IgAutoPlan *plan, char *err,
                 size_t errlen)
{
    int rank, nranks;
    MPI_Comm_rank(in->comm, &rank);
    MPI_Comm_size(in->comm, &nranks);
    long N = in->ex->n;
    int nm = in->cfg->n_methods;
    memset(plan, 0, sizeof *plan);
    int *mine = malloc(sizeof(int) * (size_t)(nm * N > 0 ? nm * N : 1));
    int ok = mine != NULL;
    for (long i = 0; ok && i < nm * N; i++)
        mine[i] = -1;
    /* this rank's share: examples [e0, e1) */
    long e0 = N * rank / nranks, e1 = N * (rank + 1) / nranks;
    for (int mi = 0; ok && mi < nm; mi++)
        if (ig_auto_method(in->cfg, in->specs, mi))
            for (long e = e0; ok && e < e1; e++)
                ok = plan_example(in, idx, e, mi, &mine[(long)mi * N + e], plan, err, errlen) == 0;
    if (mpi_agree(in->comm, ok, err, errlen)) {
        free(mine);
        return -1;
    }
    MPI_Allreduce(mine, limit, (int)(nm * N), MPI_INT, MPI_MAX, in->comm);
    free(mine);
    double c[4] = {(double)plan->pending, (double)plan->finished, (double)plan->unconverged, plan->steps}, all[4];
    MPI_Allreduce(c, all, 4, MPI_DOUBLE, MPI_SUM, in->comm);
    plan->pending = (long)all[0];
    plan->finished = (long)all[1];
    plan->unconverged = (long)all[2];
    plan->steps = all[3];
    return 0;
}
