/* Float32 convolution for tlcore._native: the forward and the weight gradient as
register-tile products read straight from a zero-padded sample, with no column matrix
in memory. Written in csrc/simd.h's width-generic operations and built once per route
(csrc/route_*.c: AVX-512F, AVX2+FMA, the base route), which includes this file.

The im2col route (tlcore/kernels/backends/native.py) writes every sample's columns to memory,
hands them to numpy's BLAS, which packs them again, and moves the result into NCHW
order: three passes over a buffer that is 9x the input (a 3x3 kernel). Here a thread
zero-pads one sample into its own scratch, so no read needs a bounds test, and the tile
of csrc/tiles.h broadcasts each step's values from there:

    forward          out[s][o, p] = sum_r W[o, r] x_pad[s][tap_r + corner_p]
                     a tile: up to TILE_ROWS pixels of an output row x NR output
                     channels (on AVX-512 14 x 32, on AVX2 6 x 16);
                     step r broadcasts the pixels' inputs under tap r (consecutive at
                     column stride 1), times W^T's row r, packed once for every sample
    weight gradient  dW[o, c, tap] = sum_s sum_p dY[s][o, p] x_hwc[s][corner_p + tap, c]
                     a tile: MR or TILE_ROWS input channels under one tap x NR
                     output channels; step (s, p) broadcasts the channels of one pixel
                     (consecutive in the sample padded channels-last, "HWC"), times
                     dY[s]^T's row p

with r = (c, p, q) a row of the columns (K = C_in*kh*kw of them) and tap_r its offset
in the padded sample. The input gradient is the forward of dY with the kernel flipped
(tlcore/kernels/backends/native.py sets that up at stride 1, dilation 1 and padding below the
kernel). The sums are the same, in another order: the results match the reference to
float32 rounding.

The forward's tile holds pixels in its rows and channels in its vector lanes: a sample's
output is summed pixel-major in the thread's scratch, SLICE steps of W^T at a time, then
transposed into NCHW (P*C_out floats, against the P*K that packing the columns would
write). It needs column stride 1, so that a tile's pixels are consecutive.

Threads (tlcore's own team, csrc/team.h), every task claimed: the forward's tasks are
whole samples; the weight gradient's, per chunk of samples, whole tiles of dW, each
summing the chunk's samples in order, chunk after chunk. So no two threads write one
element at once, and the result is the same at any number of threads.

*/
#include <stdlib.h>
#include <string.h>

#include "routes.h"
#include "team.h"
#include "tiles.h"

/* The rows and columns of a zero-padded sample: (H + 2ph, W + 2pw). */
static long padded_height(const tl_conv_geometry *g) { return g->height + 2 * g->ph; }
static long padded_width(const tl_conv_geometry *g) { return g->width + 2 * g->pw; }

/* A padded sample's floats, with room after it for a tile's rows past its block (a
   tile reads fewer than TILE_ROWS floats past the last one it keeps: csrc/tiles.h). */
static long padded_room(const tl_conv_geometry *g)
{
    return g->channels * padded_height(g) * padded_width(g) + TILE_ROWS;
}

/* The sample x padded by (ph, pw), (C, Hp, Wp) or, channels last, (Hp, Wp, C): its
   inside only (see pad_planes). */
static void pad_sample(const float *x, const tl_conv_geometry *g, float *xp)
{
    pad_planes(x, g->channels, g->height, g->width, g->ph, g->pw, padded_height(g),
               padded_width(g), xp);
}

static void pad_sample_channels_last(const float *x, const tl_conv_geometry *g, float *xh)
{
    pad_channels_last(x, g->channels, g->height, g->width, g->ph, g->pw, padded_width(g),
                      xh);
}

/* taps[r] for column row r = (c*kh + p)*kw + q: where tap (c, p, q) of an output pixel
   lies in the padded sample (C, Hp, Wp), from that pixel's top-left corner; NULL if out
   of memory. */
static int *tap_offsets(const tl_conv_geometry *g)
{
    long depth = g->channels * g->kh * g->kw;
    int *taps = malloc((depth > 0 ? depth : 1) * sizeof(int));
    for (long r = 0; taps && r < depth; r++)
        taps[r] = (int)((r / (g->kh * g->kw) * padded_height(g) + r / g->kw % g->kh * g->dh)
                        * padded_width(g) + r % g->kw * g->dw);
    return taps;
}

/* The forward's steps per pass over a sample's tiles: a SLICE x NR slice of W^T's panel
   (16 KB at NR = 32) stays in L1 while every tile of the sample uses it. Measured on the bench's
   conv2 and conv3: 3 to 12% faster than whole panels (at 128 to 160 steps; 64 and 256
   gain less). */
#define SLICE 128

/* Per thread: the padded sample, then its output pixel-major, (P, c_out rounded to NR). */
static long forward_per_thread(long c_out, const tl_conv_geometry *g)
{
    return padded_room(g) + g->out_h * g->out_w * panels(c_out, NR) * NR;
}

static long direct_forward_scratch(long c_out, const tl_conv_geometry *g, int threads)
{
    long depth = g->channels * g->kh * g->kw;
    return panels(c_out, NR) * NR * depth + threads * forward_per_thread(c_out, g);
}

/* columns[r] for column row r = (c, p, q) of a kernel given transposed (channels, c_out,
   kh, kw) and read flipped: where W'[o, r] = weight[c, o, kh-1-p, kw-1-q] lies, less o's
   offset o*kh*kw. NULL if out of memory. */
static int *flipped_columns(long c_out, const tl_conv_geometry *g)
{
    long taps = g->kh * g->kw, depth = g->channels * taps;
    int *columns = malloc((depth > 0 ? depth : 1) * sizeof(int));
    for (long r = 0; columns && r < depth; r++)
        columns[r] = (int)(r / taps * c_out * taps + taps - 1 - r % taps);
    return columns;
}

/* A forward's arguments, shared by its team (csrc/team.h). */
struct direct_forward_job {
    const float *x, *weight;
    long n, c_out;
    int transposed;
    const tl_conv_geometry *g;
    float *out, *scratch;
    const int *taps, *columns;
    long next_panel, packed;  /* W^T's panels: the next chunk to pack, and those packed */
    long next;  /* the next sample, shared out one at a time */
};

static void direct_forward_team(void *arg, const tl_member *me)
{
    struct direct_forward_job *job = arg;
    const tl_conv_geometry *g = job->g;
    long c_out = job->c_out, depth = g->channels * g->kh * g->kw, pixels = g->out_h * g->out_w;
    long sample = g->channels * g->height * g->width, wp = padded_width(g);
    long wide = panels(c_out, NR) * NR, pieces = panels(g->out_w, TILE_ROWS);
    float *w_panels = job->scratch;
    float *xp = job->scratch + wide * depth + me->thread * forward_per_thread(c_out, g);
    float *block = xp + padded_room(g);
    /* W^T, packed: step r is W's column r */
    long count = wide / NR, chunk = tl_chunk(count, wide * depth);
    for (long first, last; tl_claim_chunk(&job->next_panel, count, chunk, &first, &last);) {
        for (long p = first; p < last; p++)
            pack_b_panel(job->weight, job->transposed ? g->kh * g->kw : depth, job->columns,
                         c_out, depth, p, w_panels);
        tl_done(&job->packed, last - first);
    }
    memset(xp, 0, padded_room(g) * sizeof(float));
    tl_wait_done(&job->packed, count);
    for (long s; (s = tl_claim(&job->next)) < job->n;) {
        pad_sample(job->x + s * sample, g, xp);
        for (long r0 = 0; r0 < depth; r0 += SLICE)
            for (long o0 = 0; o0 < c_out; o0 += NR)
                for (long i = 0; i < g->out_h; i++)
                    for (long k = 0; k < pieces; k++) {  /* pixels j0..j1-1 of row i */
                        long j0 = k * g->out_w / pieces, j1 = (k + 1) * g->out_w / pieces;
                        tile(depth - r0 < SLICE ? depth - r0 : SLICE, xp + i * g->sh * wp + j0,
                             job->taps + r0, w_panels + o0 * depth + r0 * NR, j1 - j0, NR,
                             block + (i * g->out_w + j0) * wide + o0, wide, r0 > 0);
                    }
        transpose_floats(block, wide, c_out, pixels, job->out + s * c_out * pixels,
                         pixels);  /* into NCHW */
    }
}

static int direct_forward(const float *x, long n, const float *weight, long c_out,
                          int transposed, const tl_conv_geometry *g, float *out,
                          float *scratch, int threads)
{
    int *taps = tap_offsets(g), *columns = transposed ? flipped_columns(c_out, g) : NULL;
    if (!taps || (transposed && !columns)) {
        free(taps); free(columns);
        return -1;
    }
    struct direct_forward_job job = {x, weight, n, c_out, transposed, g, out, scratch, taps,
                                     columns, 0, 0, 0};
    tl_team_run(threads, direct_forward_team, &job);
    free(taps);
    free(columns);
    return 0;
}

static long direct_backward_weight_scratch(long c_out, const tl_conv_geometry *g,
                                           long chunk)
{
    long pixels = g->out_h * g->out_w, depth = g->channels * g->kh * g->kw;
    return depth * c_out + chunk * (panels(c_out, NR) * NR * pixels + padded_room(g));
}

/* One sample's steps of b's panels: b[o0*span + t*NR + j] = dy[o0 + j, t], 0 past
   C_out: NV gathers of LANES channels per pixel. */
static void pack_gradient_panels(const float *dy, long c_out, long pixels, long span,
                                 float *b)
{
    vi rows = v_offsets(pixels);
    for (long o0 = 0; o0 < c_out; o0 += NR)
        for (int v = 0; v < NV; v++) {
            long first = o0 + LANES * v;
            const float *base = dy + (first < c_out ? first * pixels : 0);
            float *panel = b + o0 * span + LANES * v;
            for (long t = 0; t < pixels; t++)
                v_store(panel + t * NR, v_gather(base + t, rows, c_out - first));
        }
}

/* steps[s*P + t] for sample s < chunk of a chunk's channels-last samples and output pixel
   t = i*out_w + j: where that pixel's top-left corner lies, s*room + (i*sh*Wp + j*sw)*C;
   NULL if out of memory. */
static int *sample_pixel_steps(const tl_conv_geometry *g, long chunk)
{
    long pixels = g->out_h * g->out_w, wp = padded_width(g);
    int *steps = malloc((chunk * pixels > 0 ? chunk * pixels : 1) * sizeof(int));
    for (long s = 0; steps && s < chunk; s++)
        for (long t = 0; t < pixels; t++)
            steps[s * pixels + t] = (int)(s * padded_room(g) + (t / g->out_w * g->sh * wp
                                          + t % g->out_w * g->sw) * g->channels);
    return steps;
}

/* grad_w[o, r] = sums[r % taps, r / taps, o] for LANES output channels o.. and every column
   row r = c*taps + tap: one load of the LANES channels from a row of sums, one scatter into
   their rows of grad_w. In that order each line of sums is read once, and the writes
   advance along LANES rows of grad_w. */
static void move_output_channels(const float *sums, long c_out, long depth, long taps,
                                 long o, float *grad_w)
{
    long c_in = depth / taps;
    vi rows = v_offsets(depth);
    for (long r = 0; r < depth; r++)
        v_scatter(grad_w + o * depth + r, rows,
                  v_load_part(sums + (r % taps * c_in + r / taps) * c_out + o, c_out - o),
                  c_out - o);
}

/* A weight gradient's arguments, shared by its team. */
struct direct_backward_weight_job {
    const float *x, *grad_out;
    long n, c_out, chunk;
    const tl_conv_geometry *g;
    float *grad_w, *scratch;
    const int *steps;
    long *loops;  /* per chunk of samples: samples claimed and packed, tiles claimed and summed */
    long next_move;  /* the next LANES output channels moved into grad_w */
};

static void direct_backward_weight_team(void *arg, const tl_member *me)
{
    struct direct_backward_weight_job *job = arg;
    const tl_conv_geometry *g = job->g;
    long n = job->n, c_out = job->c_out, chunk = job->chunk;
    long c_in = g->channels, taps = g->kh * g->kw, pixels = g->out_h * g->out_w;
    long sample = c_in * g->height * g->width, span = chunk * pixels;
    long block = channel_block(c_in), row_tiles = panels(c_in, block);
    long col_tiles = panels(c_out, NR), tiles = taps * row_tiles * col_tiles;
    float *sums = job->scratch, *b = sums + taps * c_in * c_out, *xh = b + col_tiles * NR * span;
    (void)me;  /* every loop is claimed, and waited for with tl_wait_done (csrc/team.h) */
    for (long s0 = 0, *loop = job->loops; s0 < n; s0 += chunk, loop += 4) {
        long count = n - s0 < chunk ? n - s0 : chunk;
        for (long s; (s = tl_claim(&loop[0])) < count;) {  /* steps s*P.. of b and of a */
            pad_sample_channels_last(job->x + (s0 + s) * sample, g, xh + s * padded_room(g));
            pack_gradient_panels(job->grad_out + (s0 + s) * c_out * pixels, c_out, pixels, span,
                                 b + s * pixels * NR);
            tl_done(&loop[1], 1);
        }
        tl_wait_done(&loop[1], count);
        for (long t; (t = tl_claim(&loop[2])) < tiles;) {  /* a tap, input channels, NR outputs */
            long tap = t / (row_tiles * col_tiles), c0 = t / col_tiles % row_tiles * block;
            long o0 = t % col_tiles * NR;
            long shift = (tap / g->kw * g->dh * padded_width(g) + tap % g->kw * g->dw) * c_in;
            tile(count * pixels, xh + shift + c0, job->steps, b + o0 * span,
                 c_in - c0 < block ? c_in - c0 : block, c_out - o0 < NR ? c_out - o0 : NR,
                 sums + (tap * c_in + c0) * c_out + o0, c_out, 1);
            tl_done(&loop[3], 1);
        }
        tl_wait_done(&loop[3], tiles);  /* the next chunk's packing overwrites xh and b */
    }
    for (long o; (o = tl_claim(&job->next_move) * LANES) < c_out;)
        move_output_channels(sums, c_out, c_in * taps, taps, o, job->grad_w);  /* [o, c, tap] */
}

static int direct_backward_weight(const float *x, const float *grad_out, long n,
                                  long c_out, const tl_conv_geometry *g, float *grad_w,
                                  float *scratch, long chunk, int threads)
{
    long c_in = g->channels, taps = g->kh * g->kw, pixels = g->out_h * g->out_w;
    long span = chunk * pixels;
    float *sums = scratch, *xh = sums + taps * c_in * c_out + panels(c_out, NR) * NR * span;
    int *steps = sample_pixel_steps(g, chunk);
    long *loops = calloc(4 * panels(n, chunk) + 1, sizeof(long));
    if (!steps || !loops) {
        free(steps); free(loops);
        return -1;
    }
    memset(sums, 0, taps * c_in * c_out * sizeof(float));  /* (kh, kw, C, C_out) */
    memset(xh, 0, (n < chunk ? n : chunk) * padded_room(g) * sizeof(float));
    struct direct_backward_weight_job job = {x, grad_out, n, c_out, chunk, g, grad_w, scratch,
                                             steps, loops, 0};
    tl_team_run(threads, direct_backward_weight_team, &job);
    free(steps);
    free(loops);
    return 0;
}

/* The route's entry points (csrc/routes.h): Winograd's kernels (csrc/winograd.c) where
   asked, else the direct tiles above. */

static long conv_forward_scratch(long c_out, const tl_conv_geometry *g, int winograd,
                                 int threads)
{
    return winograd ? winograd_forward_scratch(c_out, g, threads)
                    : direct_forward_scratch(c_out, g, threads);
}

static int conv_forward_f32(const float *x, long n, const float *weight, long c_out,
                            int transposed, int winograd, const tl_conv_geometry *g,
                            float *out, float *scratch, int threads)
{
    return (winograd ? winograd_forward : direct_forward)(
        x, n, weight, c_out, transposed, g, out, scratch, threads);
}

static long conv_backward_weight_scratch(long c_out, const tl_conv_geometry *g,
                                         int winograd, long chunk)
{
    return winograd ? winograd_backward_weight_scratch(c_out, g, chunk)
                    : direct_backward_weight_scratch(c_out, g, chunk);
}

static int conv_backward_weight_f32(const float *x, const float *grad_out, long n,
                                    long c_out, int winograd, const tl_conv_geometry *g,
                                    float *grad_w, float *scratch, long chunk, int threads)
{
    return (winograd ? winograd_backward_weight : direct_backward_weight)(
        x, grad_out, n, c_out, g, grad_w, scratch, chunk, threads);
}
