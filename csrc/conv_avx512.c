/* Float32 convolution as an implicit GEMM on AVX-512, for tlcore._native.

The im2col route (tlcore/kernels/native.py) writes every sample's columns to memory,
hands them to numpy's BLAS, which packs them again, and moves the result into NCHW
order: three passes over a buffer that is 9x the input (a 3x3 kernel). Here a thread
takes a sample, zero-pads it into its own scratch (so no read needs a bounds test),
and multiplies its columns by the weights with a register-blocked kernel that writes
NCHW directly; the columns stay in the core's cache, or are never formed at all.

    forward          out[s] (C_out, P) = W (C_out, K) @ cols[s] (K, P)
    weight gradient  dW^T (K, C_out)  += cols[s] (K, P) @ dY[s]^T (P, C_out), s in order

with K = C_in*kh*kw and P = out_h*out_w. The input gradient is the forward of dY with
the kernel flipped (tlcore/kernels/native.py sets that up at stride 1, dilation 1 and
padding below the kernel). The sums are the same, in another order: the results match
the reference to float32 rounding.

The products are csrc/tiles_avx512.h's register-tile GEMM. The forward's b, the
columns, is read one of three ways:
  - at stride 1 where the padded width wastes little: not packed at all; step r of b
    is the padded sample from tap r's offset, the output computed over the padded
    width and the extra columns dropped (``reads_padded``);
  - packed, a masked load per output row (stride 1, rows of 8 pixels or more);
  - packed, a gather per 16 pixels (any stride).

Threads: the forward gives each thread whole samples; the weight gradient gives each
thread whole tiles of dW^T and sums the samples into them in order. So no two threads
write one element, and the result is the same at any number of threads.

*/
#include <stdlib.h>
#include <string.h>

#include "conv_avx512.h"
#include "tiles_avx512.h"

int tl_conv_avx512_supported(void)
{
    return tl_avx512_supported();
}

#ifdef TL_AVX512

/* dst[j] = src[j] for j < n, a vector (masked at the end) at a time. */
__attribute__((target("avx512f")))
static void copy_floats(float *dst, const float *src, long n)
{
    for (long j = 0; j < n; j += 16) {
        __mmask16 m = lanes(0, n - j);
        _mm512_mask_storeu_ps(dst + j, m, _mm512_maskz_loadu_ps(m, src + j));
    }
}

/* The rows and columns of a zero-padded sample: (H + 2ph, W + 2pw). */
static long padded_height(const tl_conv_geometry *g) { return g->height + 2 * g->ph; }
static long padded_width(const tl_conv_geometry *g) { return g->width + 2 * g->pw; }
static long padded_size(const tl_conv_geometry *g)
{
    return g->channels * padded_height(g) * padded_width(g);
}

/* A sample zero-padded, with room for the reads of the last tile past its end. */
static long padded_room(const tl_conv_geometry *g)
{
    return padded_size(g) + (g->kw - 1) * g->dw + NR;
}

/* xp = the sample x (C, H, W) zero-padded by (ph, pw), and the room after it zero:
   what each column row reads, without a bounds test per element. */
static void pad_sample(const float *x, const tl_conv_geometry *g, float *xp)
{
    long hp = padded_height(g), wp = padded_width(g);
    memset(xp, 0, padded_room(g) * sizeof(float));
    for (long c = 0; c < g->channels; c++)
        for (long y = 0; y < g->height; y++)
            copy_floats(xp + (c * hp + y + g->ph) * wp + g->pw,
                        x + (c * g->height + y) * g->width, g->width);
}

/* taps[r] for column row r = (c*kh + p)*kw + q: where tap (c, p, q) of an output pixel
   lies in the padded sample, from that pixel's top-left corner; NULL if out of memory. */
static int *tap_offsets(const tl_conv_geometry *g)
{
    long depth = g->channels * g->kh * g->kw;
    int *taps = malloc((depth > 0 ? depth : 1) * sizeof(int));
    for (long r = 0; taps && r < depth; r++)
        taps[r] = (int)((r / (g->kh * g->kw) * padded_height(g) + r / g->kw % g->kh * g->dh)
                        * padded_width(g) + r % g->kw * g->dw);
    return taps;
}

/* corners[t] for output pixel t = i*out_w + j: its top-left corner in the padded sample,
   i*sh*Wp + j*sw; 0 for t up to the next multiple of 16. NULL if out of memory. */
static int *pixel_corners(const tl_conv_geometry *g)
{
    long pixels = g->out_h * g->out_w, rounded = (pixels + 15) / 16 * 16;
    int *corners = malloc((rounded > 0 ? rounded : 1) * sizeof(int));
    for (long t = 0; corners && t < rounded; t++)
        corners[t] = t < pixels ? (int)(t / g->out_w * g->sh * padded_width(g)
                                        + t % g->out_w * g->sw) : 0;
    return corners;
}

/* How to read 16 consecutive output pixels of a column row, from the tap's offset in
   the padded sample: one masked load per output row they touch (3 at most, where
   out_w >= 8 at column stride 1), lanes ``mask[k]`` from ``offset[k]`` on. */
typedef struct { int offset[3]; unsigned short mask[3]; } vector_reads;

/* The reads of each 16 pixels, or NULL where they take a gather (or out of memory). */
static vector_reads *pixel_reads(const tl_conv_geometry *g)
{
    long pixels = g->out_h * g->out_w, wp = padded_width(g);
    vector_reads *reads;
    if (g->sw != 1 || g->out_w < 8)
        return NULL;
    reads = calloc((pixels + 15) / 16 + 1, sizeof(vector_reads));
    for (long t0 = 0; reads && t0 < pixels; t0 += 16) {
        vector_reads *vr = reads + t0 / 16;
        int k = -1;
        long row = -1;
        for (long t = t0; t < pixels && t < t0 + 16; t++) {
            if (t / g->out_w != row) {  /* lane t - t0 reads xp[i*sh*Wp + j]: */
                row = t / g->out_w;     /* offset + (t - t0), with j = t - i*out_w */
                vr->offset[++k] = (int)(row * g->sh * wp + t0 - row * g->out_w);
            }
            vr->mask[k] |= (unsigned short)(1u << (t - t0));
        }
    }
    return reads;
}

/* Column row r of the padded sample xp into b's panels (NR pixels each, depth steps
   deep), 16 pixels at a time: by their masked loads where ``reads`` has them, else by
   one gather from their corners; 0 past P. */
__attribute__((target("avx512f")))
static void pack_column_row(const float *xp, int tap, const int *corners,
                            const vector_reads *reads, long pixels, long depth, long r,
                            float *panels_b)
{
    for (long t = 0; t < pixels; t += 16) {
        __m512 v = _mm512_setzero_ps();
        if (reads) {
            const vector_reads *vr = reads + t / 16;
            for (int k = 0; k < 3 && vr->mask[k]; k++)
                v = _mm512_mask_loadu_ps(v, vr->mask[k], xp + tap + vr->offset[k]);
        } else {
            v = _mm512_mask_i32gather_ps(v, lanes(0, pixels - t),
                                         _mm512_loadu_si512(corners + t), xp + tap, 4);
        }
        _mm512_storeu_ps(panels_b + t / NR * NR * depth + r * NR + t % NR, v);
    }
}

/* At stride 1, column row (c, p, q) of a sample is its padded planes read from the
   offset of tap (c, p, q), if the output is computed over the padded width: out_h rows
   of W + 2pw, the last 2pw - (kw-1)*dw of each row thrown away. No packing at all,
   when the extra columns cost less than packing (at most 15% more; conv2 of the bench:
   14 x 16 for 14 x 14). */
static long wide_pixels(const tl_conv_geometry *g) { return g->out_h * padded_width(g); }

static int reads_padded(const tl_conv_geometry *g)
{
    long wide = (wide_pixels(g) + 15) / 16, plain = (g->out_h * g->out_w + 15) / 16;
    return g->sh == 1 && g->sw == 1 && 100 * wide <= 115 * plain;
}

static long forward_per_thread(long c_out, const tl_conv_geometry *g)
{
    long depth = g->channels * g->kh * g->kw, pixels = g->out_h * g->out_w;
    if (reads_padded(g))
        return padded_room(g) + c_out * wide_pixels(g);
    return padded_room(g) + panels(pixels, NR) * NR * depth;
}

long tl_conv_forward_scratch(long c_out, const tl_conv_geometry *g, int threads)
{
    long depth = g->channels * g->kh * g->kw;
    return panels(c_out, MR) * MR * depth + threads * forward_per_thread(c_out, g);
}

int tl_conv_forward_f32(const float *x, long n, const float *weight, long c_out,
                        const tl_conv_geometry *g, float *out, float *scratch, int threads)
{
    long depth = g->channels * g->kh * g->kw, pixels = g->out_h * g->out_w;
    long sample = g->channels * g->height * g->width, wide = wide_pixels(g);
    long per_thread = forward_per_thread(c_out, g), s;
    int padded = reads_padded(g);
    float *w_panels = scratch, *own = scratch + panels(c_out, MR) * MR * depth;
    long *steps = malloc((depth > 0 ? depth : 1) * sizeof(long));
    int *taps = tap_offsets(g), *corners = pixel_corners(g);
    vector_reads *reads = pixel_reads(g);
    if (!steps || !taps || !corners) {
        free(steps); free(taps); free(corners); free(reads);
        return -1;
    }
    for (long r = 0; r < depth; r++)  /* read padded: step r from tap r's offset */
        steps[r] = taps[r];
    pack_a(weight, depth, c_out, depth, w_panels);
#pragma omp parallel for num_threads(threads) schedule(guided)
    for (s = 0; s < n; s++) {  /* own scratch: the padded sample, then c's rows or b */
        float *xp = own + TL_THREAD * per_thread, *rest = xp + padded_room(g);
        float *out_s = out + s * c_out * pixels;
        pad_sample(x + s * sample, g, xp);
        if (padded) {  /* c's rows over the padded width into rest, then the kept part */
            gemm(c_out, wide, depth, w_panels, xp, 1, steps, rest, wide, 0);
            for (long o = 0; o < c_out; o++)
                for (long i = 0; i < g->out_h; i++)
                    copy_floats(out_s + (o * g->out_h + i) * g->out_w,
                                rest + o * wide + i * padded_width(g), g->out_w);
        } else {  /* b's panels into rest */
            for (long r = 0; r < depth; r++)
                pack_column_row(xp, taps[r], corners, reads, pixels, depth, r, rest);
            gemm(c_out, pixels, depth, w_panels, rest, depth, NULL, out_s, pixels, 0);
        }
    }
    free(steps);
    free(taps);
    free(corners);
    free(reads);
    return 0;
}

long tl_conv_backward_weight_scratch(long c_out, const tl_conv_geometry *g, long chunk)
{
    long depth = g->channels * g->kh * g->kw, pixels = g->out_h * g->out_w;
    return chunk * ((panels(depth, MR) * MR + panels(c_out, NR) * NR) * pixels
                    + padded_room(g));  /* a's and b's panels, the padded samples */
}

/* One sample's steps of a's panels: column row r0 + i at output pixel t goes to
   a[r0*span + t*MR + i] (span: the steps of a panel), read from the padded sample by one
   gather of MR lanes per pixel (the taps' offsets from that pixel's corner in xp). */
__attribute__((target("avx512f")))
static void pack_column_panels(const float *xp, const tl_conv_geometry *g, const int *taps,
                               long depth, long span, float *a)
{
    long wp = padded_width(g);
    for (long r0 = 0; r0 < depth; r0 += MR) {
        __mmask16 m = lanes(0, depth - r0 < MR ? depth - r0 : MR);
        __m512i offsets = _mm512_maskz_loadu_epi32(m, taps + r0);
        float *panel = a + r0 * span;
        for (long i = 0, t = 0; i < g->out_h; i++)
            for (long j = 0; j < g->out_w; j++, t++) {
                const float *corner = xp + i * g->sh * wp + j * g->sw;
                __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, offsets, corner, 4);
                _mm512_mask_storeu_ps(panel + t * MR, lanes(0, MR), v);
            }
    }
}

/* One sample's steps of b's panels: b[o0*span + t*NR + j] = dy[o0 + j, t], 0 past
   C_out: two gathers of 16 channels per pixel. */
__attribute__((target("avx512f")))
static void pack_gradient_panels(const float *dy, long c_out, long pixels, long span,
                                 float *b)
{
    __m512i rows = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6,
                                                       5, 4, 3, 2, 1, 0),
                                      _mm512_set1_epi32((int)pixels));
    for (long o0 = 0; o0 < c_out; o0 += NR)
        for (int v = 0; v < 2; v++) {
            __mmask16 m = lanes(0, c_out - o0 - 16 * v);
            const float *base = dy + (o0 + 16 * v) * pixels;
            float *panel = b + o0 * span + 16 * v;
            for (long t = 0; t < pixels; t++)
                _mm512_storeu_ps(panel + t * NR, _mm512_mask_i32gather_ps(
                    _mm512_setzero_ps(), m, rows, base + t, 4));
        }
}

int tl_conv_backward_weight_f32(const float *x, const float *grad_out, long n,
                                long c_out, const tl_conv_geometry *g, float *grad_w_t,
                                float *scratch, long chunk, int threads)
{
    long depth = g->channels * g->kh * g->kw, pixels = g->out_h * g->out_w;
    long sample = g->channels * g->height * g->width, span = chunk * pixels;
    long a_size = panels(depth, MR) * MR * span, b_size = panels(c_out, NR) * NR * span;
    long row_tiles = panels(depth, MR), col_tiles = panels(c_out, NR);
    float *a = scratch, *b = a + a_size, *padded = b + b_size;
    int *taps = tap_offsets(g);
    if (!taps)
        return -1;
    memset(grad_w_t, 0, depth * c_out * sizeof(float));
#pragma omp parallel num_threads(threads)
    for (long s0 = 0; s0 < n; s0 += chunk) {
        long count = n - s0 < chunk ? n - s0 : chunk, s, t;
#pragma omp for schedule(guided)
        for (s = 0; s < count; s++) {  /* its steps s*P.. of a (columns) and b (dY^T) */
            float *xp = padded + s * padded_room(g);
            pad_sample(x + (s0 + s) * sample, g, xp);
            pack_column_panels(xp, g, taps, depth, span, a + s * pixels * MR);
            pack_gradient_panels(grad_out + (s0 + s) * c_out * pixels, c_out, pixels, span,
                                 b + s * pixels * NR);
        }
#pragma omp for schedule(guided)
        for (t = 0; t < row_tiles * col_tiles; t++) {  /* the chunk's samples in order */
            long i0 = t / col_tiles * MR, j0 = t % col_tiles * NR;
            gemm(depth - i0 < MR ? depth - i0 : MR, c_out - j0 < NR ? c_out - j0 : NR,
                 count * pixels, a + i0 * span, b + j0 * span, 0, NULL,
                 grad_w_t + i0 * c_out + j0, c_out, 1);
        }
    }
    free(taps);
    return 0;
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

int tl_conv_forward_f32(const float *x, long n, const float *weight, long c_out,
                        const tl_conv_geometry *g, float *out, float *scratch, int threads)
{
    (void)x; (void)n; (void)weight; (void)c_out; (void)g; (void)out; (void)scratch;
    (void)threads;
    return -1;
}

int tl_conv_backward_weight_f32(const float *x, const float *grad_out, long n,
                                long c_out, const tl_conv_geometry *g, float *grad_w_t,
                                float *scratch, long chunk, int threads)
{
    (void)x; (void)grad_out; (void)n; (void)c_out; (void)g; (void)grad_w_t; (void)scratch;
    (void)chunk; (void)threads;
    return -1;
}

#endif
