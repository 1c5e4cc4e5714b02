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
per-lane offsets, rows of 4 floats at per-lane offsets turned into 4 vectors, the
transpose of a block of LANES x LANES, and the fused multiply-add. Each has one plain
definition (lane by lane, in C), which the base route uses; AVX-512 and AVX2 replace the
ones that their instructions do in fewer steps.

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
/* Within each 128-bit lane, the 4 x 4 block of r[0..3]'s floats transposed: r[m] then
   holds, lane by lane, what column m of the four rows held. 32- and 64-bit interleaves,
   8 shuffles. */
static inline void v_transpose_quads(vf r[4])
{
    __m512 lo01 = _mm512_unpacklo_ps(r[0], r[1]), hi01 = _mm512_unpackhi_ps(r[0], r[1]);
    __m512 lo23 = _mm512_unpacklo_ps(r[2], r[3]), hi23 = _mm512_unpackhi_ps(r[2], r[3]);
    r[0] = _mm512_shuffle_ps(lo01, lo23, 0x44);
    r[1] = _mm512_shuffle_ps(lo01, lo23, 0xEE);
    r[2] = _mm512_shuffle_ps(hi01, hi23, 0x44);
    r[3] = _mm512_shuffle_ps(hi01, hi23, 0xEE);
}
/* q[s][l] = base[offsets[l] + s] for s < 4 and lanes l < n (base[s] past n): LANES
   rows of 4 floats, loaded whole, 4 tiles' rows in each 128-bit lane, then turned by
   v_transpose_quads. */
static inline void v_load_quads(const float *base, const int *offsets, long n, vf q[4])
{
    for (int k = 0; k < 4; k++) {  /* rows k, k + 4, k + 8, k + 12 in lanes 0 to 3 */
        __m512 v = _mm512_castps128_ps512(_mm_loadu_ps(base + (k < n ? offsets[k] : 0)));
        v = _mm512_insertf32x4(v, _mm_loadu_ps(base + (k + 4 < n ? offsets[k + 4] : 0)), 1);
        v = _mm512_insertf32x4(v, _mm_loadu_ps(base + (k + 8 < n ? offsets[k + 8] : 0)), 2);
        q[k] = _mm512_insertf32x4(v, _mm_loadu_ps(base + (k + 12 < n ? offsets[k + 12] : 0)),
                                  3);
    }
    v_transpose_quads(q);
}
/* r[k][m] -> r[m][k] for a 16 x 16 block: each 4 rows' quads transposed within the
   128-bit lanes, then twice 128-bit interleaves, 64 shuffles and no memory. */
static inline void v_transpose(vf r[LANES])
{
    __m512 c[16];
    for (int k = 0; k < 4; k++)  /* r[4k+m], lane j: rows 4k..4k+3 at column 4j+m */
        v_transpose_quads(r + 4 * k);
    for (int m = 0; m < 4; m++) {
        c[4 * m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x88);
        c[4 * m + 1] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xDD);
        c[4 * m + 2] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x88);
        c[4 * m + 3] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xDD);
    }
    for (int m = 0; m < 4; m++) {  /* column 4j+m: lane j of r[m], r[4+m], r[8+m], r[12+m] */
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
/* Within each 128-bit half, the 4 x 4 block of r[0..3]'s floats transposed, as on
   AVX-512: 8 shuffles. */
static inline void v_transpose_quads(vf r[4])
{
    __m256 lo01 = _mm256_unpacklo_ps(r[0], r[1]), hi01 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 lo23 = _mm256_unpacklo_ps(r[2], r[3]), hi23 = _mm256_unpackhi_ps(r[2], r[3]);
    r[0] = _mm256_shuffle_ps(lo01, lo23, 0x44);
    r[1] = _mm256_shuffle_ps(lo01, lo23, 0xEE);
    r[2] = _mm256_shuffle_ps(hi01, hi23, 0x44);
    r[3] = _mm256_shuffle_ps(hi01, hi23, 0xEE);
}
/* q[s][l] = base[offsets[l] + s] for s < 4 and lanes l < n (base[s] past n), as on
   AVX-512: rows of 4 floats loaded whole, two in each ymm, turned by v_transpose_quads.
   The forward's patch transform (csrc/winograd.c) reads its patches so, where it
   gathered pairs of floats before (its measurement is there). */
static inline void v_load_quads(const float *base, const int *offsets, long n, vf q[4])
{
    for (int k = 0; k < 4; k++)  /* rows k and k + 4 in the two halves */
        q[k] = _mm256_insertf128_ps(
            _mm256_castps128_ps256(_mm_loadu_ps(base + (k < n ? offsets[k] : 0))),
            _mm_loadu_ps(base + (k + 4 < n ? offsets[k + 4] : 0)), 1);
    v_transpose_quads(q);
}
/* r[k][m] -> r[m][k] for an 8 x 8 block: each 4 rows' quads transposed within the
   128-bit halves, then the halves exchanged: 24 shuffles and no memory. */
static inline void v_transpose(vf r[LANES])
{
    v_transpose_quads(r);      /* r[m], half j: rows 0..3 at column 4j+m */
    v_transpose_quads(r + 4);  /* r[4+m]: rows 4..7 */
    for (int m = 0; m < 4; m++) {
        vf low = _mm256_permute2f128_ps(r[m], r[4 + m], 0x20);
        r[4 + m] = _mm256_permute2f128_ps(r[m], r[4 + m], 0x31);
        r[m] = low;
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
static inline void v_load_quads(const float *base, const int *offsets, long n, vf q[4])
{
    for (int l = 0; l < LANES; l++) {
        const float *row = base + (l < n ? offsets[l] : 0);
        for (int s = 0; s < 4; s++)
            q[s][l] = row[s];
    }
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

#endif
