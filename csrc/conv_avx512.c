/* Float32 convolution as an implicit GEMM on AVX-512, for tlcore._native.

The im2col route (tlcore/kernels/native.py) writes every sample's columns to memory,
hands them to numpy's BLAS, which packs them again, and moves the result into NCHW
order: three passes over a buffer that is 9x the input (a 3x3 kernel). Here each thread
takes whole samples: it packs one sample's columns into its own scratch, which stays
in the core's cache, and multiplies them by the weights with a register-blocked kernel
that writes the output in NCHW order directly. The GEMM is the same sum, done in a
different order: the results match the reference to float32 rounding, not bit for bit.

    forward          out[s] (C_out, P) = W (C_out, K) @ cols[s] (K, P)
    weight gradient  dW^T (K, C_out)  += cols[s] (K, P) @ dY[s]^T (P, C_out), s in order

with K = C_in*kh*kw and P = out_h*out_w. The input gradient is the forward of dY with
the kernel flipped (tlcore/kernels/native.py sets that up for stride 1).

The one inner kernel (``tile``) computes a block of MR x NR outputs,
c[i, j] (+)= sum_t a[i, t] b[t, j], holding the block in 24 of the 32 vector registers:
each step t loads two vectors of b and broadcasts MR values of a (Goto and van de
Geijn, "Anatomy of high-performance matrix multiplication", ACM TOMS 2008).

Threads: the forward gives each thread whole samples; the weight gradient gives each
thread whole tiles of dW^T and sums the samples into them in order. So no two threads
write one element, and the result is the same at any number of threads.

The kernels are compiled for AVX-512F through a function attribute, so the rest of the
module keeps the default target; tl_conv_avx512_supported() asks the CPU at run time.
*/
#include <string.h>

#include "conv_avx512.h"

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define TL_AVX512 1
#include <immintrin.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#define TL_THREAD omp_get_thread_num()
#else
#define TL_THREAD 0
#endif

int tl_conv_avx512_supported(void)
{
#ifdef TL_AVX512
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}

/* [lo, hi): the outputs k < n whose input k*stride + shift lies in [0, size). */
static void inside(long n, long stride, long shift, long size, long *lo, long *hi)
{
    long a = 0, b;
    if (shift < 0)
        a = (-shift + stride - 1) / stride;
    b = size - shift > 0 ? (size - shift + stride - 1) / stride : 0;
    if (a > n) a = n;
    if (b > n) b = n;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

#ifdef TL_AVX512

#define MR 12          /* rows of a tile: values of a broadcast per step */
#define NR 32          /* columns of a tile: two vectors of 16 floats */
#define KC 256         /* steps per call: a KC x NR panel of b (32 KB) stays in L1 */

/* Lanes lo <= j < hi of a 16-float vector, for 0 <= lo and hi <= 16. */
static __mmask16 lanes(long lo, long hi)
{
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    return hi <= lo ? 0 : (__mmask16)(((1u << (hi - lo)) - 1) << lo);
}

/* line[i*out_w + j] = x[c, i*sh + p*dh - ph, j*sw + q*dw - pw] for the kernel offset
   (p, q) of channel c, 0 in the padding: row (c*kh + p)*kw + q of the sample's im2col
   columns, P = out_h*out_w values. With stride 1, each output row is masked vector
   copies: the mask leaves out the padding (and a masked-off lane is never read). */
__attribute__((target("avx512f")))
static void column_row(const float *x, const tl_conv_geometry *g, long c, long p, long q,
                       float *line)
{
    const float *plane = x + c * g->height * g->width;
    long i0, i1, j0, j1, shift = q * g->dw - g->pw;
    inside(g->out_h, g->sh, p * g->dh - g->ph, g->height, &i0, &i1);
    inside(g->out_w, g->sw, shift, g->width, &j0, &j1);
    memset(line, 0, i0 * g->out_w * sizeof(float));
    for (long i = i0; i < i1; i++) {
        float *out = line + i * g->out_w;
        long y = i * g->sh + p * g->dh - g->ph;
        if (g->sw == 1) {
            /* src[j] = x[c, y, j + shift]: read as a byte offset, as it may start
               before the plane; the mask keeps every read inside it */
            const char *src = (const char *)(plane + y * g->width) + shift * (long)sizeof(float);
            for (long j = 0; j < g->out_w; j += 16) {
                __m512 v = _mm512_maskz_loadu_ps(lanes(j0 - j, j1 - j),
                                                 src + j * (long)sizeof(float));
                _mm512_mask_storeu_ps(out + j, lanes(0, g->out_w - j), v);
            }
        } else {
            const float *src = plane + y * g->width + shift;
            for (long j = 0; j < g->out_w; j++)
                out[j] = j0 <= j && j < j1 ? src[j * g->sw] : 0;
        }
    }
    memset(line + i1 * g->out_w, 0, (g->out_h - i1) * g->out_w * sizeof(float));
}

/* The operands of the inner kernel are packed in panels, so that each step reads
   consecutive memory: an "a panel" holds MR rows of a, step by step (a[t*MR + i]); a
   "b panel" holds NR columns of b, step by step (b[t*NR + j]). Rows and columns past
   the matrix's edge are 0 in the panels. */
static long panels(long size, long width) { return (size + width - 1) / width; }

/* a (m, k) row-major with leading dimension lda, as panels of MR rows. */
static void pack_a(const float *a, long lda, long m, long k, float *dst)
{
    for (long i0 = 0; i0 < m; i0 += MR) {
        float *panel = dst + i0 * k;
        for (long i = 0; i < MR; i++)
            for (long t = 0; t < k; t++)
                panel[t * MR + i] = i0 + i < m ? a[(i0 + i) * lda + t] : 0;
    }
}

/* Row t of b (n values) into b's panels of NR columns, each k steps deep. */
__attribute__((target("avx512f")))
static void pack_b_row(const float *row, long n, long k, long t, float *dst)
{
    for (long j0 = 0; j0 < n; j0 += NR) {
        float *step = dst + j0 * k + t * NR;
        __mmask16 low = lanes(0, n - j0), high = lanes(0, n - j0 - 16);
        _mm512_storeu_ps(step, _mm512_maskz_loadu_ps(low, row + j0));
        _mm512_storeu_ps(step + 16, _mm512_maskz_loadu_ps(high, row + j0 + 16));
    }
}

/* c[i, j] (+)= sum_{t < depth} a[t*MR + i] * b[t*NR + j] for i < rows and j < cols,
   the block held in mr x nv vector registers (at most 12 x 2 of the 32), and stored
   with a mask on the columns. mr (4, 8 or 12, >= rows) and nv (1 or 2, 16*nv >= cols)
   are constants at each call, so the compiler makes one loop for each pair: a tile at
   the matrix's edge does not compute the rows and vectors that it would throw away. */
__attribute__((target("avx512f"), always_inline))
static inline void tile_of(const int mr, const int nv, long depth, const float *a,
                           const float *b, long rows, long cols, float *c, long ldc,
                           int accumulate)
{
    __m512 acc[MR][2];
    __mmask16 mask[2];
    mask[0] = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    mask[1] = cols >= 32 ? 0xFFFF : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nv; v++)
            acc[i][v] = _mm512_setzero_ps();
    for (long t = 0; t < depth; t++, a += MR, b += NR) {
        __m512 bv[2];
        for (int v = 0; v < nv; v++)
            bv[v] = _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
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

__attribute__((target("avx512f")))
static void tile(long depth, const float *a, const float *b, long rows, long cols,
                 float *c, long ldc, int accumulate)
{
    int wide = cols > 16;
    if (rows > 8) {
        if (wide) tile_of(12, 2, depth, a, b, rows, cols, c, ldc, accumulate);
        else tile_of(12, 1, depth, a, b, rows, cols, c, ldc, accumulate);
    } else if (rows > 4) {
        if (wide) tile_of(8, 2, depth, a, b, rows, cols, c, ldc, accumulate);
        else tile_of(8, 1, depth, a, b, rows, cols, c, ldc, accumulate);
    } else {
        if (wide) tile_of(4, 2, depth, a, b, rows, cols, c, ldc, accumulate);
        else tile_of(4, 1, depth, a, b, rows, cols, c, ldc, accumulate);
    }
}

/* c (m, n) (+)= a (m, k) @ b (k, n) from packed panels; c row-major, leading dimension
   ldc. KC steps at a time, each b panel slice used by every a panel while in L1. */
__attribute__((target("avx512f")))
static void gemm_packed(long m, long n, long k, const float *a, const float *b, float *c,
                        long ldc, int accumulate)
{
    for (long k0 = 0; k0 < k; k0 += KC) {
        long depth = k - k0 < KC ? k - k0 : KC;
        for (long j0 = 0; j0 < n; j0 += NR)
            for (long i0 = 0; i0 < m; i0 += MR)
                tile(depth, a + i0 * k + k0 * MR, b + j0 * k + k0 * NR,
                     m - i0 < MR ? m - i0 : MR, n - j0 < NR ? n - j0 : NR,
                     c + i0 * ldc + j0, ldc, accumulate || k0 > 0);
    }
}

long tl_conv_forward_scratch(long c_out, const tl_conv_geometry *g, int threads)
{
    long depth = g->channels * g->kh * g->kw, pixels = g->out_h * g->out_w;
    return panels(c_out, MR) * MR * depth
           + threads * (panels(pixels, NR) * NR * depth + pixels);
}

void tl_conv_forward_f32(const float *x, long n, const float *weight, long c_out,
                         const tl_conv_geometry *g, float *out, float *scratch, int threads)
{
    long depth = g->channels * g->kh * g->kw, pixels = g->out_h * g->out_w;
    long sample = g->channels * g->height * g->width;
    long per_thread = panels(pixels, NR) * NR * depth + pixels;
    float *w_panels = scratch, *own = scratch + panels(c_out, MR) * MR * depth;
    long s;
    pack_a(weight, depth, c_out, depth, w_panels);
#pragma omp parallel for num_threads(threads) schedule(guided)
    for (s = 0; s < n; s++) {
        float *cols = own + TL_THREAD * per_thread, *line = cols + per_thread - pixels;
        const float *xs = x + s * sample;
        for (long r = 0; r < depth; r++) {
            column_row(xs, g, r / (g->kh * g->kw), r / g->kw % g->kh, r % g->kw, line);
            pack_b_row(line, pixels, depth, r, cols);
        }
        gemm_packed(c_out, pixels, depth, w_panels, cols, out + s * c_out * pixels, pixels, 0);
    }
}

long tl_conv_backward_weight_scratch(long c_out, const tl_conv_geometry *g, long chunk)
{
    long depth = g->channels * g->kh * g->kw, pixels = g->out_h * g->out_w;
    return chunk * (panels(depth, MR) * MR + panels(c_out, NR) * NR + 1) * pixels;
}

void tl_conv_backward_weight_f32(const float *x, const float *grad_out, long n,
                                 long c_out, const tl_conv_geometry *g, float *grad_w_t,
                                 float *scratch, long chunk, int threads)
{
    long depth = g->channels * g->kh * g->kw, pixels = g->out_h * g->out_w;
    long sample = g->channels * g->height * g->width;
    long a_size = panels(depth, MR) * MR * pixels, b_size = panels(c_out, NR) * NR * pixels;
    long per_sample = a_size + b_size + pixels;  /* its a panels, b panels, a line */
    long row_tiles = panels(depth, MR), col_tiles = panels(c_out, NR);
    memset(grad_w_t, 0, depth * c_out * sizeof(float));
#pragma omp parallel num_threads(threads)
    for (long s0 = 0; s0 < n; s0 += chunk) {
        long count = n - s0 < chunk ? n - s0 : chunk, s, t;
#pragma omp for schedule(guided)
        for (s = 0; s < count; s++) {  /* a = its columns (K, P), b = its dY^T (P, C_out) */
            float *a = scratch + s * per_sample, *b = a + a_size, *line = b + b_size;
            const float *xs = x + (s0 + s) * sample, *dy = grad_out + (s0 + s) * c_out * pixels;
            memset(a, 0, a_size * sizeof(float));
            for (long r = 0; r < depth; r++) {
                float *panel = a + r / MR * MR * pixels + r % MR;
                column_row(xs, g, r / (g->kh * g->kw), r / g->kw % g->kh, r % g->kw, line);
                for (long p = 0; p < pixels; p++) panel[p * MR] = line[p];
            }
            memset(b, 0, b_size * sizeof(float));
            for (long o = 0; o < c_out; o++) {
                float *panel = b + o / NR * NR * pixels + o % NR;
                for (long p = 0; p < pixels; p++) panel[p * NR] = dy[o * pixels + p];
            }
        }
#pragma omp for schedule(guided)
        for (t = 0; t < row_tiles * col_tiles; t++) {
            long i0 = t / col_tiles * MR, j0 = t % col_tiles * NR;
            for (long k = 0; k < count; k++) {  /* the samples in order */
                const float *a = scratch + k * per_sample;
                gemm_packed(depth - i0 < MR ? depth - i0 : MR, c_out - j0 < NR ? c_out - j0 : NR,
                            pixels, a + i0 * pixels, a + a_size + j0 * pixels,
                            grad_w_t + i0 * c_out + j0, c_out, 1);
            }
        }
    }
}

#else  /* no AVX-512 kernels in this build: tl_conv_avx512_supported() is 0 */

long tl_conv_forward_scratch(long c_out, const tl_conv_geometry *g, int threads)
{
    (void)c_out; (void)g; (void)threads;
    return 0;
}

long tl_conv_backward_weight_scratch(long c_out, const tl_conv_geometry *g, long chunk)
{
    (void)c_out; (void)g; (void)chunk;
    return 0;
}

void tl_conv_forward_f32(const float *x, long n, const float *weight, long c_out,
                         const tl_conv_geometry *g, float *out, float *scratch, int threads)
{
    (void)x; (void)n; (void)weight; (void)c_out; (void)g; (void)out; (void)scratch;
    (void)threads;
}

void tl_conv_backward_weight_f32(const float *x, const float *grad_out, long n,
                                 long c_out, const tl_conv_geometry *g, float *grad_w_t,
                                 float *scratch, long chunk, int threads)
{
    (void)x; (void)grad_out; (void)n; (void)c_out; (void)g; (void)grad_w_t; (void)scratch;
    (void)chunk; (void)threads;
}

#endif
