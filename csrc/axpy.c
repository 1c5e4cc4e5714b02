/* The update's axpy: see axpy.h. */
#include "axpy.h"

#include "team.h"

/* Elements per claim: 128 KB of float32, some microseconds of work against a claim's
   fraction of one. Larger than tl_chunk's 4,096 elements, since a streaming loop's
   blocks should be long: the claims of 2**22 elements are 128, not 1,024. */
#define AXPY_BLOCK 32768

typedef struct {
    ptrdiff_t n;
    const void *x;
    void *y;
    double alpha;
    int is_double;
    long next;  /* the next block of AXPY_BLOCK elements, shared out one at a time */
} axpy_job;

/* The blocks are claimed (tl_claim), not given by thread number, so that the team can
   run without a worker that a neighbour's spinning thread keeps off its core
   (csrc/team.h). */
static void axpy_blocks(void *ctx, const tl_member *me)
{
    axpy_job *job = ctx;
    (void)me;
    for (ptrdiff_t begin; (begin = (ptrdiff_t)tl_claim(&job->next) * AXPY_BLOCK) < job->n;) {
        const ptrdiff_t end = begin + AXPY_BLOCK < job->n ? begin + AXPY_BLOCK : job->n;
        if (job->is_double) {
            const double *restrict x = job->x;
            double *restrict y = job->y;
            const double a = job->alpha;
            for (ptrdiff_t i = begin; i < end; ++i)
                y[i] += a * x[i];
        } else {
            const float *restrict x = job->x;
            float *restrict y = job->y;
            const float a = (float)job->alpha;
            for (ptrdiff_t i = begin; i < end; ++i)
                y[i] += a * x[i];
        }
    }
}

void tl_axpy_f32(ptrdiff_t n, float alpha, const float *x, float *y, int threads)
{
    axpy_job job = {n, x, y, alpha, 0, 0};
    tl_team_run(threads, axpy_blocks, &job);
}

void tl_axpy_f64(ptrdiff_t n, double alpha, const double *x, double *y, int threads)
{
    axpy_job job = {n, x, y, alpha, 1, 0};
    tl_team_run(threads, axpy_blocks, &job);
}
