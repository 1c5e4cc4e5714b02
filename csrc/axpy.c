/* The update's axpy: see axpy.h. */
#include "axpy.h"

#include "team.h"

typedef struct {
    ptrdiff_t n;
    const void *x;
    void *y;
    double alpha;
    int is_double;
} axpy_job;

/* Thread t of T takes the elements [n t / T, n (t + 1) / T). */
static void axpy_slice(void *ctx, const tl_member *me)
{
    const axpy_job *job = ctx;
    const ptrdiff_t begin = job->n * me->thread / me->threads;
    const ptrdiff_t end = job->n * (me->thread + 1) / me->threads;
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

void tl_axpy_f32(ptrdiff_t n, float alpha, const float *x, float *y, int threads)
{
    axpy_job job = {n, x, y, alpha, 0};
    tl_team_run(threads, axpy_slice, &job);
}

void tl_axpy_f64(ptrdiff_t n, double alpha, const double *x, double *y, int threads)
{
    axpy_job job = {n, x, y, alpha, 1};
    tl_team_run(threads, axpy_slice, &job);
}
