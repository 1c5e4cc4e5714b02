/* The compiled kernels' routes, for tlcore._native: one kernel source (csrc/conv.c,
csrc/winograd.c, csrc/hinge.c, csrc/hinge_backward.c, csrc/pool.c, on csrc/tiles.h and
csrc/simd.h) built once per vector
width by csrc/route_avx512.c, csrc/route_avx2.c and csrc/route_base.c, each of which
exports one tl_route; csrc/routes.c lists them and asks the CPU which it runs.

    conv_forward     out (n, c_out, out_h*out_w) = weight (c_out, K) @ columns(x[s]) for
                     each sample s, K = channels*kh*kw, at column stride sw = 1 only.
                     With transposed, weight is (channels, c_out, kh, kw) and read
                     flipped: the kernel is weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3),
                     as in the input gradient of a convolution by weight. With winograd
                     (a 3x3 kernel at stride 1 and dilation 1 only), by Winograd's
                     kernels (csrc/winograd.c), else by the direct tiles (csrc/conv.c).
    conv_backward_weight
                     grad_w (c_out, channels, kh, kw): grad_w[o, c, p, q] = the sum over
                     the samples s, in order, and the output pixels t of grad_out[s, o, t]
                     x_padded[s, c, tap (p, q) of pixel t], chunk samples at a time. The
                     direct tiles take any stride, padding and dilation; winograd as
                     above.
    hinge_forward    loss[n] = max(0, margin - S[n, y_n] + S[n, m_n]), m_n = the first
                     arg-max of S[n, c] over c != y_n, for S = f (n, dim) @ g (classes,
                     dim)^T, never formed whole (csrc/hinge.c).
    maxpool2x2_forward, maxpool_backward
                     max pooling's 2x2 window at stride 2 without padding, and the
                     backward of any max pooling, float32 and float64 (csrc/pool.c).
    hinge_backward   the hinge-max loss's sparse backward, grad_f (n, dim) and grad_g
                     (classes, dim) from the forward's negatives and the samples'
                     weights, float32 and float64 (csrc/hinge_backward.c).

Each *_scratch gives the floats of scratch that its kernel needs. The kernels return 0,
or -1 where a small allocation failed (nothing written then).
*/
#ifndef TL_ROUTES_H
#define TL_ROUTES_H

#include <stdint.h>

/* One convolution's geometry: an input sample (channels, height, width), the kernel
   (kh, kw), stride, padding and dilation, and the output plane (out_h, out_w). */
typedef struct {
    long channels, height, width;
    long kh, kw, sh, sw, ph, pw, dh, dw;
    long out_h, out_w;
} tl_conv_geometry;

typedef struct {
    const char *key;   /* TLCORE_SIMD's word for it: "avx512", "avx2", "neon", "sse2" */
    const char *name;  /* the instructions: "AVX-512F", "AVX2+FMA", "NEON", "SSE2" */
    int built;         /* 0 where this compiler or CPU family cannot build the route */
    int lanes;         /* floats per vector */
    int tile_rows;     /* the convolutions' register tile: tile_rows x tile_columns floats */
    int tile_columns;
    int gemm_rows;     /* the packed GEMM's (the fused hinge's): gemm_rows x tile_columns */
    long (*conv_forward_scratch)(long c_out, const tl_conv_geometry *g, int winograd,
                                 int threads);
    int (*conv_forward_f32)(const float *x, long n, const float *weight, long c_out,
                            int transposed, int winograd, const tl_conv_geometry *g,
                            float *out, float *scratch, int threads);
    long (*conv_backward_weight_scratch)(long c_out, const tl_conv_geometry *g, int winograd,
                                         long chunk);
    int (*conv_backward_weight_f32)(const float *x, const float *grad_out, long n,
                                    long c_out, int winograd, const tl_conv_geometry *g,
                                    float *grad_w, float *scratch, long chunk, int threads);
    long (*hinge_forward_scratch)(long classes, long dim, int threads);
    int (*hinge_forward_f32)(const float *f, const float *g, long n, long classes, long dim,
                             const int64_t *target, float margin, float *loss,
                             int64_t *negative, float *scratch, int threads);
    void (*maxpool2x2_forward_f32)(const float *x, long planes, long height, long width,
                                   long out_h, long out_w, float *out, int64_t *argmax,
                                   int threads);
    void (*maxpool2x2_forward_f64)(const double *x, long planes, long height, long width,
                                   long out_h, long out_w, double *out, int64_t *argmax,
                                   int threads);
    void (*maxpool_backward_f32)(const float *grad_out, const int64_t *argmax, long planes,
                                 long height, long width, long out_h, long out_w,
                                 float *grad_x, int threads);
    void (*maxpool_backward_f64)(const double *grad_out, const int64_t *argmax, long planes,
                                 long height, long width, long out_h, long out_w,
                                 double *grad_x, int threads);
    int (*hinge_backward_f32)(const float *f, const float *g, long n, long classes, long dim,
                              const int64_t *target, const int64_t *negative,
                              const float *weight, float *grad_f, float *grad_g, int threads);
    int (*hinge_backward_f64)(const double *f, const double *g, long n, long classes,
                              long dim, const int64_t *target, const int64_t *negative,
                              const double *weight, double *grad_f, double *grad_g,
                              int threads);
} tl_route;

#define TL_ROUTES 3  /* AVX-512F, AVX2+FMA, the base route: widest first */

/* Route i < TL_ROUTES (built or not). */
const tl_route *tl_route_at(int i);

/* 1 if route i was built and this CPU (and its operating system) runs it, else 0. */
int tl_route_supported(int i);

#endif
