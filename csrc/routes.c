/* The routes' list, and which of them this CPU runs (csrc/routes.h). Compiled for the
baseline target, so that asking never executes an instruction the CPU may lack. */
#include <stddef.h>

#include "routes.h"

extern const tl_route tl_route_avx512, tl_route_avx2, tl_route_base;

static const tl_route *const routes[TL_ROUTES] = {&tl_route_avx512, &tl_route_avx2,
                                                  &tl_route_base};

const tl_route *tl_route_at(int i)
{
    return i >= 0 && i < TL_ROUTES ? routes[i] : NULL;
}

/* libgcc's CPU check also asks the operating system (XGETBV) whether it saves the
   vector registers that AVX and AVX-512 use. */
static int cpu_runs(int i)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (i == 0)
        return __builtin_cpu_supports("avx512f") != 0;
    if (i == 1)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return i == 2;
}

int tl_route_supported(int i)
{
    const tl_route *route = tl_route_at(i);
    return route && route->built && cpu_runs(i);
}
