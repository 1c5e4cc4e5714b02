/* The zero-shot hinge-max loss's forward fused with its score GEMM, on AVX-512, for
tlcore._native:

    loss[n] = max(0, margin - S[n, y_n] + max_{c != y_n} S[n, c]),   S = f @ g^T

and that arg-max (the first one on ties, the first NaN if there is one, 0 if every
other score is -inf: np.argmax over the row with S[n, y_n] set to -inf).

Composed, the GEMM writes the (N, C) scores to memory (16 MB at N = 4096, C = 1000;
312 MB at C = 20000) and the scan reads them back. Here a
thread computes a block of ROWS rows of S into its own scratch with csrc/tiles_avx512.h's
register-tile GEMM, scans each row while the block is in cache, and moves on: S never
leaves the cache. The scores are the same sums as BLAS's in another order, so they match
f @ g.T to float32 rounding; a near-tie may then pick the other class, as a different
BLAS would.

Threads take whole blocks of rows: no two write one element, and the result is the
same at any number of threads.
*/
#include <math.h>
#include <string.h>

#include "hinge_avx512.h"
#include "tiles_avx512.h"

int tl_hinge_avx512_supported(void)
{
    return tl_avx512_supported();
}

#ifdef TL_AVX512

#define ROWS (4 * MR)  /* rows of S per block: each slice of g's panels serves 4 a panels */

long tl_hinge_forward_scratch(long classes, long dim, int threads)
{
    long wide = panels(classes, NR) * NR;
    return wide * dim + threads * (ROWS * dim + ROWS * wide);
}

/* (loss, negative) of one row s of S, classes long, true class y. */
__attribute__((target("avx512f")))
static void scan_row(const float *s, long classes, long y, float margin, float *loss,
                     int64_t *negative)
{
    const __m512 lowest = _mm512_set1_ps(-INFINITY);
    __m512 best = lowest;
    long arg = -1;
    for (long c = 0; c < classes && arg < 0; c += 16) {  /* the max, or the first NaN */
        __mmask16 m = lanes(0, classes - c) & (__mmask16)~lanes(y - c, y - c + 1);
        __m512 v = _mm512_mask_loadu_ps(lowest, m, s + c);
        __mmask16 nan = _mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q);
        if (nan)
            arg = c + __builtin_ctz(nan);
        best = _mm512_max_ps(best, v);
    }
    if (arg < 0) {
        float top = _mm512_reduce_max_ps(best);
        __m512 wanted = _mm512_set1_ps(top);
        arg = 0;  /* np.argmax's answer when every other score is -inf */
        for (long c = 0; c < classes && top != -INFINITY; c += 16) {
            __mmask16 m = lanes(0, classes - c) & (__mmask16)~lanes(y - c, y - c + 1);
            __mmask16 hit = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, s + c),
                                                    wanted, _CMP_EQ_OQ);
            if (hit) {
                arg = c + __builtin_ctz(hit);
                break;
            }
        }
    }
    float value = margin - s[y] + s[arg];
    *loss = value <= 0 ? 0 : value;  /* NaN stays NaN, as np.maximum keeps it */
    *negative = arg;
}

int tl_hinge_forward_f32(const float *f, const float *g, long n, long classes, long dim,
                         const int64_t *target, float margin, float *loss,
                         int64_t *negative, float *scratch, int threads)
{
    long wide = panels(classes, NR) * NR, blocks = panels(n, ROWS), p, b;
    long per_thread = ROWS * dim + ROWS * wide;
    float *g_panels = scratch, *own = scratch + wide * dim;
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static)
        for (p = 0; p < wide / NR; p++)  /* g^T in panels of NR classes */
            pack_b_panel(g, dim, NULL, classes, dim, p, g_panels);
#pragma omp for schedule(guided)
        for (b = 0; b < blocks; b++) {
            long n0 = b * ROWS, rows = n - n0 < ROWS ? n - n0 : ROWS;
            float *a = own + TL_THREAD * per_thread, *s = a + ROWS * dim;
            pack_a(f + n0 * dim, dim, rows, dim, a);
            gemm(rows, classes, dim, a, g_panels, s, wide, 0);
            for (long i = 0; i < rows; i++)
                scan_row(s + i * wide, classes, target[n0 + i], margin, loss + n0 + i,
                         negative + n0 + i);
        }
    }
    return 0;
}

#else  /* no AVX-512 kernels in this build: tl_hinge_avx512_supported() is 0 */

long tl_hinge_forward_scratch(long classes, long dim, int threads)
{
    (void)classes; (void)dim; (void)threads;
    return 0;
}

int tl_hinge_forward_f32(const float *f, const float *g, long n, long classes, long dim,
                         const int64_t *target, float margin, float *loss,
                         int64_t *negative, float *scratch, int threads)
{
    (void)f; (void)g; (void)n; (void)classes; (void)dim; (void)target; (void)margin;
    (void)loss; (void)negative; (void)scratch; (void)threads;
    return -1;
}

#endif
