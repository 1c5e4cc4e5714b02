/* The register-tile GEMM on AVX-512 that csrc/conv_avx512.c, csrc/winograd_avx512.c and
csrc/hinge_avx512.c share, with the moves between layouts around it (copy_floats,
gather_pairs, transpose_floats, the panels' packing): static functions, compiled into
each file that includes this one.

The one inner kernel (``tile``) computes a block of up to 14 rows x NR columns,
c[i, j] (+)= sum_t a[i, t] b[t, j], holding the block in up to 28 of the 32 vector
registers: each step t loads two vectors of b and broadcasts the rows' values of a
(Goto and van de Geijn, "Anatomy of high-performance matrix multiplication", ACM TOMS
2008). b is always a packed panel; a is a packed panel (the hinge's rows of f) or read
in place, step t at its own offset (a convolution's padded image). Measured alone on
one core of the 2-core machine: 100 to 170 GFLOP/s in float32, as fast as numpy's
OpenBLAS on one thread.

The kernels are compiled for AVX-512F through a function attribute, so the rest of the
module keeps the default target; tl_avx512_supported() asks the CPU at run time. Where
TL_AVX512 is not defined (not x86-64, or not GCC/clang), none of this is compiled.
*/
#ifndef TL_TILES_AVX512_H
#define TL_TILES_AVX512_H

#include <stdlib.h>

/* x86-64 with a 64-bit long (not Windows), and a compiler with the AVX-512 intrinsics
   used here (GCC 7, clang 5): elsewhere the stubs are built and the callers fall back. */
#if defined(__x86_64__) && !defined(_WIN32) && \
    ((defined(__clang__) && __clang_major__ >= 5) || \
     (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 7))
#define TL_AVX512 1
#include <immintrin.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#define TL_THREAD omp_get_thread_num()
#define TL_THREADS omp_get_num_threads()
#else
#define TL_THREAD 0
#define TL_THREADS 1
#endif

/* 1 if this CPU runs AVX-512F and these kernels were compiled, else 0. */
static inline int tl_avx512_supported(void)
{
#ifdef TL_AVX512
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}

#ifdef TL_AVX512

#define MR 12          /* rows of a packed a panel */
#define NR 32          /* columns of a packed b panel: two vectors of 16 floats */
#define TILE_ROWS 14   /* the most rows a tile holds: 14 x 2 vectors in 28 registers */
#ifndef KC
#define KC 256         /* gemm's steps per call: a KC x NR panel of b (32 KB) stays in L1 */
#endif

/* Lanes lo <= j < hi of a 16-float vector, for 0 <= lo and hi <= 16. */
static inline __mmask16 lanes(long lo, long hi)
{
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    return hi <= lo ? 0 : (__mmask16)(((1u << (hi - lo)) - 1) << lo);
}

/* The offsets k*stride of lanes k = 0..15, for a gather or a scatter with a stride
   (32-bit: the callers keep 16*stride within an int). */
__attribute__((target("avx512f")))
static inline __m512i lane_offsets(long stride)
{
    return _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3,
                                               2, 1, 0),
                              _mm512_set1_epi32((int)stride));
}

/* dst[j] = src[j] for j < n, a vector (masked at the end) at a time. */
__attribute__((target("avx512f")))
static inline void copy_floats(float *dst, const float *src, long n)
{
    for (long j = 0; j < n; j += 16) {
        __mmask16 m = lanes(0, n - j);
        _mm512_mask_storeu_ps(dst + j, m, _mm512_maskz_loadu_ps(m, src + j));
    }
}

/* base[offsets[l]] and the float after it, for the lanes l in m (0 elsewhere), as two
   vectors: two gathers of 8-byte pairs (8 lanes each), then split into the first and the
   second floats. Half the loads of gathering the floats one by one. */
__attribute__((target("avx512f")))
static inline void gather_pairs(const float *base, __m512i offsets, __mmask16 m,
                                __m512 *first, __m512 *second)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8,
                                          6, 4, 2, 0);
    __m512 lo = _mm512_castpd_ps(_mm512_mask_i32gather_pd(
        _mm512_setzero_pd(), (__mmask8)m, _mm512_castsi512_si256(offsets), base, 4));
    __m512 hi = _mm512_castpd_ps(_mm512_mask_i32gather_pd(
        _mm512_setzero_pd(), (__mmask8)(m >> 8), _mm512_extracti64x4_epi64(offsets, 1),
        base, 4));
    *first = _mm512_permutex2var_ps(lo, even, hi);
    *second = _mm512_permutex2var_ps(lo, _mm512_add_epi32(even, _mm512_set1_epi32(1)), hi);
}

/* dst[i*dst_ld + j] = src[j*src_ld + i] for i < rows, j < cols: a transpose, 16 j at a
   time, two rows i at a time (gather_pairs) but the last of an odd number. */
__attribute__((target("avx512f")))
static inline void transpose_floats(const float *src, long src_ld, long rows, long cols,
                                    float *dst, long dst_ld)
{
    __m512i along = lane_offsets(src_ld);
    for (long i = 0; i < rows; i += 2)
        for (long j = 0; j < cols; j += 16) {
            __mmask16 m = lanes(0, cols - j);
            __m512 first, second;
            if (i + 1 < rows) {
                gather_pairs(src + j * src_ld + i, along, m, &first, &second);
                _mm512_mask_storeu_ps(dst + (i + 1) * dst_ld + j, m, second);
            } else {
                first = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, along,
                                                 src + j * src_ld + i, 4);
            }
            _mm512_mask_storeu_ps(dst + i * dst_ld + j, m, first);
        }
}

/* The inside of a zero-padded sample: x (channels, height, width) into planes of rows x
   cols, shifted by (ph, pw): dst[(c*rows + ph + y)*cols + pw + j] = x[c, y, j]. The
   border (and any room after it) must have been zeroed before, once per buffer. */
__attribute__((target("avx512f")))
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
__attribute__((target("avx512f")))
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

/* a (m, k) row-major with leading dimension lda, as panels of MR rows: one gather of the
   MR rows per step. */
__attribute__((target("avx512f")))
static inline void pack_a(const float *a, long lda, long m, long k, float *dst)
{
    __m512i rows = lane_offsets(lda);
    for (long i0 = 0; i0 < m; i0 += MR) {
        __mmask16 m_rows = lanes(0, m - i0 < MR ? m - i0 : MR), m_panel = lanes(0, MR);
        float *panel = dst + i0 * k;
        for (long t = 0; t < k; t++)
            _mm512_mask_storeu_ps(panel + t * MR, m_panel, _mm512_mask_i32gather_ps(
                _mm512_setzero_ps(), m_rows, rows, a + i0 * lda + t, 4));
    }
}

/* b (k, n) given by its transpose bt (n, k), as panels of NR columns: dst[p*NR*k +
   t*NR + j] = b[t, p*NR + j], 0 past n; b[t, j] at bt[j*ldb + t], or, given columns, at
   bt[j*ldb + columns[t]] (a kernel read flipped). One gather of 16 columns per vector.
   Panel p alone, so that threads can share the work. */
__attribute__((target("avx512f")))
static inline void pack_b_panel(const float *bt, long ldb, const int *columns, long n,
                                long k, long p, float *dst)
{
    __m512i rows = lane_offsets(ldb);
    for (int v = 0; v < 2; v++) {
        long j0 = p * NR + 16 * v;
        __mmask16 m = lanes(0, n - j0);
        const float *first = bt + (m ? j0 * ldb : 0);  /* b's column j0 */
        float *panel = dst + p * NR * k + 16 * v;
        for (long t = 0; t < k; t++)
            _mm512_storeu_ps(panel + t * NR, _mm512_mask_i32gather_ps(
                _mm512_setzero_ps(), m, rows, first + (columns ? columns[t] : t), 4));
    }
}

/* Input channels per weight-gradient tile (of csrc/conv_avx512.c and
   csrc/winograd_avx512.c): 14 where that makes fewer tiles than 12, else 12, so that the
   last tile is the only one not full (C_in = 64: 4 x 14 + 8; 32: 2 x 12 + 8). Measured:
   the direct tiles at conv3 of the bench 3 to 5% faster than with blocks of 12;
   Winograd's at conv2 1.06 to 1.09x PyTorch's speed against 1.02 to 1.05x with even
   blocks (11 + 11 + 10, in tiles of 12 rows). */
static inline long channel_block(long c_in)
{
    return panels(c_in, TILE_ROWS) < panels(c_in, MR) ? TILE_ROWS : MR;
}

/* c[i, j] (+)= sum_{t < depth} a_t[i] * b[t*NR + j] for i < rows and j < cols, the block
   held in mr x nv vector registers (at most 14 x 2 of the 32) and stored with a mask on
   the columns; c row-major, leading dimension ldc. Step t of a is mr consecutive
   floats: at a + t*MR (a packed panel), or, given steps, at a + steps[t] (read straight
   from a padded image: a kernel tap's offset, or a pixel's). mr (4, 8, 12 or 14, >=
   rows) and nv (1 or 2, 16*nv >= cols) are constants at each call, so the compiler
   makes one loop for each pair: a tile at the matrix's edge does not compute rows and
   vectors it throws away. The values of a past rows (up to 3 floats) are read, not
   used. */
__attribute__((target("avx512f"), always_inline))
static inline void tile_of(const int mr, const int nv, long depth, const float *a,
                           const int *steps, const float *b, long rows, long cols, float *c,
                           long ldc, int accumulate)
{
    __m512 acc[TILE_ROWS][2];
    __mmask16 mask[2] = {lanes(0, cols), lanes(0, cols - 16)};
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nv; v++)
            acc[i][v] = _mm512_setzero_ps();
    for (long t = 0; t < depth; t++, b += NR) {
        const float *at = steps ? a + steps[t] : a + t * MR;
        __m512 bv[2];
        for (int v = 0; v < nv; v++)
            bv[v] = _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 14
        for (int i = 0; i < mr; i++) {
            __m512 ai = _mm512_set1_ps(at[i]);
            for (int v = 0; v < nv; v++)
                acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
        }
    }
    for (int i = 0; i < mr && i < rows; i++)
        for (int v = 0; v < nv; v++) {
            float *ci = c + i * ldc + 16 * v;
            if (accumulate)
                acc[i][v] = _mm512_add_ps(acc[i][v], _mm512_maskz_loadu_ps(mask[v], ci));
            _mm512_mask_storeu_ps(ci, mask[v], acc[i][v]);
        }
}

/* tile_of with mr and nv the smallest that hold rows (<= TILE_ROWS) and cols (<= NR). */
__attribute__((target("avx512f")))
static inline void tile(long depth, const float *a, const int *steps, const float *b,
                        long rows, long cols, float *c, long ldc, int accumulate)
{
#define TILE(mr, nv) tile_of(mr, nv, depth, a, steps, b, rows, cols, c, ldc, accumulate)
    int wide = cols > 16;
    if (rows > 12) {
        if (wide) TILE(14, 2); else TILE(14, 1);
    } else if (rows > 8) {
        if (wide) TILE(12, 2); else TILE(12, 1);
    } else if (rows > 4) {
        if (wide) TILE(8, 2); else TILE(8, 1);
    } else {
        if (wide) TILE(4, 2); else TILE(4, 1);
    }
#undef TILE
}

/* c (m, n) (+)= a (m, k) @ b (k, n), both packed in panels, c row-major with leading
   dimension ldc. KC steps at a time: each slice of b stays in L1 while every a panel
   uses it. */
__attribute__((target("avx512f")))
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

#endif  /* TL_AVX512 */

#endif
