/* Float32 convolution as an implicit GEMM on AVX-512: see conv_avx512.c. */
#ifndef TL_CONV_AVX512_H
#define TL_CONV_AVX512_H

/* One convolution's geometry: an input sample (channels, height, width), the kernel
   (kh, kw), stride, padding and dilation, and the output plane (out_h, out_w). */
typedef struct {
    long channels, height, width;
    long kh, kw, sh, sw, ph, pw, dh, dw;
    long out_h, out_w;
} tl_conv_geometry;

/* 1 if this CPU runs AVX-512F and this module was compiled with the kernels, else 0. */
int tl_conv_avx512_supported(void);

/* out (n, c_out, out_h*out_w) = weight (c_out, K) @ columns(x[s]) for each sample s,
   K = channels*kh*kw, at column stride sw = 1 only. With transposed, weight is
   (channels, c_out, kh, kw) and read flipped: the kernel is weight[:, :, ::-1,
   ::-1].transpose(1, 0, 2, 3), as in the input gradient of a convolution by weight.
   With winograd (a 3x3 kernel at stride 1 and dilation 1 only), by Winograd's kernels
   (winograd_avx512.c), else by the direct tiles (conv_avx512.c). scratch:
   tl_conv_forward_scratch(...) floats, for the same winograd. */
long tl_conv_forward_scratch(long c_out, const tl_conv_geometry *g, int winograd,
                             int threads);
int tl_conv_forward_f32(const float *x, long n, const float *weight, long c_out,
                        int transposed, int winograd, const tl_conv_geometry *g,
                        float *out, float *scratch, int threads);

/* grad_w (c_out, channels, kh, kw) = the weight gradient: grad_w[o, c, p, q] = the sum
   over the samples s, in order, and the output pixels t of grad_out[s, o, t]
   x_padded[s, c, tap (p, q) of pixel t], chunk samples at a time. The direct tiles take
   any stride, padding and dilation; winograd as above. scratch:
   tl_conv_backward_weight_scratch(...) floats. */
long tl_conv_backward_weight_scratch(long c_out, const tl_conv_geometry *g, int winograd,
                                     long chunk);
int tl_conv_backward_weight_f32(const float *x, const float *grad_out, long n,
                                long c_out, int winograd, const tl_conv_geometry *g,
                                float *grad_w, float *scratch, long chunk, int threads);

/* Both return 0, or -1 where a small allocation failed (nothing written then). */

#endif
