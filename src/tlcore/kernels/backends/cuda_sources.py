"""The CUDA C++ sources of the cupy backend (kernels/backends/cupy_gpu.py), kept apart from it so
that they can be read, and compiled by nvcc in the tests, without cupy or a GPU.

``RAW_SOURCE`` is one translation unit of templated ``__global__`` kernels, compiled by
cupy.RawModule (NVRTC) for float and double: ``name_expression(kernel, dtype)`` is the
C++ name of one instance, e.g. ``tlcore_im2col<float>``. No headers are included, so
the same text compiles under NVRTC and nvcc. ``ELEMENTWISE`` and ``REDUCTION`` hold the
pieces of a cupy.ElementwiseKernel and a cupy.ReductionKernel.

Every kernel loops over its elements with a grid-stride loop (any grid size works) and
indexes with 64-bit integers. Every result but the max-pool gradient is deterministic:
each output element is written by exactly one thread, which sums its terms in a fixed
order:

* im2col / col2im: one thread per column entry / per input pixel; col2im gathers the
  column entries that read its pixel, kernel offsets (p, q) in row-major order.
* max-pool backward: the kernel contract passes no window geometry, so a gather is not
  possible: one thread per output adds its gradient at its argmax with atomicAdd into
  zeros. An element taken by one or two windows gets the same bits in any order
  (0 + a + b = 0 + b + a); only where windows overlap enough that one element can be
  the maximum of three or more (ceil(kh/sh) * ceil(kw/sw) > 2: 3x3 windows at stride 2,
  say) can its float sum be rounded differently from one run to the next.
* hinge-max backward to g: the 2N (class, sample) contributions are sorted by class on
  the GPU (cupy.argsort, a stable sort: positions keep their order); then one thread per
  element of grad_g sums its class's segment in sample order (negatives first, then
  targets: np.add.at's order), so grad_g is the same bits at every run.
"""

DTYPES = {"float32": "float", "float64": "double"}

RAW_KERNELS = (
    "tlcore_im2col",
    "tlcore_col2im",
    "tlcore_maxpool2d_forward",
    "tlcore_maxpool2d_backward",
    "tlcore_hinge_max_forward",
    "tlcore_hinge_max_backward_f",
    "tlcore_hinge_max_backward_g",
)

HINGE_BLOCK = 128  # threads per row of hinge_max_forward (a power of two, = the array sizes)

RAW_SOURCE = r"""
// ---------------------------------------------------------------------- helpers

#define TLCORE_LOOP(e, total) \
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < (total); \
         e += (long long)blockDim.x * gridDim.x)

template <typename T> __device__ __forceinline__ T tlcore_neg_inf();
template <> __device__ __forceinline__ float tlcore_neg_inf<float>() {
    return __int_as_float((int)0xff800000u);
}
template <> __device__ __forceinline__ double tlcore_neg_inf<double>() {
    return __longlong_as_double((long long)0xfff0000000000000ULL);
}

// (v1, i1) beats (v2, i2) in an arg-max with numpy's rules: a NaN beats any number
// (the first NaN wins), otherwise the larger value, and on a tie the smaller index.
template <typename T>
__device__ __forceinline__ bool tlcore_better(T v1, long long i1, T v2, long long i2) {
    const bool nan1 = v1 != v1, nan2 = v2 != v2;
    if (nan1 || nan2) return nan1 && (!nan2 || i1 < i2);
    return v1 > v2 || (v1 == v2 && i1 < i2);
}

// ---------------------------------------------------------------------- conv2d
// cols (C*kh*kw, m*Ho*Wo) of a chunk of m samples:
//   cols[(c, p, q), (n, i, j)] = x[n, c, i*sh - ph + p*dh, j*sw - pw + q*dw], 0 outside.

template <typename T>
__global__ void tlcore_im2col(
        const T* __restrict__ x, T* __restrict__ cols, long long m, long long channels,
        long long height, long long width, long long kh, long long kw, long long sh,
        long long sw, long long ph, long long pw, long long dh, long long dw,
        long long out_h, long long out_w) {
    const long long pixels = m * out_h * out_w;
    const long long total = channels * kh * kw * pixels;
    TLCORE_LOOP(e, total) {
        const long long col = e % pixels, row = e / pixels;
        const long long j = col % out_w, i = (col / out_w) % out_h, n = col / (out_w * out_h);
        const long long q = row % kw, p = (row / kw) % kh, c = row / (kw * kh);
        const long long y = i * sh - ph + p * dh, z = j * sw - pw + q * dw;
        cols[e] = (y >= 0 && y < height && z >= 0 && z < width)
            ? x[((n * channels + c) * height + y) * width + z] : T(0);
    }
}

// grad_x[n, c, y, z] (a chunk of m samples, NCHW) = the sum of the column entries
// that read it: for each kernel offset (p, q), the output (i, j) with
// y = i*sh - ph + p*dh and z = j*sw - pw + q*dw, if there is one.
template <typename T>
__global__ void tlcore_col2im(
        const T* __restrict__ grad_cols, T* __restrict__ grad_x, long long m,
        long long channels, long long height, long long width, long long kh, long long kw,
        long long sh, long long sw, long long ph, long long pw, long long dh, long long dw,
        long long out_h, long long out_w) {
    const long long pixels = m * out_h * out_w;
    const long long total = m * channels * height * width;
    TLCORE_LOOP(e, total) {
        const long long z = e % width, y = (e / width) % height;
        const long long c = (e / (width * height)) % channels;
        const long long n = e / (width * height * channels);
        T acc = T(0);
        for (long long p = 0; p < kh; ++p) {
            const long long row_offset = y + ph - p * dh;  // = i * sh
            if (row_offset < 0 || row_offset % sh != 0) continue;
            const long long i = row_offset / sh;
            if (i >= out_h) continue;
            for (long long q = 0; q < kw; ++q) {
                const long long col_offset = z + pw - q * dw;  // = j * sw
                if (col_offset < 0 || col_offset % sw != 0) continue;
                const long long j = col_offset / sw;
                if (j >= out_w) continue;
                acc += grad_cols[((c * kh + p) * kw + q) * pixels + (n * out_h + i) * out_w + j];
            }
        }
        grad_x[e] = acc;
    }
}

// ---------------------------------------------------------------------- max pooling
// One thread per output: scan the window's real elements in row-major order from the
// first one, moving on a strictly greater value (the first maximum wins a tie) or on
// a NaN (which is then kept). argmax is the flat index y * W + z in the plane.

template <typename T>
__global__ void tlcore_maxpool2d_forward(
        const T* __restrict__ x, T* __restrict__ out, long long* __restrict__ argmax,
        long long planes, long long height, long long width, long long kh, long long kw,
        long long sh, long long sw, long long ph, long long pw, long long out_h,
        long long out_w) {
    const long long total = planes * out_h * out_w;
    TLCORE_LOOP(e, total) {
        const long long ow = e % out_w, oh = (e / out_w) % out_h, plane = e / (out_w * out_h);
        const long long top = oh * sh - ph, left = ow * sw - pw;
        const long long y0 = top > 0 ? top : 0, z0 = left > 0 ? left : 0;
        const long long y1 = top + kh < height ? top + kh : height;
        const long long z1 = left + kw < width ? left + kw : width;
        const T* src = x + plane * height * width;
        long long best_index = y0 * width + z0;
        if (y0 >= y1 || z0 >= z1) {  // a window of padding only
            out[e] = tlcore_neg_inf<T>();
            argmax[e] = best_index;
            continue;
        }
        T best = src[best_index];
        for (long long y = y0; y < y1; ++y) {
            for (long long z = z0; z < z1; ++z) {
                const T v = src[y * width + z];
                if (v > best || (v != v && best == best)) {
                    best = v;
                    best_index = y * width + z;
                }
            }
        }
        out[e] = best;
        argmax[e] = best_index;
    }
}

// One thread per output: grad_x (zeros) [plane, argmax] += grad_out, by atomicAdd
// (windows that overlap may take the same element). An argmax outside [0, plane_size)
// makes its plane's first element NaN instead of writing outside the plane.
template <typename T>
__global__ void tlcore_maxpool2d_backward(
        const T* __restrict__ grad_out, const long long* __restrict__ argmax,
        T* __restrict__ grad_x, long long planes, long long plane_size,
        long long out_size) {
    TLCORE_LOOP(e, planes * out_size) {
        const long long plane = e / out_size, at = argmax[e];
        if (at < 0 || at >= plane_size) {
            atomicAdd(grad_x + plane * plane_size, T(0) * tlcore_neg_inf<T>());  // NaN
        } else {
            atomicAdd(grad_x + plane * plane_size + at, grad_out[e]);
        }
    }
}

// ---------------------------------------------------------------------- hinge max
// One block of TLCORE_HINGE_BLOCK threads per row n: each thread scans the classes
// c = tid, tid + blockDim, ... (the true class counting as -inf, as in the reference),
// then a tree reduction in shared memory keeps the best (value, index) pair, the
// smaller index on a tie. A target outside [0, C) gives loss NaN and negative -1.

#define TLCORE_HINGE_BLOCK 128

template <typename T>
__global__ void tlcore_hinge_max_forward(
        const T* __restrict__ scores, const long long* __restrict__ target, T margin,
        T* __restrict__ loss, long long* __restrict__ negative, long long rows,
        long long classes) {
    __shared__ T best_value[TLCORE_HINGE_BLOCK];
    __shared__ long long best_index[TLCORE_HINGE_BLOCK];
    const int tid = threadIdx.x;
    for (long long n = blockIdx.x; n < rows; n += gridDim.x) {
        const T* s = scores + n * classes;
        const long long y = target[n];
        T v_best = tlcore_neg_inf<T>();
        long long i_best = -1;
        for (long long c = tid; c < classes; c += blockDim.x) {
            const T v = (c == y) ? tlcore_neg_inf<T>() : s[c];
            if (i_best < 0 || tlcore_better(v, c, v_best, i_best)) {
                v_best = v;
                i_best = c;
            }
        }
        best_value[tid] = v_best;
        best_index[tid] = i_best;
        __syncthreads();
        for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
            if (tid < stride) {
                const T v = best_value[tid + stride];
                const long long i = best_index[tid + stride];
                if (i >= 0 && (best_index[tid] < 0
                               || tlcore_better(v, i, best_value[tid], best_index[tid]))) {
                    best_value[tid] = v;
                    best_index[tid] = i;
                }
            }
            __syncthreads();
        }
        if (tid == 0) {
            if (y < 0 || y >= classes) {
                loss[n] = T(0) * tlcore_neg_inf<T>();  // NaN
                negative[n] = -1;
            } else {
                const T value = margin - s[y] + best_value[0];
                loss[n] = value < T(0) ? T(0) : value;  // max(value, 0); NaN stays NaN
                negative[n] = best_index[0];
            }
        }
        __syncthreads();  // the shared arrays are reused by the next row
    }
}

// grad_f[n, d] = w[n] * (g[negative[n], d] - g[target[n], d]); NaN for a class index
// outside [0, C) (never read out of bounds)
template <typename T>
__global__ void tlcore_hinge_max_backward_f(
        const T* __restrict__ g, const long long* __restrict__ target,
        const long long* __restrict__ negative, const T* __restrict__ weight,
        T* __restrict__ grad_f, long long rows, long long classes, long long dim) {
    TLCORE_LOOP(e, rows * dim) {
        const long long n = e / dim, d = e % dim;
        const long long m = negative[n], y = target[n];
        grad_f[e] = (m < 0 || m >= classes || y < 0 || y >= classes)
            ? T(0) * tlcore_neg_inf<T>()
            : weight[n] * (g[m * dim + d] - g[y * dim + d]);
    }
}

// grad_g[c, d] = sum over the contributions k of class c, in order, of
// +w[n] f[n, d] (order[k] = n < N: c is sample n's negative) or
// -w[n] f[n, d] (order[k] = N + n: c is sample n's target);
// class c's contributions are order[bounds[c] .. bounds[c + 1]).
template <typename T>
__global__ void tlcore_hinge_max_backward_g(
        const T* __restrict__ f, const T* __restrict__ weight,
        const long long* __restrict__ order, const long long* __restrict__ bounds,
        T* __restrict__ grad_g, long long rows, long long classes, long long dim) {
    TLCORE_LOOP(e, classes * dim) {
        const long long c = e / dim, d = e % dim;
        T acc = T(0);
        for (long long k = bounds[c]; k < bounds[c + 1]; ++k) {
            const long long position = order[k];
            if (position < rows) {
                acc += weight[position] * f[position * dim + d];
            } else {
                const long long n = position - rows;
                acc += (-weight[n]) * f[n * dim + d];
            }
        }
        grad_g[e] = acc;
    }
}
"""

# grad_in = -lambda * grad_out, and the update's axpy: cupy.ElementwiseKernel(in_params, out_params, operation, name)
ELEMENTWISE = {
    "grad_reverse": ("T grad, T scale", "T y", "y = grad * scale", "tlcore_grad_reverse"),
    # y += alpha * x in place: y is passed as the output, and read there
    "axpy": ("T x, T alpha", "T y", "y += alpha * x", "tlcore_axpy"),
}

# sum(f * g, axis=1): cupy.ReductionKernel(in_params, out_params, map_expr, reduce_expr,
# post_map_expr, identity, name)
REDUCTION = {
    "paired_dot": ("T f, T g", "T y", "f * g", "a + b", "y = a", "0", "tlcore_paired_dot"),
}


def name_expression(kernel, dtype):
    """The C++ name of one instance of a RAW_SOURCE kernel: 'tlcore_im2col<float>'."""
    return f"{kernel}<{DTYPES[str(dtype)]}>"


def all_name_expressions():
    return [name_expression(kernel, dtype) for kernel in RAW_KERNELS for dtype in DTYPES]
