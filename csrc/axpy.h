/* y += alpha * x over n elements, in one pass and with no temporary: SGD's update
   theta -= lr * g (kernels/reference.py:axpy), shared out in blocks over `threads`
   threads of tlcore's team (csrc/team.h). x and y must not overlap (the
   caller, kernels/backends/native.py, sends an overlapping pair to numpy). */
#ifndef TL_AXPY_H
#define TL_AXPY_H

#include <stddef.h>

void tl_axpy_f32(ptrdiff_t n, float alpha, const float *x, float *y, int threads);
void tl_axpy_f64(ptrdiff_t n, double alpha, const double *x, double *y, int threads);

#endif
