/* The body of each route's translation unit (csrc/route_avx512.c, route_avx2.c,
route_base.c): the kernel source compiled for that route, and the route's table
(csrc/routes.h). The including file defines TL_ROUTE_AVX512, TL_ROUTE_AVX2 or
TL_ROUTE_BASE (csrc/simd.h's widths), TL_ROUTE_TABLE, TL_ROUTE_KEY and TL_ROUTE_NAME, TL_ROUTE_BUILT
where this compiler can build it, and switches the target on before including this. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

#ifdef TL_ROUTE_BUILT

#include "simd.h"
#include "tiles.h"
#include "winograd.c"
#include "conv.c"
#include "hinge.c"

#define REAL float
#define POOL(name) name##_f32
#define SPARSE(name) name##_f32
#include "pool.c"
#include "hinge_backward.c"
#undef REAL
#undef POOL
#undef SPARSE
#define REAL double
#define POOL(name) name##_f64
#define SPARSE(name) name##_f64
#include "pool.c"
#include "hinge_backward.c"
#undef REAL
#undef POOL
#undef SPARSE

const tl_route TL_ROUTE_TABLE = {
    TL_ROUTE_KEY, TL_ROUTE_NAME, 1, LANES, TILE_ROWS, NR, MR,
    conv_forward_scratch, conv_forward_f32,
    conv_backward_weight_scratch, conv_backward_weight_f32,
    hinge_forward_scratch, hinge_forward_f32,
    maxpool2x2_forward_f32, maxpool2x2_forward_f64,
    maxpool_backward_f32, maxpool_backward_f64,
    hinge_backward_f32, hinge_backward_f64,
};

#else

const tl_route TL_ROUTE_TABLE = {TL_ROUTE_KEY, TL_ROUTE_NAME, 0, 0, 0, 0, 0,
                                 NULL, NULL, NULL, NULL, NULL, NULL,
                                 NULL, NULL, NULL, NULL, NULL, NULL};

#endif
