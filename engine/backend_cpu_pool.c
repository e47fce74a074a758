/* The engine's own small thread pool (ops.h: ops_parallel), for work between the GEMMs
 * that OpenBLAS does not thread: the per-(row, head) attention products and softmax.
 *
 * Why not OpenMP: libgomp's idle threads spin (GOMP_SPINCOUNT) for milliseconds after a
 * parallel region, on the very cores OpenBLAS's threads need for the next GEMM; on a
 * 2-core machine that cost more than the region saved (measured: forward+backward 10.6 s
 * -> 14.3 s). These helpers sleep on a condition variable between regions, and items are
 * claimed one at a time from a shared counter, so a helper that the OS deschedules (other
 * processes on the machine) delays nothing but its current item. Which thread runs an
 * item never changes the item's arithmetic. */
#include "engine/backend_cpu.h"
#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>

#define POOL_MAX 64

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_work = PTHREAD_COND_INITIALIZER, cv_done = PTHREAD_COND_INITIALIZER;
static int n_helpers;      /* helper threads started (never stopped: they sleep when idle) */
static int want_helpers;   /* helpers taking part in the current region */
static unsigned long generation;
static int active;         /* helpers not yet done with the current region */
static ops_task_fn cur_fn;
static void *cur_ctx;
static int cur_n;
static atomic_int next_item;
static int g_threads;      /* engine_set_threads(); 0: OpenBLAS's own count */

void ops_set_threads(int threads) { g_threads = threads > 0 ? threads : 1; }

int ops_threads(void)
{
    int t = g_threads > 0 ? g_threads : openblas_get_num_threads();
    return t < 1 ? 1 : t > POOL_MAX ? POOL_MAX : t;
}

static void run_items(int tid)
{
    int i;
    while ((i = atomic_fetch_add(&next_item, 1)) < cur_n)
        cur_fn(cur_ctx, i, tid);
}

static void *helper_main(void *arg)
{
    int idx = (int)(long)arg; /* thread id idx + 1; 0 is the caller */
    unsigned long seen = 0;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (generation == seen)
            pthread_cond_wait(&cv_work, &mu);
        seen = generation;
        int join = idx < want_helpers;
        pthread_mutex_unlock(&mu);
        if (join)
            run_items(idx + 1);
        pthread_mutex_lock(&mu);
        if (--active == 0)
            pthread_cond_signal(&cv_done);
    }
    return NULL;
}

void ops_parallel(int n, int threads, ops_task_fn fn, void *ctx)
{
    if (threads > POOL_MAX)
        threads = POOL_MAX;
    pthread_mutex_lock(&mu);
    while (n_helpers < threads - 1) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&th, &at, helper_main, (void *)(long)n_helpers);
        pthread_attr_destroy(&at);
        if (rc)
            break; /* fewer helpers: the items still all run, on fewer threads */
        n_helpers++;
    }
    if (threads <= 1 || n <= 1 || n_helpers == 0) {
        pthread_mutex_unlock(&mu);
        for (int i = 0; i < n; i++)
            fn(ctx, i, 0);
        return;
    }
    cur_fn = fn;
    cur_ctx = ctx;
    cur_n = n;
    atomic_store(&next_item, 0);
    want_helpers = threads - 1;
    active = n_helpers;
    generation++;
    pthread_cond_broadcast(&cv_work);
    pthread_mutex_unlock(&mu);
    run_items(0);
    pthread_mutex_lock(&mu);
    while (active > 0)
        pthread_cond_wait(&cv_done, &mu);
    pthread_mutex_unlock(&mu);
}
