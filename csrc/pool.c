/* Max pooling's common window, 2x2 at stride 2 without padding, and the backward of any
max pooling, for tlcore._native: loops over chunks of whole planes shared out to
tlcore's own team (csrc/team.h), so that they run in parallel whatever the OpenMP
runtime's policy (the Cython loops of csrc/_native.pyx run on the calling thread where
its workers spin).
Included twice by csrc/route.h, with REAL float and POOL(name) name##_f32, then double
and _f64; the compiler vectorizes the forward's loop for the route.

    forward   out[p, i, j] = max(x[p, 2i, 2j], x[p, 2i, 2j+1], x[p, 2i+1, 2j],
              x[p, 2i+1, 2j+1]), argmax its flat index in the plane: the first of a tie
              in that order (a strict >), or a NaN's, so that the output is NaN (which
              NaN's index is not specified, as in the reference)
    backward  grad_x[p].flat[argmax[p, k]] += grad_out[p, k], in output order
*/

struct POOL(pool_job) {
    const REAL *src;
    const int64_t *argmax_in;
    long planes, height, width, out_h, out_w;
    REAL *dst;
    int64_t *argmax_out;
    long chunk;  /* planes per claim (tl_chunk) */
    long next;   /* the next chunk of planes, shared out one at a time */
};

static void POOL(forward_team)(void *arg, const tl_member *me)
{
    struct POOL(pool_job) *job = arg;
    long height = job->height, width = job->width, out_h = job->out_h, out_w = job->out_w;
    (void)me;
    for (long first, last; tl_claim_chunk(&job->next, job->planes, job->chunk, &first, &last);)
        for (long p = first; p < last; p++)
            for (long i = 0; i < out_h; i++) {
                const REAL *top = job->src + (p * height + 2 * i) * width;
                const REAL *bottom = top + width;
                REAL *out = job->dst + (p * out_h + i) * out_w;
                int64_t *at = job->argmax_out + (p * out_h + i) * out_w, row = 2 * i * width;
                for (long j = 0; j < out_w; j++) {
                    REAL best = top[2 * j], b = top[2 * j + 1], c = bottom[2 * j];
                    REAL d = bottom[2 * j + 1];
                    int64_t where = 0, up;
                    up = (b > best) | (b != b);
                    best = up ? b : best;
                    where = up ? 1 : where;
                    up = (c > best) | (c != c);
                    best = up ? c : best;
                    where = up ? width : where;
                    up = (d > best) | (d != d);
                    best = up ? d : best;
                    where = up ? width + 1 : where;
                    out[j] = best;
                    at[j] = row + 2 * j + where;
                }
            }
}

static void POOL(maxpool2x2_forward)(const REAL *x, long planes, long height, long width,
                                     long out_h, long out_w, REAL *out, int64_t *argmax,
                                     int threads)
{
    struct POOL(pool_job) job = {x, NULL, planes, height, width, out_h, out_w, out, argmax,
                                 tl_chunk(planes, planes * height * width), 0};
    tl_team_run(threads, POOL(forward_team), &job);
}

static void POOL(backward_team)(void *arg, const tl_member *me)
{
    struct POOL(pool_job) *job = arg;
    long size = job->height * job->width, outputs = job->out_h * job->out_w;
    (void)me;
    for (long first, last; tl_claim_chunk(&job->next, job->planes, job->chunk, &first, &last);)
        for (long p = first; p < last; p++) {
            const REAL *g = job->src + p * outputs;
            const int64_t *at = job->argmax_in + p * outputs;
            REAL *plane = job->dst + p * size;
            memset(plane, 0, size * sizeof(REAL));
            for (long k = 0; k < outputs; k++)
                plane[at[k]] += g[k];
        }
}

static void POOL(maxpool_backward)(const REAL *grad_out, const int64_t *argmax, long planes,
                                   long height, long width, long out_h, long out_w,
                                   REAL *grad_x, int threads)
{
    struct POOL(pool_job) job = {grad_out, argmax, planes, height, width, out_h, out_w,
                                 grad_x, NULL, tl_chunk(planes, planes * height * width), 0};
    tl_team_run(threads, POOL(backward_team), &job);
}
