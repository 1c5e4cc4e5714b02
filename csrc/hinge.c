/* The zero-shot hinge-max loss's forward fused with its score GEMM, for tlcore._native,
in csrc/simd.h's width-generic operations (built per route by csrc/route_*.c):

    loss[n] = max(0, margin - S[n, y_n] + max_{c != y_n} S[n, c]),   S = f @ g^T

and that arg-max (the first one on ties, the first NaN if there is one, 0 if every
other score is -inf: np.argmax over the row with S[n, y_n] set to -inf).

Composed, the GEMM writes the (N, C) scores to memory (16 MB at N = 4096, C = 1000;
312 MB at C = 20000) and a scan reads them back. Here a thread takes a block of ROWS
rows of f, and csrc/tiles.h's register tiles compute its scores, MR rows x NR classes
at a time. Each tile is stored to a small buffer in L1 and folded at once into
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

#include "routes.h"
#include "team.h"
#include "tiles.h"

#define ROWS (4 * MR)  /* rows of f per block: each slice of g's panels serves 4 a panels */

/* A block's rows, as their tiles go by: lane l of best[i] is the largest score of row i
   in the columns c = l (mod LANES) seen so far (-inf before any), class[i] its column
   (the first, on ties); true_score[i] is S[i, y_i]; nan[i] is -1 in lanes that saw a
   NaN. */
struct running {
    vf best[ROWS];
    vi class[ROWS];
    float true_score[ROWS];
    vi nan[ROWS];
};

static long hinge_forward_scratch(long classes, long dim, int threads)
{
    long wide = panels(classes, NR) * NR;
    /* g's panels; per thread: a block's a panels, and the partial sums of its scores
       where D > KC (the tiles then store and add them, as gemm does), or else one row
       of scores (rows with a NaN are scanned again, from their scores stored whole) */
    return wide * dim + threads * (ROWS * dim + (dim > KC ? ROWS : 1) * wide);
}

/* (loss, negative) of one row s of S, classes long, true class y, by scanning it: the
   way for a row with a NaN (the first NaN is the arg-max). */
static void scan_row(const float *s, long classes, long y, float margin, float *loss,
                     int64_t *negative)
{
    long arg = -1;
    float top = -INFINITY;
    for (long c = 0; c < classes; c++) {
        if (c == y)
            continue;
        if (s[c] != s[c]) {
            arg = c;
            break;
        }
        if (s[c] > top) {
            top = s[c];
            arg = c;
        }
    }
    if (arg < 0)
        arg = 0;  /* np.argmax's answer when every other score is -inf */
    float value = margin - s[y] + (arg == y ? -INFINITY : s[arg]);
    *loss = value <= 0 ? 0 : value;  /* NaN stays NaN, as np.maximum keeps it */
    *negative = arg;
}

/* Folds a tile of scores (rows i < rows of the block from row r0, classes j0 to
   j0 + LANES*nv - 1, at c + i*ldc) into the block's running maxima: a lane takes a score
   strictly above its best, so that, the tiles going by in class order, each lane keeps
   its first arg-max. The true class and the padding past C are left out. */
__attribute__((always_inline))
static inline void fold_vectors(const int nv, const float *c, long ldc, long r0, long rows,
                                long j0, long classes, const int64_t *target,
                                struct running *run)
{
    vi class_of[NV], inside[NV];
    for (int v = 0; v < nv; v++) {
        class_of[v] = v_iota() + (int)(j0 + LANES * v);
        inside[v] = class_of[v] < (int)classes;
    }
    for (long i = 0; i < rows; i++) {
        long r = r0 + i, y = target[i] - j0;  /* y: the true class's column in the tile */
        vf best = run->best[r];
        vi class = run->class[r], nan = run->nan[r];
        if (y >= 0 && y < NR)
            run->true_score[r] = c[i * ldc + y];
        for (int v = 0; v < nv; v++) {
            vf s = v_load(c + i * ldc + LANES * v);
            vi m = inside[v] & (class_of[v] != (int)target[i]);
            vi up = m & (s > best);
            nan |= m & (s != s);
            best = v_select(up, s, best);
            class = (class & ~up) | (class_of[v] & up);
        }
        run->best[r] = best;
        run->class[r] = class;
        run->nan[r] = nan;
    }
}

/* fold_vectors over the vectors of the tile that hold classes: all NV, or, in the last
   panel, as many as its tile computed. Not inlined: its constants would otherwise stay
   in registers through the tile's loop, which needs nearly all of them. */
__attribute__((noinline))
static void fold_tile(const float *c, long ldc, long r0, long rows, long j0, long classes,
                      const int64_t *target, struct running *run)
{
    long nv = panels(classes - j0, LANES);
    if (nv >= NV)
        fold_vectors(NV, c, ldc, r0, rows, j0, classes, target, run);
    else
        fold_vectors(nv, c, ldc, r0, rows, j0, classes, target, run);
}

/* Asks for bytes lo <= l < min(hi, end) of p in L2, a cache line at a time. */
static inline void prefetch_l2(const char *p, long lo, long hi, long end)
{
    for (long l = lo; l < hi && l < end; l += 64)
        __builtin_prefetch(p + l, 0, 2);
}

/* The first arg-max of a row's running maxima (0 if they are all -inf) and its loss. */
static void finish_row(const struct running *run, long r, float margin, float *loss,
                       int64_t *negative)
{
    float top = v_reduce_max(run->best[r]);
    float value = margin - run->true_score[r] + top;  /* top = -inf: S[r, y] is out too */
    long arg = 0;
    if (top != -INFINITY) {
        arg = -1;
        for (int l = 0; l < LANES; l++)
            if (run->best[r][l] == top && (arg < 0 || run->class[r][l] < arg))
                arg = run->class[r][l];
    }
    *loss = value <= 0 ? 0 : value;
    *negative = arg;
}

/* A forward's arguments, shared by its team (csrc/team.h). */
struct hinge_job {
    const float *f, *g;
    long n, classes, dim;
    const int64_t *target;
    float margin;
    float *loss;
    int64_t *negative;
    float *scratch;
    long next_panel, packed;  /* g's panels: the next chunk to pack, and those packed */
    long next;  /* the next block of rows, shared out one at a time */
};

static void hinge_team(void *arg, const tl_member *me)
{
    struct hinge_job *job = arg;
    long n = job->n, classes = job->classes, dim = job->dim;
    long wide = panels(classes, NR) * NR, blocks = panels(n, ROWS);
    const float *f = job->f;
    float *g_panels = job->scratch;
    float *a = g_panels + wide * dim + me->thread * (ROWS * dim + (dim > KC ? ROWS : 1) * wide);
    float *s = a + ROWS * dim;
    struct running run;
    float tile_scores[MR * NR];
    long count = wide / NR, chunk = tl_chunk(count, wide * dim);  /* g^T in panels of NR */
    for (long first, last; tl_claim_chunk(&job->next_panel, count, chunk, &first, &last);) {
        for (long p = first; p < last; p++)
            pack_b_panel(job->g, dim, NULL, classes, dim, p, g_panels);
        tl_done(&job->packed, last - first);
    }
    tl_wait_done(&job->packed, count);
    /* Blocks one at a time, to whichever thread is free. While its tiles compute, a
       thread prefetches into L2 the rows of f of the block it will likely take next
       (b + threads: a guess, which costs only bandwidth when wrong), a slice of them
       per panel of classes, so that packing them then does not wait on memory. */
    for (long b; (b = tl_claim(&job->next)) < blocks;) {
        long n0 = b * ROWS, rows = n - n0 < ROWS ? n - n0 : ROWS, next = b + me->threads;
        const char *ahead = (const char *)(next < blocks ? f + next * ROWS * dim : f);
        long ahead_bytes = next < blocks ? (n - next * ROWS < ROWS ? n - next * ROWS : ROWS)
                                           * dim * (long)sizeof(float) : 0;
        long slice = (ahead_bytes + wide / NR - 1) / (wide / NR);  /* bytes per panel */
        slice = (slice + 63) / 64 * 64;
        pack_a(f + n0 * dim, dim, rows, dim, a);
        for (long r = 0; r < rows; r++) {
            run.best[r] = v_set1(-INFINITY);
            run.class[r] = (vi){0};
            run.nan[r] = (vi){0};
        }
        for (long k0 = 0; k0 < dim; k0 += KC) {  /* as gemm, KC steps of D at a time */
            long depth = dim - k0 < KC ? dim - k0 : KC, last = k0 + KC >= dim;
            for (long j0 = 0; j0 < wide; j0 += NR) {
                /* the panel's vectors that hold classes: in the last panel, where C is
                   not a multiple of NR, the tile leaves out those of padding alone */
                long cols = classes - j0 < NR ? panels(classes - j0, LANES) * LANES : NR;
                if (k0 == 0)
                    prefetch_l2(ahead, j0 / NR * slice, j0 / NR * slice + slice, ahead_bytes);
                for (long i0 = 0; i0 < rows; i0 += MR) {
                    /* the tile's scores, or where D > KC the sums so far, kept in s */
                    long tile_rows = rows - i0 < MR ? rows - i0 : MR;
                    float *c = dim > KC ? s + i0 * wide + j0 : tile_scores;
                    long ldc = dim > KC ? wide : NR;
                    tile(depth, a + i0 * dim + k0 * MR, NULL, g_panels + j0 * dim + k0 * NR,
                         tile_rows, cols, c, ldc, k0 > 0);
                    if (last)
                        fold_tile(c, ldc, i0, tile_rows, j0, classes, job->target + n0 + i0,
                                  &run);
                }
            }
        }
        for (long r = 0; r < rows; r++) {
            float *loss = job->loss + n0 + r;
            int64_t *negative = job->negative + n0 + r;
            if (v_any(run.nan[r])) {  /* its scores again, the same sums, then a scan */
                float *row = dim > KC ? s + r * wide : s;
                if (dim <= KC)
                    gemm(1, classes, dim, a + (r / MR) * MR * dim + r % MR, g_panels, row, wide,
                         0);
                scan_row(row, classes, job->target[n0 + r], job->margin, loss, negative);
            } else {
                finish_row(&run, r, job->margin, loss, negative);
            }
        }
    }
}

static int hinge_forward_f32(const float *f, const float *g, long n, long classes, long dim,
                             const int64_t *target, float margin, float *loss,
                             int64_t *negative, float *scratch, int threads)
{
    struct hinge_job job = {f, g, n, classes, dim, target, margin, loss, negative, scratch,
                            0, 0, 0};
    tl_team_run(threads, hinge_team, &job);
    return 0;
}
