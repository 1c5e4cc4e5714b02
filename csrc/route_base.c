/* The kernels built for the compiler's baseline target, with nothing switched on: 4
floats a vector (csrc/simd.h), NEON on 64-bit ARM, SSE2 on x86-64. Any GCC or clang
with vector extensions builds it (not Windows, where long is 32 bits). */
#if !defined(_WIN32) && (defined(__GNUC__) || defined(__clang__))
#define TL_ROUTE_BUILT 1
#endif

#define TL_ROUTE_BASE
#define TL_ROUTE_TABLE tl_route_base
#if defined(__aarch64__)
#define TL_ROUTE_KEY "neon"
#define TL_ROUTE_NAME "NEON"
#elif defined(__x86_64__)
#define TL_ROUTE_KEY "sse2"
#define TL_ROUTE_NAME "SSE2"
#else
#define TL_ROUTE_KEY "vectors"
#define TL_ROUTE_NAME "generic vectors"
#endif
#include "route.h"
