/* The kernels built for AVX2 and FMA: 8 floats a vector, 16 registers (csrc/simd.h).
Built where csrc/route_avx512.c is. */
#if defined(__x86_64__) && !defined(_WIN32) && \
    ((defined(__clang__) && __clang_major__ >= 5) || \
     (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 7))
#define TL_ROUTE_BUILT 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif
#endif

#define TL_ROUTE_AVX2
#define TL_ROUTE_TABLE tl_route_avx2
#define TL_ROUTE_KEY "avx2"
#define TL_ROUTE_NAME "AVX2+FMA"
#include "route.h"

#if defined(TL_ROUTE_BUILT) && defined(__clang__)
#pragma clang attribute pop
#endif
