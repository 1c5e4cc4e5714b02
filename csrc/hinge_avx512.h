/* The hinge-max loss's forward fused with its score GEMM on AVX-512: hinge_avx512.c. */
#ifndef TL_HINGE_AVX512_H
#define TL_HINGE_AVX512_H

#include <stdint.h>

/* 1 if this CPU runs AVX-512F and this module was compiled with the kernels, else 0. */
int tl_hinge_avx512_supported(void);

/* The floats of scratch that tl_hinge_forward_f32 needs. */
long tl_hinge_forward_scratch(long classes, long dim, int threads);

/* loss[n] = max(0, margin - S[n, y_n] + S[n, m_n]), m_n = the first arg-max of S[n, c]
   over c != y_n, for S = f (n, dim) @ g (classes, dim)^T, never formed whole. Returns 0
   (it allocates nothing: scratch holds everything). */
int tl_hinge_forward_f32(const float *f, const float *g, long n, long classes, long dim,
                         const int64_t *target, float margin, float *loss,
                         int64_t *negative, float *scratch, int threads);

#endif
