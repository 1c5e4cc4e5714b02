/* The width-generic vector operations that every compiled route's kernels are written
in (csrc/tiles.h, csrc/conv.c, csrc/winograd.c, csrc/hinge.c): one kernel source, built
once per route by csrc/route_*.c, which define one of

    TL_ROUTE_AVX512   16 floats a vector, 32 registers (x86-64 with AVX-512F)
    TL_ROUTE_AVX2     8 floats a vector, 16 registers (x86-64 with AVX2 and FMA)
    TL_ROUTE_BASE     4 floats a vector: the compiler's baseline, with no target
                      switched on: NEON on 64-bit ARM (32 registers), SSE2 on x86-64
                      (16 registers). Its tile is shaped for ARM's 32 registers on
                      every CPU, so that the tests on x86-64 run the code ARM runs;
                      on x86-64 it is a fallback taken only when asked for.

before including this header. A vector ``vf`` is a GCC/clang vector of LANES floats, so +,
- and * work on it lane by lane; the operations below are those the operators do not
give: loads and stores of the first n lanes (a row's end), gathers and scatters at
per-lane offsets, the transpose of a block of LANES x LANES, and the fused multiply-add. Each has one plain definition (lane by
lane, in C), which the base route uses; AVX-512 and AVX2 replace the ones that their
instructions do in one step.

The register tile of csrc/tiles.h holds TILE_ROWS x NV vectors (a tile of fewer rows
takes the next of TILE_SIZES that holds them); its shape per route
follows the register count: rows x NV accumulators, NV vectors of b and a broadcast
must fit (Goto and van de Geijn, ACM TOMS 2008; BLIS's 6x16 on Haswell, 8x12 on
ARMv8; 14x32 here on AVX-512).
*/
#ifndef TL_SIMD_H
#define TL_SIMD_H

#include <stddef.h>
#include <string.h>

#if defined(TL_ROUTE_AVX512)
#define LANES 16
#define NV 2
#define TILE_ROWS 14
#define MR 12
#define TILE_SIZES 14, 12, 8, 4
#elif defined(TL_ROUTE_AVX2)
#define LANES 8
#define NV 2
#define TILE_ROWS 6
#define MR 6
#define TILE_SIZES 6, 4, 2, 1
#elif defined(TL_ROUTE_BASE)  /* one shape on every CPU: x86's tests run ARM's code */
#define LANES 4
#define NV 3
#define TILE_ROWS 8
#define MR 8
#define TILE_SIZES 8, 6, 4, 2
#else
#error "csrc/simd.h: define TL_ROUTE_AVX512, TL_ROUTE_AVX2 or TL_ROUTE_BASE first"
#endif

#define NR (NV * LANES)  /* the columns of a packed b panel, and of a register tile */

#if defined(TL_ROUTE_AVX512) || defined(TL_ROUTE_AVX2)
#include <immintrin.h>
#endif

typedef float vf __attribute__((vector_size(4 * LANES)));
typedef int vi __attribute__((vector_size(4 * LANES)));  /* lane offsets, comparisons' -1/0 */
typedef float vf_unaligned __attribute__((vector_size(4 * LANES), aligned(4)));

static inline vf v_zero(void) { return (vf){0}; }
static inline vf v_load(const float *p) { return *(const vf_unaligned *)p; }
static inline void v_store(float *p, vf v) { *(vf_unaligned *)p = v; }
static inline vi v_iota(void)
{
    vi v;
    for (int l = 0; l < LANES; l++) v[l] = l;
    return v;
}
/* Lanes l*stride, for the gathers and scatters below (32-bit: callers keep LANES*stride
   within an int). */
static inline vi v_offsets(long stride) { return v_iota() * (int)stride; }
/* The blend m ? a : b, m's lanes -1 or 0 (a comparison's result). */
static inline vf v_select(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }
static inline int v_any(vi m)
{
    int any = 0;
    for (int l = 0; l < LANES; l++) any |= m[l];
    return any != 0;
}
static inline float v_reduce_max(vf v)
{
    float top = v[0];
    for (int l = 1; l < LANES; l++) top = v[l] > top ? v[l] : top;
    return top;
}

/* --- per route: the fused multiply-add, and the first n lanes' loads and stores ---- */

#if defined(TL_ROUTE_AVX512)

static inline __mmask16 first_lanes(long n)
{
    return n <= 0 ? 0 : n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
}
static inline vf v_set1(float x) { return _mm512_set1_ps(x); }
static inline vf v_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf v_load_part(const float *p, long n)
{
    return _mm512_maskz_loadu_ps(first_lanes(n), p);
}
static inline void v_store_part(float *p, vf v, long n)
{
    _mm512_mask_storeu_ps(p, first_lanes(n), v);
}
static inline vf v_gather(const float *base, vi offsets, long n)
{
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), first_lanes(n), (__m512i)offsets,
                                    base, 4);
}
static inline void v_scatter(float *base, vi offsets, vf v, long n)
{
    _mm512_mask_i32scatter_ps(base, first_lanes(n), (__m512i)offsets, v, 4);
}
/* base[offsets[l]] and base[offsets[l] + 1] for lanes l < n: two gathers of 8-byte pairs
   (8 lanes each), split into the first and the second floats, half the loads of
   gathering the floats one by one. */
static inline void v_gather_pairs(const float *base, vi offsets, long n, vf *first,
                                  vf *second)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8,
                                          6, 4, 2, 0);
    __mmask16 m = first_lanes(n);
    __m512 lo = _mm512_castpd_ps(_mm512_mask_i32gather_pd(
        _mm512_setzero_pd(), (__mmask8)m, _mm512_castsi512_si256((__m512i)offsets), base, 4));
    __m512 hi = _mm512_castpd_ps(_mm512_mask_i32gather_pd(
        _mm512_setzero_pd(), (__mmask8)(m >> 8), _mm512_extracti64x4_epi64((__m512i)offsets, 1),
        base, 4));
    *first = _mm512_permutex2var_ps(lo, even, hi);
    *second = _mm512_permutex2var_ps(lo, _mm512_add_epi32(even, _mm512_set1_epi32(1)), hi);
}
/* r[k][m] -> r[m][k] for a 16 x 16 block: 32-bit, 64-bit, then twice 128-bit
   interleaves, 64 shuffles and no memory. */
static inline void v_transpose(vf r[LANES])
{
    __m512 a[16], b[16], c[16];
    for (int k = 0; k < 8; k++) {
        a[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        a[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 4; k++) {  /* b[4k+m], lane j: rows 4k..4k+3 at column 4j+m */
        b[4 * k] = _mm512_shuffle_ps(a[4 * k], a[4 * k + 2], 0x44);
        b[4 * k + 1] = _mm512_shuffle_ps(a[4 * k], a[4 * k + 2], 0xEE);
        b[4 * k + 2] = _mm512_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0x44);
        b[4 * k + 3] = _mm512_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0xEE);
    }
    for (int m = 0; m < 4; m++) {
        c[4 * m] = _mm512_shuffle_f32x4(b[m], b[4 + m], 0x88);
        c[4 * m + 1] = _mm512_shuffle_f32x4(b[m], b[4 + m], 0xDD);
        c[4 * m + 2] = _mm512_shuffle_f32x4(b[8 + m], b[12 + m], 0x88);
        c[4 * m + 3] = _mm512_shuffle_f32x4(b[8 + m], b[12 + m], 0xDD);
    }
    for (int m = 0; m < 4; m++) {  /* column 4j+m: lane j of b[m], b[4+m], b[8+m], b[12+m] */
        r[m] = _mm512_shuffle_f32x4(c[4 * m], c[4 * m + 2], 0x88);
        r[8 + m] = _mm512_shuffle_f32x4(c[4 * m], c[4 * m + 2], 0xDD);
        r[4 + m] = _mm512_shuffle_f32x4(c[4 * m + 1], c[4 * m + 3], 0x88);
        r[12 + m] = _mm512_shuffle_f32x4(c[4 * m + 1], c[4 * m + 3], 0xDD);
    }
}

#elif defined(TL_ROUTE_AVX2)

static inline __m256i first_lanes(long n)
{
    int k = n <= 0 ? 0 : n >= 8 ? 8 : (int)n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf v_set1(float x) { return _mm256_set1_ps(x); }
static inline vf v_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf v_load_part(const float *p, long n)
{
    if (n >= 8)
        return v_load(p);
    return _mm256_maskload_ps(p, first_lanes(n));
}
static inline void v_store_part(float *p, vf v, long n)
{
    if (n >= 8)
        v_store(p, v);
    else
        _mm256_maskstore_ps(p, first_lanes(n), v);
}
static inline vf v_gather(const float *base, vi offsets, long n)
{
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base, (__m256i)offsets,
                                    _mm256_castsi256_ps(first_lanes(n)), 4);
}
/* base[offsets[l]] and base[offsets[l] + 1] for lanes l < n, as on AVX-512: two gathers
   of 8-byte pairs (4 lanes each), then the first floats to one vector, the second to the
   other: half the elements of two float gathers. The forward's patch transform
   (csrc/winograd.c) gathers so; measured at conv2 of bench/kernels.py on one thread of
   the 2-core AMD EPYC, its samples in a profile of the forward halved, the forward as a
   whole within the noise (the weight gradient, which gathered then too, took 5.0 ms
   against 5.8 to 6.3; it reads rows now, with v_transpose). */
static inline void v_gather_pairs(const float *base, vi offsets, long n, vf *first,
                                  vf *second)
{
    __m256i m = first_lanes(n);
    __m256 lo = _mm256_castpd_ps(_mm256_mask_i32gather_pd(
        _mm256_setzero_pd(), (const double *)base, _mm256_castsi256_si128((__m256i)offsets),
        _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(m))), 4));
    __m256 hi = _mm256_castpd_ps(_mm256_mask_i32gather_pd(
        _mm256_setzero_pd(), (const double *)base, _mm256_extracti128_si256((__m256i)offsets, 1),
        _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1))), 4));
    /* per 128-bit half: lanes (0, 1, 4, 5) below, (2, 3, 6, 7) above; then the 64-bit
       quarters reordered 0, 2, 1, 3 */
    __m256 a = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    __m256 b = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    *first = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(a), _MM_SHUFFLE(3, 1, 2, 0)));
    *second = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(b), _MM_SHUFFLE(3, 1, 2, 0)));
}
/* r[k][m] -> r[m][k] for an 8 x 8 block: 32-bit and 64-bit interleaves within the
   128-bit halves, then the halves exchanged: 24 shuffles and no memory. */
static inline void v_transpose(vf r[LANES])
{
    __m256 a[8], b[8];
    for (int k = 0; k < 4; k++) {
        a[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        a[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 2; k++) {  /* b[4k+m], half j: rows 4k..4k+3 at column 4j+m */
        b[4 * k] = _mm256_shuffle_ps(a[4 * k], a[4 * k + 2], 0x44);
        b[4 * k + 1] = _mm256_shuffle_ps(a[4 * k], a[4 * k + 2], 0xEE);
        b[4 * k + 2] = _mm256_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0x44);
        b[4 * k + 3] = _mm256_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0xEE);
    }
    for (int m = 0; m < 4; m++) {
        r[m] = _mm256_permute2f128_ps(b[m], b[4 + m], 0x20);
        r[4 + m] = _mm256_permute2f128_ps(b[m], b[4 + m], 0x31);
    }
}

#else  /* the base route: the plain definitions, lane by lane */

static inline vf v_set1(float x) { return (vf){x, x, x, x}; }  /* LANES is 4 here */
static inline vf v_fma(vf a, vf b, vf c) { return a * b + c; }  /* contracted where it can */
static inline vf v_load_part(const float *p, long n)
{
    if (n >= LANES)
        return v_load(p);
    vf v = v_zero();
    for (long l = 0; l < n; l++) v[l] = p[l];
    return v;
}
static inline void v_store_part(float *p, vf v, long n)
{
    if (n >= LANES) {
        v_store(p, v);
        return;
    }
    for (long l = 0; l < n; l++) p[l] = v[l];
}
static inline vf v_gather(const float *base, vi offsets, long n)
{
    vf v = v_zero();
    for (long l = 0; l < n && l < LANES; l++) v[l] = base[offsets[l]];
    return v;
}

#endif

#if !defined(TL_ROUTE_AVX512)  /* plain definitions where no one instruction does it */
static inline void v_scatter(float *base, vi offsets, vf v, long n)
{
    for (long l = 0; l < n && l < LANES; l++) base[offsets[l]] = v[l];
}
#endif
#if !defined(TL_ROUTE_AVX512) && !defined(TL_ROUTE_AVX2)
static inline void v_gather_pairs(const float *base, vi offsets, long n, vf *first,
                                  vf *second)
{
    *first = v_gather(base, offsets, n);
    *second = v_gather(base + 1, offsets, n);
}
/* r[k][m] -> r[m][k] for a LANES x LANES block. */
static inline void v_transpose(vf r[LANES])
{
    vf t[LANES];
    for (int k = 0; k < LANES; k++)
        for (int m = 0; m < LANES; m++)
            t[m][k] = r[k][m];
    for (int k = 0; k < LANES; k++)
        r[k] = t[k];
}
#endif

/* The first n of LANES int offsets at p (0 past n). */
static inline vi v_offsets_at(const int *p, long n)
{
    vi v = {0};
    for (long l = 0; l < n && l < LANES; l++) v[l] = p[l];
    return v;
}

#endif
