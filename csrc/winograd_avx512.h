/* Float32 3x3 convolution at stride 1 by Winograd's F(2x2, 3x3) (forward) and F(3x3, 2x2)
   (weight gradient) on AVX-512: winograd_avx512.c. Built only with the AVX-512 kernels
   (TL_AVX512), and called through conv_avx512.h's entry points with winograd set. */
#ifndef TL_WINOGRAD_AVX512_H
#define TL_WINOGRAD_AVX512_H

#include "conv_avx512.h"

/* out (n, c_out, out_h, out_w) = the correlation of x (n, channels, height, width),
   zero-padded by (ph, pw), with a 3x3 kernel at stride 1 and dilation 1 (the geometry's
   other fields are not read). weight is (c_out, channels, 3, 3), or, with transposed,
   (channels, c_out, 3, 3) read flipped, as in conv_avx512.h's tl_conv_forward_f32. scratch:
   tl_winograd_forward_scratch(...) floats. Returns 0, or -1 where a small allocation
   failed (nothing written then). */
long tl_winograd_forward_scratch(long c_out, const tl_conv_geometry *g, int threads);
int tl_winograd_forward_f32(const float *x, long n, const float *weight, long c_out,
                            int transposed, const tl_conv_geometry *g, float *out,
                            float *scratch, int threads);

/* grad_w (c_out, channels, 3, 3) = the weight gradient of that forward, summed over the
   samples in order, chunk samples at a time; grad_out is (n, c_out, out_h*out_w).
   scratch: tl_winograd_backward_weight_scratch(...) floats. Returns as above. */
long tl_winograd_backward_weight_scratch(long c_out, const tl_conv_geometry *g, long chunk);
int tl_winograd_backward_weight_f32(const float *x, const float *grad_out, long n,
                                    long c_out, const tl_conv_geometry *g, float *grad_w,
                                    float *scratch, long chunk, int threads);

#endif
