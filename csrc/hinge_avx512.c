/* The zero-shot hinge-max loss's forward fused with its score GEMM, on AVX-512, for
tlcore._native:

    loss[n] = max(0, margin - S[n, y_n] + max_{c != y_n} S[n, c]),   S = f @ g^T

and that arg-max (the first one on ties, the first NaN if there is one, 0 if every
other score is -inf: np.argmax over the row with S[n, y_n] set to -inf).

Composed, the GEMM writes the (N, C) scores to memory (16 MB at N = 4096, C = 1000;
312 MB at C = 20000) and a scan reads them back. Here a thread takes a block of ROWS
rows of f, and csrc/tiles_avx512.h's register tiles compute its scores, MR rows x 32
classes at a time. Each tile is stored to a small buffer in L1 and folded at once into
a running maximum per row (fold_tile), so no block of S is kept: only a vector of
maxima and one of their classes per row. (Where D > KC, the sums of the first KC steps
are kept for the block, as gemm keeps them; a row that holds a NaN is computed again
and scanned.) The scores are the same sums as BLAS's in another order, so
they match f @ g.T to float32 rounding; a near-tie may then pick the other class, as a
different BLAS would.

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

#define ROWS (4 * MR)  /* rows of f per block: each slice of g's panels serves 4 a panels */

/* A block's rows, as their tiles go by: lane l of best[i] is the largest score of row i
   in the columns c = l (mod 16) seen so far (-inf before any), class[i] its column (the
   first, on ties); true_score[i] is S[i, y_i]; nan[i] marks lanes that saw a NaN. */
struct running {
    __m512 best[ROWS];
    __m512i class[ROWS];
    float true_score[ROWS];
    __mmask16 nan[ROWS];
};

long tl_hinge_forward_scratch(long classes, long dim, int threads)
{
    long wide = panels(classes, NR) * NR;
    /* g's panels; per thread: a block's a panels, and the partial sums of its scores
       where D > KC (the tiles then store and add them, as gemm does), or else one row
       of scores (rows with a NaN are scanned again, from their scores stored whole) */
    return wide * dim + threads * (ROWS * dim + (dim > KC ? ROWS : 1) * wide);
}

/* (loss, negative) of one row s of S, classes long, true class y, by scanning it: the
   way for a row with a NaN (the first NaN is the arg-max). */
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
    float value = margin - s[y] + (arg == y ? -INFINITY : s[arg]);
    *loss = value <= 0 ? 0 : value;  /* NaN stays NaN, as np.maximum keeps it */
    *negative = arg;
}

/* Folds a tile of scores (rows i < rows of the block from row r0, classes j0 to
   j0 + 31, at c + i*ldc) into the block's running maxima: a lane takes a score strictly
   above its best, so that, the tiles going by in class order, each lane keeps its
   first arg-max. The true class and the padding past C are left out. Not inlined: its
   constants would otherwise stay in registers through the tile's loop, which needs 27
   of the 32. */
__attribute__((target("avx512f"), noinline))
static void fold_tile(const float *c, long ldc, long r0, long rows, long j0, long classes,
                      const int64_t *target, struct running *run)
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                           14, 15);
    const __mmask16 inside[2] = {lanes(0, classes - j0), lanes(0, classes - j0 - 16)};
    const __m512i class_of[2] = {_mm512_add_epi32(lane, _mm512_set1_epi32((int)j0)),
                                 _mm512_add_epi32(lane, _mm512_set1_epi32((int)j0 + 16))};
    for (long i = 0; i < rows; i++) {
        long r = r0 + i, y = target[i] - j0;  /* y: the true class's column in the tile */
        __m512 best = run->best[r];
        __m512i class = run->class[r];
        __mmask16 nan = 0;
        for (int v = 0; v < 2; v++) {
            __mmask16 m = inside[v];
            __m512 s = _mm512_loadu_ps(c + i * ldc + 16 * v);
            if (y >= 16 * v && y < 16 * v + 16) {
                m &= (__mmask16)~(1u << (y - 16 * v));
                run->true_score[r] = c[i * ldc + y];
            }
            nan |= _mm512_mask_cmp_ps_mask(m, s, s, _CMP_UNORD_Q);
            __mmask16 up = _mm512_mask_cmp_ps_mask(m, s, best, _CMP_GT_OQ);
            best = _mm512_mask_mov_ps(best, up, s);
            class = _mm512_mask_mov_epi32(class, up, class_of[v]);
        }
        run->best[r] = best;
        run->class[r] = class;
        run->nan[r] |= nan;
    }
}

/* Asks for bytes lo <= l < min(hi, end) of p in L2, a cache line at a time. */
__attribute__((target("avx512f")))
static inline void prefetch_l2(const char *p, long lo, long hi, long end)
{
    for (long l = lo; l < hi && l < end; l += 64)
        _mm_prefetch(p + l, _MM_HINT_T1);
}

/* The first arg-max of a row's running maxima (0 if they are all -inf) and its loss. */
__attribute__((target("avx512f")))
static void finish_row(const struct running *run, long r, float margin, float *loss,
                       int64_t *negative)
{
    float top = _mm512_reduce_max_ps(run->best[r]);
    __mmask16 at = _mm512_cmp_ps_mask(run->best[r], _mm512_set1_ps(top), _CMP_EQ_OQ);
    float value = margin - run->true_score[r] + top;  /* top = -inf: S[r, y] is out too */
    *loss = value <= 0 ? 0 : value;
    *negative = top == -INFINITY ? 0 : _mm512_mask_reduce_min_epi32(at, run->class[r]);
}

__attribute__((target("avx512f")))
int tl_hinge_forward_f32(const float *f, const float *g, long n, long classes, long dim,
                         const int64_t *target, float margin, float *loss,
                         int64_t *negative, float *scratch, int threads)
{
    long wide = panels(classes, NR) * NR, blocks = panels(n, ROWS), p, b;
    long per_thread = ROWS * dim + (dim > KC ? ROWS : 1) * wide;
    float *g_panels = scratch, *own = scratch + wide * dim;
#pragma omp parallel num_threads(threads)
    {
        struct running run;
        float tile_scores[MR * NR];
        float *a = own + TL_THREAD * per_thread, *s = a + ROWS * dim;
#pragma omp for schedule(static)
        for (p = 0; p < wide / NR; p++)  /* g^T in panels of NR classes */
            pack_b_panel(g, dim, NULL, classes, dim, p, g_panels);
        /* Blocks one at a time, to whichever thread is free. While its tiles compute, a
           thread prefetches into L2 the rows of f of the block it will likely take next
           (b + threads: a guess, which costs only bandwidth when wrong), a slice of them
           per panel of classes, so that packing them then does not wait on memory. */
#pragma omp for schedule(dynamic)
        for (b = 0; b < blocks; b++) {
            long n0 = b * ROWS, rows = n - n0 < ROWS ? n - n0 : ROWS, next = b + TL_THREADS;
            const char *ahead = (const char *)(next < blocks ? f + next * ROWS * dim : f);
            long ahead_bytes = next < blocks ? (n - next * ROWS < ROWS ? n - next * ROWS : ROWS)
                                               * dim * (long)sizeof(float) : 0;
            long slice = (ahead_bytes + wide / NR - 1) / (wide / NR);  /* bytes per panel */
            slice = (slice + 63) / 64 * 64;
            pack_a(f + n0 * dim, dim, rows, dim, a);
            for (long r = 0; r < rows; r++) {
                run.best[r] = _mm512_set1_ps(-INFINITY);
                run.class[r] = _mm512_setzero_si512();
                run.nan[r] = 0;
            }
            for (long k0 = 0; k0 < dim; k0 += KC) {  /* as gemm, KC steps of D at a time */
                long depth = dim - k0 < KC ? dim - k0 : KC, last = k0 + KC >= dim;
                for (long j0 = 0; j0 < wide; j0 += NR) {
                    if (k0 == 0)
                        prefetch_l2(ahead, j0 / NR * slice, j0 / NR * slice + slice,
                                    ahead_bytes);
                    for (long i0 = 0; i0 < rows; i0 += MR) {
                        /* the tile's scores, or where D > KC the sums so far, kept in s */
                        long tile_rows = rows - i0 < MR ? rows - i0 : MR;
                        float *c = dim > KC ? s + i0 * wide + j0 : tile_scores;
                        long ldc = dim > KC ? wide : NR;
                        tile(depth, a + i0 * dim + k0 * MR, NULL,
                             g_panels + j0 * dim + k0 * NR, tile_rows, NR, c, ldc, k0 > 0);
                        if (last)
                            fold_tile(c, ldc, i0, tile_rows, j0, classes, target + n0 + i0,
                                      &run);
                    }
                }
            }
            for (long r = 0; r < rows; r++) {
                if (run.nan[r]) {  /* its scores again, the same sums, then a scan */
                    float *row = dim > KC ? s + r * wide : s;
                    if (dim <= KC)
                        gemm(1, classes, dim, a + (r / MR) * MR * dim + r % MR, g_panels,
                             row, wide, 0);
                    scan_row(row, classes, target[n0 + r], margin, loss + n0 + r,
                             negative + n0 + r);
                } else {
                    finish_row(&run, r, margin, loss + n0 + r, negative + n0 + r);
                }
            }
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
