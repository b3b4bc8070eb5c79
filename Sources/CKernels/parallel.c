#include "parallel.h"

// libgomp's entry points (the OpenMP runtime oneDNN is built with). Calling them directly
// keeps clang's own OpenMP runtime, and a second thread pool, out of the process.
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
extern int omp_get_max_threads(void);

typedef struct {
    pare_range_fn fn;
    void *context;
    long count;
} parallel_job;

static void parallel_body(void *p) {
    const parallel_job *job = p;
    const long thread = omp_get_thread_num(), threads = omp_get_num_threads();
    const long begin = job->count * thread / threads, end = job->count * (thread + 1) / threads;
    if (begin < end) job->fn(job->context, begin, end);
}

void pare_parallel_for(pare_range_fn fn, void *context, long count) {
    parallel_job job = {fn, context, count};
    GOMP_parallel(parallel_body, &job, 0, 0);
}

int pare_parallel_threads(void) { return omp_get_max_threads(); }

int pare_parallel_thread(void) { return omp_get_thread_num(); }
