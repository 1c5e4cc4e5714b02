/* The register-tile GEMM that csrc/conv.c, csrc/winograd.c and csrc/hinge.c share, with
the moves between layouts around it (copy_floats, transpose_floats, the panels'
packing), written once in csrc/simd.h's width-generic operations: static functions,
compiled into each route's translation unit (csrc/route_*.c).

The one inner kernel (``tile``) computes a block of up to TILE_ROWS rows x NR columns,
c[i, j] (+)= sum_t a[i, t] b[t, j], holding the block in TILE_ROWS x NV vector
registers: each step t loads the NV vectors of b and broadcasts the rows' values of a
(Goto and van de Geijn, "Anatomy of high-performance matrix multiplication", ACM TOMS
2008). b is always a packed panel; a is a packed panel (the hinge's rows of f) or read
in place, step t at its own offset (a convolution's padded image). Measured alone on
one core of the 2-core machine, on AVX-512: 100 to 170 GFLOP/s in float32, as fast as
numpy's OpenBLAS on one thread.
*/
#ifndef TL_TILES_H
#define TL_TILES_H

#include <stdlib.h>

#include "simd.h"

#ifndef KC
#define KC 256  /* gemm's steps per call: a KC x NR panel of b (32 KB at NR = 32) in L1 */
#endif

/* dst[j] = src[j] for j < n (dst and src apart), a vector at a time. From n = LANES on,
   the last vector is the one that ends at n, overlapping the one before it: no masked
   load or store, which AVX2 on AMD's cores runs in microcode. Measured on AVX2, one
   thread, the input gradient of bench/kernels.py's conv2 (Winograd's forward, whose
   padding copies rows of 14 floats): 4.03 to 4.08 ms against 4.28 to 4.37 with a masked
   store ending each row. */
static inline void copy_floats(float *dst, const float *src, long n)
{
    if (n < LANES) {
        v_store_part(dst, v_load_part(src, n), n);
        return;
    }
    for (long j = 0; j + LANES < n; j += LANES)
        v_store(dst + j, v_load(src + j));
    v_store(dst + n - LANES, v_load(src + n - LANES));
}

/* dst[i*dst_ld + j] = src[j*src_ld + i] for i < rows, j < cols: a transpose, one block
   of LANES x LANES at a time, loaded as rows of src, turned in registers (v_transpose)
   and stored as rows of dst. It used to gather pairs of floats down the columns of src;
   measured at conv2 of bench/kernels.py, one thread, fastest of 25, the weight
   gradient (which turns each sample channels-last with it) took 4.8 to 5.5 ms against
   5.5 to 6.7 on AVX2, and 4.1 to 4.2 against 4.4 to 4.6 on AVX-512; the forward, within
   the noise. */
static inline void transpose_floats(const float *src, long src_ld, long rows, long cols,
                                    float *dst, long dst_ld)
{
    for (long i0 = 0; i0 < rows; i0 += LANES)
        for (long j0 = 0; j0 < cols; j0 += LANES) {
            /* a block over the edge moves back to end at it, overlapping the one before
               it, where the matrix has a whole block's room: whole vectors, no masks
               (copy_floats says why; conv2's forward on AVX2, one thread, whose output
               rows of 196 pixels end in 4: 4.02 to 4.09 ms against 4.35 to 4.40) */
            long i = i0 + LANES > rows && rows >= LANES ? rows - LANES : i0;
            long j = j0 + LANES > cols && cols >= LANES ? cols - LANES : j0;
            long n = rows - i, m = cols - j;  /* the block's rows of dst, and its columns */
            vf block[LANES];
            for (long k = 0; k < LANES; k++)
                block[k] = k < m ? v_load_part(src + (j + k) * src_ld + i, n) : v_zero();
            v_transpose(block);
            for (long k = 0; k < LANES && k < n; k++)
                v_store_part(dst + (i + k) * dst_ld + j, block[k], m);
        }
}

/* The inside of a zero-padded sample: x (channels, height, width) into planes of rows x
   cols, shifted by (ph, pw): dst[(c*rows + ph + y)*cols + pw + j] = x[c, y, j]. The
   border (and any room after it) must have been zeroed before, once per buffer. */
static inline void pad_planes(const float *x, long channels, long height, long width,
                              long ph, long pw, long rows, long cols, float *dst)
{
    for (long c = 0; c < channels; c++)
        for (long y = 0; y < height; y++)
            copy_floats(dst + (c * rows + ph + y) * cols + pw, x + (c * height + y) * width,
                        width);
}

/* The same, channels last, into rows of cols pixels: dst[((ph + y)*cols + pw + j) *
   channels + c] = x[c, y, j], each row of pixels transposed. */
static inline void pad_channels_last(const float *x, long channels, long height,
                                     long width, long ph, long pw, long cols, float *dst)
{
    for (long y = 0; y < height; y++)
        transpose_floats(x + y * width, height * width, width, channels,
                         dst + ((ph + y) * cols + pw) * channels, channels);
}

/* The operands of the inner kernel are packed in panels, so that each step reads
   consecutive memory: an "a panel" holds MR rows of a, step by step (a[t*MR + i]); a
   "b panel" holds NR columns of b, step by step (b[t*NR + j]). Rows and columns past
   the matrix's edge are 0 in the panels. */
static inline long panels(long size, long width) { return (size + width - 1) / width; }

/* a (m, k) row-major with leading dimension lda, as panels of MR rows. */
static inline void pack_a(const float *a, long lda, long m, long k, float *dst)
{
    for (long i0 = 0; i0 < m; i0 += MR) {
        long rows = m - i0 < MR ? m - i0 : MR;
        float *panel = dst + i0 * k;
        for (long t = 0; t < k; t++)
            for (long i = 0; i < MR; i++)
                panel[t * MR + i] = i < rows ? a[(i0 + i) * lda + t] : 0.0f;
    }
}

/* b (k, n) given by its transpose bt (n, k), as panels of NR columns: dst[p*NR*k +
   t*NR + j] = b[t, p*NR + j], 0 past n; b[t, j] at bt[j*ldb + t], or, given columns, at
   bt[j*ldb + columns[t]] (a kernel read flipped). One gather of LANES columns per vector.
   Panel p alone, so that threads can share the work. */
static inline void pack_b_panel(const float *bt, long ldb, const int *columns, long n,
                                long k, long p, float *dst)
{
    vi rows = v_offsets(ldb);
    for (int v = 0; v < NV; v++) {
        long j0 = p * NR + LANES * v;
        const float *first = bt + (j0 < n ? j0 * ldb : 0);  /* b's column j0 */
        float *panel = dst + p * NR * k + LANES * v;
        for (long t = 0; t < k; t++)
            v_store(panel + t * NR, v_gather(first + (columns ? columns[t] : t), rows, n - j0));
    }
}

/* Input channels per weight-gradient tile (of csrc/conv.c and csrc/winograd.c):
   TILE_ROWS where that makes fewer tiles than MR, else MR, so that the last tile is the
   only one not full (on AVX-512, C_in = 64: 4 x 14 + 8; 32: 2 x 12 + 8). Measured there:
   the direct tiles at conv3 of the bench 3 to 5% faster than with blocks of 12;
   Winograd's at conv2 1.06 to 1.09x PyTorch's speed against 1.02 to 1.05x with even
   blocks (11 + 11 + 10, in tiles of 12 rows). */
static inline long channel_block(long c_in)
{
    return panels(c_in, TILE_ROWS) < panels(c_in, MR) ? TILE_ROWS : MR;
}

/* c[i, j] (+)= sum_{t < depth} a_t[i] * b[t*NR + j] for i < rows and j < cols, the block
   held in mr x nv vector registers (at most TILE_ROWS x NV) and stored lanes < cols
   only; c row-major, leading dimension ldc. Step t of a is mr consecutive floats: at a
   + t*MR (a packed panel), or, given steps, at a + steps[t] (read straight from a padded
   image: a kernel tap's offset, or a pixel's). mr (>= rows) and nv (LANES*nv >= cols) are
   constants at each call, so the compiler makes one loop for each pair: a tile at the
   matrix's edge does not compute rows and vectors it throws away. The values of a past
   rows (fewer than TILE_ROWS floats) are read, not used. */
__attribute__((always_inline))
static inline void tile_of(const int mr, const int nv, long depth, const float *a,
                           const int *steps, const float *b, long rows, long cols, float *c,
                           long ldc, int accumulate)
{
    vf acc[TILE_ROWS][NV];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nv; v++)
            acc[i][v] = v_zero();
    for (long t = 0; t < depth; t++, b += NR) {
        const float *at = steps ? a + steps[t] : a + t * MR;
        vf bv[NV];
        for (int v = 0; v < nv; v++)
            bv[v] = v_load(b + LANES * v);
#pragma GCC unroll 16
        for (int i = 0; i < mr; i++) {
            vf ai = v_set1(at[i]);
            for (int v = 0; v < nv; v++)
                acc[i][v] = v_fma(ai, bv[v], acc[i][v]);
        }
    }
    for (int i = 0; i < mr && i < rows; i++)
        for (int v = 0; v < nv; v++) {
            float *ci = c + i * ldc + LANES * v;
            if (accumulate)
                acc[i][v] += v_load_part(ci, cols - LANES * v);
            v_store_part(ci, acc[i][v], cols - LANES * v);
        }
}

/* tile_of with nv the fewest vectors that hold cols (<= NR) and mr the smallest of
   TILE_SIZES (csrc/simd.h) that holds rows (<= TILE_ROWS). */
#define TILE_NV(mr, nv) tile_of(mr, nv, depth, a, steps, b, rows, cols, c, ldc, accumulate)
#if NV == 2
#define TILE_MR(mr) (cols > LANES ? TILE_NV(mr, 2) : TILE_NV(mr, 1))
#else
#define TILE_MR(mr) (cols > 2 * LANES ? TILE_NV(mr, 3) : cols > LANES ? TILE_NV(mr, 2) : TILE_NV(mr, 1))
#endif
#define TILE_DISPATCH(s1, s2, s3, s4) \
    if (rows > s2) TILE_MR(s1); else if (rows > s3) TILE_MR(s2); \
    else if (rows > s4) TILE_MR(s3); else TILE_MR(s4)
#define TILE_SIZED(sizes) TILE_DISPATCH(sizes)
static inline void tile(long depth, const float *a, const int *steps, const float *b,
                        long rows, long cols, float *c, long ldc, int accumulate)
{
    TILE_SIZED(TILE_SIZES);
}
#undef TILE_SIZED
#undef TILE_DISPATCH
#undef TILE_MR
#undef TILE_NV

/* c (m, n) (+)= a (m, k) @ b (k, n), both packed in panels, c row-major with leading
   dimension ldc. KC steps at a time: each slice of b stays in L1 while every a panel
   uses it. */
static inline void gemm(long m, long n, long k, const float *a, const float *b, float *c,
                        long ldc, int accumulate)
{
    for (long k0 = 0; k0 < k; k0 += KC) {
        long depth = k - k0 < KC ? k - k0 : KC;
        for (long j0 = 0; j0 < n; j0 += NR)
            for (long i0 = 0; i0 < m; i0 += MR)
                tile(depth, a + i0 * k + k0 * MR, NULL, b + j0 * k + k0 * NR,
                     m - i0 < MR ? m - i0 : MR, n - j0 < NR ? n - j0 : NR,
                     c + i0 * ldc + j0, ldc, accumulate || k0 > 0);
    }
}

#endif
