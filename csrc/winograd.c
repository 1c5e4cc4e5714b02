/* Float32 3x3 convolution at stride 1 by Winograd's minimal filtering F(2x2, 3x3), for
tlcore._native, in csrc/simd.h's width-generic operations (built per route by
csrc/route_*.c, as csrc/conv.c, whose entry points call these) (Lavin and Gray, "Fast algorithms for convolutional neural
networks", CVPR 2016).

Two outputs of a 3-tap correlation, y_i = sum_j d_{i+j} g_j, need 4 inputs d and take 4
products instead of 6:

    y = A^T [(G g) * (B^T d)]        (* elementwise)

        B^T = | 1  0 -1  0 |    G = | 1    0    0  |    A^T = | 1  1  1  0 |
              | 0  1  1  0 |        | 1/2  1/2  1/2 |          | 0  1 -1 -1 |
              | 0 -1  1  0 |        | 1/2 -1/2  1/2 |
              | 0  1  0 -1 |        | 0    0    1  |

In two dimensions a "tile", 2x2 output pixels, reads a 4x4 patch d of each input channel,
and Y = A^T [(G w G^T) * (B^T d B)] A: 16 products per tile and channel pair where the
direct sum takes 36, 2.25x fewer. Summed over the input channels, the 16 elementwise
products are 16 independent GEMMs, one per position xi of the transformed 4x4 patch:

    U_xi[c, o]   = (G w[o, c] G^T)_xi     the kernel, transformed once per call
    V_xi[t, c]   = (B^T d[c, t] B)_xi     a sample's patches, transformed
    M[t, xi, o]  = sum_c V_xi[t, c] U_xi[c, o]
    Y[t, o]      = A^T M[t, :, o] A       back to the tile's 2x2 pixels

The GEMMs run on csrc/tiles.h's register tile (in the forward, rows: tiles,
columns: output channels); the transforms are additions, LANES tiles or channels at a time
in a vector. The sums are rounded otherwise than the direct ones' (the transforms add and
subtract before the products), to float32 rounding of the terms' sizes; and an infinite
input gives NaN where the direct sum gives an infinity (inf - inf in a transform).

The weight gradient is a correlation too, of each 4x4 input patch with the tile's 2x2
output gradient dy, giving the kernel's 3x3 taps: F(3x3, 2x2), whose transforms are
those above transposed (the same four points 0, 1, -1 and infinity):

    dW[o, c] = G^T [ sum_s sum_t (A dy[s, o, t] A^T) * (B^T d[s, c, t] B) ] G

again 16 GEMMs (rows: input channels, columns: output channels), each summing over
every tile of every sample:

    Z_xi[t, o] = (A dy[o, t] A^T)_xi,   S_xi[c, o] = sum_(s, t) V_xi[t, c] Z_xi[t, o]

Threads (csrc/team.h), every task claimed: the forward shares the kernel's transform
between them; then each takes whole samples. The weight gradient pads a chunk of samples
channels-last and turns their output gradients pixel-major, a sample a task (so that the
transforms read rows of channels, without gathers), then:
- on a team of up to POSITION_THREADS threads, a task is a group of 16 / threads
  positions: its thread transforms every sample of the chunk, keeps only those
  positions' V and Z, and sums the chunk's steps into their S itself, so that its
  transformed data stay in its own core's cache (measured on 2 threads at conv2 and
  conv3 of the bench: 10 to 15% faster than the other way);
- on more threads, where each one transforming every sample would cost more than it
  saves, the samples' tasks transform every position, then the GEMM tiles of S are
  tasks.
Either way each tile of S sums the chunk's steps in one call, chunk after chunk, and no
two threads write one element at once: the same bits at any number of threads.
*/
#include <stdlib.h>
#include <string.h>

#include "routes.h"
#include "team.h"
#include "tiles.h"

#define POSITIONS 16  /* xi: the transformed patch is 4x4 */

/* The three transforms along one axis, on vectors: t = B^T d, u = G g, y = A^T m. */
__attribute__((always_inline))
static inline void input_1d(const vf d[4], vf t[4])
{
    t[0] = (d[0] - d[2]);
    t[1] = (d[1] + d[2]);
    t[2] = (d[2] - d[1]);
    t[3] = (d[1] - d[3]);
}

__attribute__((always_inline))
static inline void kernel_1d(const vf g[3], vf u[4])
{
    const vf half = v_set1(0.5f);
    vf outer = (g[0] + g[2]);
    u[0] = g[0];
    u[1] = (outer + g[1]) * half;
    u[2] = (outer - g[1]) * half;
    u[3] = g[2];
}

__attribute__((always_inline))
static inline void output_1d(const vf m[4], vf y[2])
{
    y[0] = ((m[0] + m[1]) + m[2]);
    y[1] = ((m[1] - m[2]) - m[3]);
}

/* ... and the weight gradient's: z = A y (2 gradient pixels to 4), w = G^T m (4 to 3
   kernel taps). */
__attribute__((always_inline))
static inline void gradient_1d(const vf y[2], vf z[4])
{
    z[0] = y[0];
    z[1] = (y[0] + y[1]);
    z[2] = (y[0] - y[1]);
    z[3] = (v_zero() - y[1]);
}

__attribute__((always_inline))
static inline void kernel_back_1d(const vf m[4], vf w[3])
{
    const vf half = v_set1(0.5f);
    vf inner = (m[1] + m[2]) * half;
    w[0] = (m[0] + inner);
    w[1] = (m[1] - m[2]) * half;
    w[2] = (inner + m[3]);
}

/* The tiles of a sample's output, rows x columns of 2x2 pixels (the last ones may hang
   over the edge), and the padded sample they read: (2*rows + 2, 2*columns + 2) per
   channel, zeros past the padding too. */
static long tile_rows(const tl_conv_geometry *g) { return (g->out_h + 1) / 2; }
static long tile_columns(const tl_conv_geometry *g) { return (g->out_w + 1) / 2; }
static long plane_height(const tl_conv_geometry *g) { return 2 * tile_rows(g) + 2; }
static long plane_width(const tl_conv_geometry *g) { return 2 * tile_columns(g) + 2; }
static long plane(const tl_conv_geometry *g) { return plane_height(g) * plane_width(g); }

/* The leading dimension of V_xi's rows of tiles: the tile reads up to 3 floats past the
   last tile it keeps (fewer than TILE_ROWS: csrc/tiles.h), so TILE_ROWS more, rounded
   to a vector. */
static long tile_stride(const tl_conv_geometry *g)
{
    return panels(tile_rows(g) * tile_columns(g) + TILE_ROWS, LANES) * LANES;
}

/* Floats between the 16 positions' blocks of V and Z: a block's length and a vector
   more, so that the 16 blocks' rows, at multiples of 4 KB apart otherwise, do not all
   fall in one set of the L1 cache (measured: the weight gradient's transforms took a
   third of its time without this). */
#define SKEW 16

/* The most threads among which the weight gradient splits its 16 positions (see the top
   of this file): measured on 2; with more, each thread's transforming of every sample
   costs more than its cache saves. */
#define POSITION_THREADS 2

/* The floats from one position's block of V to the next in the forward: (C, tile_stride)
   each, and SKEW. */
static long forward_v_stride(const tl_conv_geometry *g)
{
    return g->channels * tile_stride(g) + SKEW;
}

/* Per thread: the padded sample, V (16 positions, C, tile_stride), M (tiles, 16, wide)
   and the output pixel-major (P, wide). */
static long per_thread(long c_out, const tl_conv_geometry *g)
{
    long wide = panels(c_out, NR) * NR, tiles = tile_rows(g) * tile_columns(g);
    return g->channels * plane(g) + POSITIONS * forward_v_stride(g)
           + tiles * POSITIONS * wide + g->out_h * g->out_w * wide;
}

static long winograd_forward_scratch(long c_out, const tl_conv_geometry *g, int threads)
{
    return POSITIONS * g->channels * panels(c_out, NR) * NR + threads * per_thread(c_out, g);
}

/* U_xi for input channel c and output channels o0..o0+LANES-1, into the b panels of the
   tile:
   u[(xi*wide/NR + o/NR)*C*NR + c*NR + o%NR], 0 past c_out. The kernel w[o, c] is
   weight[o, c] (C_out, C, 3, 3), or, transposed, weight[c, o] flipped (C, C_out, 3, 3)
   read backwards: one gather of LANES output channels per tap. */
static void transform_kernel(const float *weight, long c_out, long c_in, int transposed,
                             long c, long o0, float *u)
{
    long wide = panels(c_out, NR) * NR;
    long m = c_out - o0;
    vi along = v_offsets(transposed ? 9 : c_in * 9);
    const float *first = weight + (m <= 0 ? 0 : transposed ? (c * c_out + o0) * 9
                                                       : (o0 * c_in + c) * 9);
    vf w[3][3], rows[3][4], column[3], t[4];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            w[i][j] = v_gather(first + (transposed ? 8 - 3 * i - j : 3 * i + j), along, m);
    for (int i = 0; i < 3; i++)  /* w G^T: along each row */
        kernel_1d(w[i], rows[i]);
    for (int k = 0; k < 4; k++) {  /* G (w G^T): along each column */
        for (int i = 0; i < 3; i++)
            column[i] = rows[i][k];
        kernel_1d(column, t);
        for (int q = 0; q < 4; q++)
            v_store(u + ((q * 4 + k) * (wide / NR) + o0 / NR) * c_in * NR + c * NR + o0 % NR,
                    t[q]);
    }
}

/* V_xi[t, c] = (B^T d B)_xi for tiles t0 <= t < min(t0 + LANES, tiles) of the padded sample
   xp (C planes), tile t's patch at corner[t]: v[xi*position + c*ld + t]. A patch row's
   4 floats are loaded whole for each tile and turned into 4 vectors (v_load_quads).
   They were gathered, in pairs, before; measured at conv2 of bench/kernels.py on one
   thread, medians, the forward took 3.48 to 3.69 ms against 3.82 to 3.91 on AVX2 and
   3.73 to 3.82 against 3.79 to 3.98 on AVX-512, the input gradient (64 channels to
   transform) 3.48 to 3.51 against 4.05 to 4.07, and 3.08 to 3.19 against 3.64 to 3.65. */
static void transform_patches(const float *xp, const tl_conv_geometry *g, const int *corner,
                              long t0, long tiles, long ld, long position, float *v)
{
    long c_in = g->channels, wb = plane_width(g), area = plane(g);
    long m = tiles - t0;
    for (long c = 0; c < c_in; c++) {
        const float *base = xp + c * area;
        vf d[4][4], e[4][4], column[4], t[4];
        for (int r = 0; r < 4; r++)  /* the 4 columns of patch row r */
            v_load_quads(base + r * wb, corner + t0, m, d[r]);
        for (int s = 0; s < 4; s++) {  /* B^T d: along each column s of the patches */
            for (int r = 0; r < 4; r++)
                column[r] = d[r][s];
            input_1d(column, t);
            for (int q = 0; q < 4; q++)
                e[q][s] = t[q];
        }
        for (int q = 0; q < 4; q++) {  /* (B^T d) B: along each row */
            input_1d(e[q], t);
            for (int k = 0; k < 4; k++)  /* whole vectors: a row of V has room past its
                                            last tile (tile_stride) that no kept result
                                            reads */
                v_store(v + (q * 4 + k) * position + c * ld + t0, t[k]);
        }
    }
}

/* The output pixels of every tile, pixel-major: block[pixel, o] = (A^T M[t, :, o] A) at
   the tile's 2x2 pixels inside the output, M (tiles, 16, wide). */
static void transform_back(const float *mt, long c_out, const tl_conv_geometry *g,
                           float *block)
{
    long wide = panels(c_out, NR) * NR, columns = tile_columns(g);
    long tiles = tile_rows(g) * columns;
    for (long t = 0; t < tiles; t++)
        for (long o = 0; o < c_out; o += LANES) {
            const float *at = mt + t * POSITIONS * wide + o;  /* M[t, :, o..] */
            long inside = c_out - o;  /* the tile left M's other lanes unset */
            vf column[4], y[2], u[2][4], out[2];
            for (int k = 0; k < 4; k++) {  /* A^T M: along each column k */
                for (int q = 0; q < 4; q++)
                    column[q] = v_load_part(at + (q * 4 + k) * wide, inside);
                output_1d(column, y);
                u[0][k] = y[0];
                u[1][k] = y[1];
            }
            for (int a = 0; a < 2; a++) {  /* (A^T M) A: along each row */
                long i = 2 * (t / columns) + a;
                output_1d(u[a], out);
                for (int b = 0; b < 2; b++) {
                    long j = 2 * (t % columns) + b;
                    if (i < g->out_h && j < g->out_w)
                        v_store(block + (i * g->out_w + j) * wide + o, out[b]);
                }
            }
        }
}

/* A forward's arguments, shared by its team (csrc/team.h). */
struct winograd_forward_job {
    const float *x, *weight;
    long n, c_out;
    int transposed;
    const tl_conv_geometry *g;
    float *out, *scratch;
    const int *corner, *steps;
    long next_kernel, transformed;  /* U's pieces: the next chunk to make, and those made */
    long next;  /* the next sample, shared out one at a time */
};

static void winograd_forward_team(void *arg, const tl_member *me)
{
    struct winograd_forward_job *job = arg;
    const tl_conv_geometry *g = job->g;
    long c_in = g->channels, c_out = job->c_out, sample = c_in * g->height * g->width;
    long pixels = g->out_h * g->out_w, wide = panels(c_out, NR) * NR, wb = plane_width(g);
    long tiles = tile_rows(g) * tile_columns(g), ld = tile_stride(g);
    long vectors = wide / LANES, pieces = panels(tiles, TILE_ROWS);
    float *u = job->scratch;
    float *xp = u + POSITIONS * c_in * wide + me->thread * per_thread(c_out, g);
    float *v = xp + c_in * plane(g), *mt = v + POSITIONS * forward_v_stride(g);
    float *block = mt + tiles * POSITIONS * wide;
    long count = c_in * vectors, chunk = tl_chunk(count, POSITIONS * c_in * wide);
    for (long first, last; tl_claim_chunk(&job->next_kernel, count, chunk, &first, &last);) {
        for (long k = first; k < last; k++)
            transform_kernel(job->weight, c_out, c_in, job->transposed, k / vectors,
                             k % vectors * LANES, u);
        tl_done(&job->transformed, last - first);
    }
    memset(xp, 0, (c_in * plane(g) + POSITIONS * forward_v_stride(g)) * sizeof(float));
    tl_wait_done(&job->transformed, count);
    for (long s; (s = tl_claim(&job->next)) < job->n;) {
        pad_planes(job->x + s * sample, c_in, g->height, g->width, g->ph, g->pw,
                   plane_height(g), wb, xp);
        for (long t0 = 0; t0 < tiles; t0 += LANES)
            transform_patches(xp, g, job->corner, t0, tiles, ld, forward_v_stride(g), v);
        for (long xi = 0; xi < POSITIONS; xi++)
            for (long o0 = 0; o0 < c_out; o0 += NR)
                for (long p = 0; p < pieces; p++) {  /* tiles t0..t1-1, as even as can be */
                    long t0 = p * tiles / pieces, t1 = (p + 1) * tiles / pieces;
                    tile(c_in, v + xi * forward_v_stride(g) + t0, job->steps,
                         u + (xi * (wide / NR) + o0 / NR) * c_in * NR, t1 - t0,
                         c_out - o0 < NR ? c_out - o0 : NR,
                         mt + (t0 * POSITIONS + xi) * wide + o0, POSITIONS * wide, 0);
                }
        transform_back(mt, c_out, g, block);
        transpose_floats(block, wide, c_out, pixels, job->out + s * c_out * pixels, pixels);
    }
}

static int winograd_forward(const float *x, long n, const float *weight, long c_out,
                            int transposed, const tl_conv_geometry *g, float *out,
                            float *scratch, int threads)
{
    long c_in = g->channels, columns = tile_columns(g), wb = plane_width(g);
    long tiles = tile_rows(g) * columns, ld = tile_stride(g);
    int *corner = malloc(tiles * sizeof(int)), *steps = malloc(c_in * sizeof(int));
    if (!corner || !steps) {
        free(corner); free(steps);
        return -1;
    }
    for (long t = 0; t < tiles; t++)
        corner[t] = (int)(2 * (t / columns) * wb + 2 * (t % columns));
    for (long c = 0; c < c_in; c++)
        steps[c] = (int)(c * ld);
    struct winograd_forward_job job = {x, weight, n, c_out, transposed, g, out, scratch,
                                       corner, steps, 0, 0, 0};
    tl_team_run(threads, winograd_forward_team, &job);
    free(corner);
    free(steps);
    return 0;
}

/* The weight gradient's chunk: per sample, the sample padded channels-last (Hb, Wb, C),
   its output gradient pixel-major (P, C_out), and its steps of V (16 positions, span, C)
   and Z (16 positions, wide/NR panels, span, NR), span = chunk * tiles steps. The floats
   from one position's block of V to the next, and from one panel of Z to the next: */
static long channels_last_room(const tl_conv_geometry *g) { return plane(g) * g->channels; }
static long backward_v_stride(long span, long c_in) { return span * c_in + SKEW; }
static long backward_z_stride(long span) { return span * NR + SKEW; }

static long winograd_backward_weight_scratch(long c_out, const tl_conv_geometry *g,
                                             long chunk)
{
    long span = chunk * tile_rows(g) * tile_columns(g), c_in = g->channels;
    return POSITIONS * (c_in * c_out + backward_v_stride(span, c_in)
                        + panels(c_out, NR) * backward_z_stride(span))
           + chunk * (channels_last_room(g) + g->out_h * g->out_w * c_out);
}

/* Steps l*tiles.. of V and Z for sample l of the chunk, positions xi0 <= xi < xi1 only:
   V_xi[step, c] = (B^T d B)_xi from the channels-last padded sample xh, LANES channels a
   vector; Z_xi[step, o] = (A dy A^T)_xi from the sample's output gradient pixel-major,
   dyt (P, c_out), LANES output channels a vector, 0 past the output's edge. Both read
   rows of channels: no gathers (which held this function's time on AVX2). */
static void transform_sample(const float *xh, const float *dyt, long c_out,
                             const tl_conv_geometry *g, long l, long span, long xi0, long xi1,
                             float *v, float *z)
{
    long c_in = g->channels, columns = tile_columns(g), wb = plane_width(g);
    long tiles = tile_rows(g) * columns, wide = panels(c_out, NR) * NR;
    for (long t = 0; t < tiles; t++) {
        long i0 = 2 * (t / columns), j0 = 2 * (t % columns), step = l * tiles + t;
        for (long c = 0; c < c_in; c += LANES) {
            long m = c_in - c;
            vf d[4], e[4][4], row[4], u[4];
            for (int s = 0; s < 4; s++) {  /* B^T d along each column s */
                for (int r = 0; r < 4; r++)
                    d[r] = v_load_part(xh + ((i0 + r) * wb + j0 + s) * c_in + c, m);
                input_1d(d, u);
                for (int q = 0; q < 4; q++)
                    e[q][s] = u[q];
            }
            for (int q = xi0 / 4; q * 4 < xi1; q++) {  /* then B along each row */
                for (int s = 0; s < 4; s++)
                    row[s] = e[q][s];
                input_1d(row, u);
                for (int k = 0; k < 4; k++)
                    if (q * 4 + k >= xi0 && q * 4 + k < xi1)
                        v_store_part(v + (q * 4 + k) * backward_v_stride(span, c_in)
                                     + step * c_in + c, u[k], m);
            }
        }
        for (long o = 0; o < wide; o += LANES) {
            vf y[2][2], column[2], f[4][2], row[2], w[4];
            for (int a = 0; a < 2; a++) {  /* pixel row i0 + a: 0 past the output's edge */
                long m = i0 + a < g->out_h ? c_out - o : 0;
                const float *first = dyt + ((i0 + a) * g->out_w + j0) * c_out + o;
                y[a][0] = m > 0 ? v_load_part(first, m) : v_zero();
                y[a][1] = m > 0 && j0 + 1 < g->out_w ? v_load_part(first + c_out, m) : v_zero();
            }
            for (int b = 0; b < 2; b++) {  /* A dy along each column b */
                column[0] = y[0][b];
                column[1] = y[1][b];
                gradient_1d(column, w);
                for (int q = 0; q < 4; q++)
                    f[q][b] = w[q];
            }
            for (int q = xi0 / 4; q * 4 < xi1; q++) {  /* then A^T along each row */
                row[0] = f[q][0];
                row[1] = f[q][1];
                gradient_1d(row, w);
                for (int k = 0; k < 4; k++)
                    if (q * 4 + k >= xi0 && q * 4 + k < xi1)
                        v_store(z + ((q * 4 + k) * (wide / NR) + o / NR)
                                * backward_z_stride(span) + step * NR + o % NR, w[k]);
            }
        }
    }
}

/* grad_w[o, c] = G^T S[c, o] G for input channel c and output channels o0..o0+LANES-1,
   S (16, C, c_out): one scatter of LANES output channels per kernel tap. */
static void transform_sums(const float *sums, long c_in, long c_out, long c, long o0,
                           float *grad_w)
{
    long m = c_out - o0;
    vi along = v_offsets(c_in * 9);
    vf column[4], w[3], rows[3][4];
    for (int k = 0; k < 4; k++) {  /* G^T S along each column k */
        for (int q = 0; q < 4; q++)
            column[q] = v_load_part(sums + ((q * 4 + k) * c_in + c) * c_out + o0, m);
        kernel_back_1d(column, w);
        for (int i = 0; i < 3; i++)
            rows[i][k] = w[i];
    }
    for (int i = 0; i < 3; i++) {  /* then G along each row */
        kernel_back_1d(rows[i], w);
        for (int j = 0; j < 3; j++)
            v_scatter(grad_w + (o0 * c_in + c) * 9 + 3 * i + j, along, w[j], m);
    }
}

/* S_xi[c0.., o0..] += the GEMM tile of position xi, input channels c0 = piece*block..
   and output channels o0 = NR*panel.., over the chunk's steps. */
static void sum_tile(const float *v, const float *z, const int *steps, long depth, long span,
                     long c_in, long c_out, long block, long xi, long piece, long panel,
                     float *sums)
{
    long c0 = piece * block, c1 = c0 + block < c_in ? c0 + block : c_in, o0 = panel * NR;
    tile(depth, v + xi * backward_v_stride(span, c_in) + c0, steps,
         z + (xi * panels(c_out, NR) + panel) * backward_z_stride(span), c1 - c0,
         c_out - o0 < NR ? c_out - o0 : NR, sums + (xi * c_in + c0) * c_out + o0, c_out, 1);
}

/* A weight gradient's arguments, shared by its team. */
struct winograd_backward_weight_job {
    const float *x, *grad_out;
    long n, c_out, chunk;
    const tl_conv_geometry *g;
    float *grad_w, *scratch;
    const int *steps;
    long *loops;  /* per chunk of samples: samples claimed and prepared, tasks claimed and done */
    long next_kernel;  /* the next chunk of grad_w's transforms back */
};

static void winograd_backward_weight_team(void *arg, const tl_member *me)
{
    struct winograd_backward_weight_job *job = arg;
    const tl_conv_geometry *g = job->g;
    long n = job->n, c_out = job->c_out, chunk = job->chunk, c_in = g->channels;
    long sample = c_in * g->height * g->width, wb = plane_width(g);
    long pixels = g->out_h * g->out_w, tiles = tile_rows(g) * tile_columns(g);
    long wide = panels(c_out, NR) * NR, span = chunk * tiles, room = channels_last_room(g);
    long block = channel_block(c_in), pieces = panels(c_in, block), cols = wide / NR;
    long vectors = panels(c_out, LANES), tasks = pieces * cols;
    float *sums = job->scratch, *xh = sums + POSITIONS * c_in * c_out;
    float *dyt = xh + chunk * room, *v = dyt + chunk * pixels * c_out;
    float *z = v + POSITIONS * backward_v_stride(span, c_in);
    /* by positions: a task is a group of positions, as many groups as threads, each
       transforming every sample; else a task is one GEMM tile of one position */
    int by_positions = me->threads <= POSITION_THREADS;
    long group = panels(POSITIONS, me->threads), groups = panels(POSITIONS, group);
    long count_tasks = by_positions ? groups : POSITIONS * tasks;
    for (long s0 = 0, *loop = job->loops; s0 < n; s0 += chunk, loop += 4) {
        long count = n - s0 < chunk ? n - s0 : chunk;
        const float *dy = job->grad_out + s0 * c_out * pixels;
        for (long l; (l = tl_claim(&loop[0])) < count;) {
            pad_channels_last(job->x + (s0 + l) * sample, c_in, g->height, g->width, g->ph,
                              g->pw, wb, xh + l * room);
            transpose_floats(dy + l * c_out * pixels, pixels, pixels, c_out,
                             dyt + l * pixels * c_out, c_out);
            if (!by_positions)  /* every position of this sample */
                transform_sample(xh + l * room, dyt + l * pixels * c_out, c_out, g, l, span, 0,
                                 POSITIONS, v, z);
            tl_done(&loop[1], 1);
        }
        tl_wait_done(&loop[1], count);
        for (long task; (task = tl_claim(&loop[2])) < count_tasks;) {
            if (by_positions) {  /* every sample, then the tiles, of positions xi0..xi1-1 */
                long xi0 = task * group, xi1 = xi0 + group < POSITIONS ? xi0 + group : POSITIONS;
                for (long l = 0; l < count; l++)
                    transform_sample(xh + l * room, dyt + l * pixels * c_out, c_out, g, l, span,
                                     xi0, xi1, v, z);
                for (long t = xi0 * tasks; t < xi1 * tasks; t++)
                    sum_tile(v, z, job->steps, count * tiles, span, c_in, c_out, block,
                             t / tasks, t % tasks / cols, t % cols, sums);
            } else {
                sum_tile(v, z, job->steps, count * tiles, span, c_in, c_out, block,
                         task / tasks, task % tasks / cols, task % cols, sums);
            }
            tl_done(&loop[3], 1);
        }
        tl_wait_done(&loop[3], count_tasks);  /* the next chunk overwrites xh, dyt, V and Z */
    }
    long kernels = c_in * vectors, each = tl_chunk(kernels, POSITIONS * c_in * c_out);
    for (long first, last; tl_claim_chunk(&job->next_kernel, kernels, each, &first, &last);)
        for (long k = first; k < last; k++)
            transform_sums(sums, c_in, c_out, k / vectors, k % vectors * LANES, job->grad_w);
}

static int winograd_backward_weight(const float *x, const float *grad_out, long n,
                                    long c_out, const tl_conv_geometry *g, float *grad_w,
                                    float *scratch, long chunk, int threads)
{
    long c_in = g->channels, span = chunk * tile_rows(g) * tile_columns(g);
    float *sums = scratch, *xh = sums + POSITIONS * c_in * c_out;
    int *steps = malloc((span > 0 ? span : 1) * sizeof(int));
    long *loops = calloc(4 * panels(n, chunk) + 1, sizeof(long));
    if (!steps || !loops) {
        free(steps); free(loops);
        return -1;
    }
    for (long t = 0; t < span; t++)
        steps[t] = (int)(t * c_in);
    memset(sums, 0, POSITIONS * c_in * c_out * sizeof(float));
    memset(xh, 0, (n < chunk ? n : chunk) * channels_last_room(g) * sizeof(float));
    struct winograd_backward_weight_job job = {x, grad_out, n, c_out, chunk, g, grad_w,
                                               scratch, steps, loops, 0};
    tl_team_run(threads, winograd_backward_weight_team, &job);
    free(steps);
    free(loops);
    return 0;
}
