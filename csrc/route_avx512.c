/* The kernels built for AVX-512F: 16 floats a vector, 32 registers (csrc/simd.h). On
x86-64 with GCC >= 7 or clang >= 5 (not Windows, where long is 32 bits); elsewhere the
table says it was not built. */
#if defined(__x86_64__) && !defined(_WIN32) && \
    ((defined(__clang__) && __clang_major__ >= 5) || \
     (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 7))
#define TL_ROUTE_BUILT 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
/* 256-bit vectors where the compiler vectorizes plain loops on its own (csrc/pool.c's
   forward: 1.3 ms with 512-bit ones at the bench's shape, against 0.7 with AVX2's) */
#pragma GCC target("avx512f,prefer-vector-width=256")
#endif
#endif

#define TL_ROUTE_AVX512
#define TL_ROUTE_TABLE tl_route_avx512
#define TL_ROUTE_KEY "avx512"
#define TL_ROUTE_NAME "AVX-512F"
#include "route.h"

#if defined(TL_ROUTE_BUILT) && defined(__clang__)
#pragma clang attribute pop
#endif
