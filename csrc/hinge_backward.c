/* The hinge-max loss's fused sparse backward, for tlcore._native, on tlcore's own team
(csrc/team.h), so that it runs in parallel whatever the OpenMP runtime's policy. With
w = weight[n], y = target[n] and m = negative[n] (the forward's arg-max over the other
classes):

    grad_f[n] = w * (g[m] - g[y])
    grad_g[c] = the sum, in sample order, of +w f[n] over the samples whose m is c and
                of -w f[n] over those whose y is c

grad_f: one task per sample. grad_g: the samples with w != 0 are first put in buckets
by the class they touch (a counting sort, O(N + C), on the calling thread, in sample
order), then one task per class sums its bucket into its row: no two threads write one
row, no atomics, and the same bits at any number of threads. O(N*D). Both loops claim
their tasks in chunks (tl_chunk: a row of D elements is small work for a claim).
Included twice by csrc/route.h, with REAL float and SPARSE(name) name##_f32, then double
and _f64; the compiler vectorizes the loops along D for the route.
*/

struct SPARSE(hinge_backward_job) {
    const REAL *f, *g, *weight;
    const int64_t *target, *negative;
    const int64_t *start, *bucket;  /* class c's bucket: bucket[start[c]:start[c + 1]] */
    long rows, dim, classes;
    REAL *grad_f, *grad_g;
    long next_row, next_class;  /* the next chunk of each loop, shared out one at a time */
};

static void SPARSE(hinge_backward_team)(void *arg, const tl_member *me)
{
    struct SPARSE(hinge_backward_job) *job = arg;
    (void)me;  /* both loops are claimed (csrc/team.h) */
    long dim = job->dim, rows = job->rows, classes = job->classes;
    long chunk = tl_chunk(rows, rows * dim);  /* samples per claim */
    for (long first, last; tl_claim_chunk(&job->next_row, rows, chunk, &first, &last);)
        for (long n = first; n < last; n++) {
            const REAL *plus = job->g + job->negative[n] * dim;
            const REAL *minus = job->g + job->target[n] * dim;
            REAL w = job->weight[n], *out = job->grad_f + n * dim;
            for (long d = 0; d < dim; d++)
                out[d] = w * (plus[d] - minus[d]);
        }
    /* grad_g's rows read f and the weights only: no wait for grad_f's */
    chunk = tl_chunk(classes, (classes + 2 * rows) * dim);  /* rows cleared, buckets added */
    for (long first, last; tl_claim_chunk(&job->next_class, classes, chunk, &first, &last);)
        for (long c = first; c < last; c++) {
            REAL *row = job->grad_g + c * dim;
            memset(row, 0, dim * sizeof(REAL));
            for (long k = job->start[c]; k < job->start[c + 1]; k++) {
                /* 2n: sample n adds; 2n + 1: subtracts */
                long e = job->bucket[k], n = e >> 1;
                REAL s = (e & 1) ? -job->weight[n] : job->weight[n];
                const REAL *from = job->f + n * dim;
                for (long d = 0; d < dim; d++)
                    row[d] += s * from[d];
            }
        }
}

static int SPARSE(hinge_backward)(const REAL *f, const REAL *g, long rows, long classes,
                                  long dim, const int64_t *target, const int64_t *negative,
                                  const REAL *weight, REAL *grad_f, REAL *grad_g, int threads)
{
    int64_t *start = calloc(classes + 2, sizeof(int64_t));
    int64_t *bucket = malloc((2 * rows > 0 ? 2 * rows : 1) * sizeof(int64_t));
    if (!start || !bucket) {
        free(start); free(bucket);
        return -1;
    }
    /* count each class's entries at start[c + 2], sum to make start[c + 1] the first of
       bucket c, then fill: start[c + 1] moves to the end of bucket c, which is where
       bucket c + 1 begins */
    for (long n = 0; n < rows; n++)
        if (weight[n] != 0) {
            start[negative[n] + 2]++;
            start[target[n] + 2]++;
        }
    for (long c = 2; c < classes + 2; c++)
        start[c] += start[c - 1];
    for (long n = 0; n < rows; n++)
        if (weight[n] != 0) {
            bucket[start[negative[n] + 1]++] = 2 * n;
            bucket[start[target[n] + 1]++] = 2 * n + 1;
        }
    struct SPARSE(hinge_backward_job) job = {f, g, weight, target, negative, start, bucket,
                                             rows, dim, classes, grad_f, grad_g, 0, 0};
    tl_team_run(threads, SPARSE(hinge_backward_team), &job);
    free(start);
    free(bucket);
    return 0;
}

