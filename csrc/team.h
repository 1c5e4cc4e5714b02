/* tlcore's own threads for the compiled routes' kernels (csrc/conv.c, csrc/winograd.c,
csrc/hinge.c, csrc/hinge_backward.c, csrc/pool.c): a small pool of POSIX threads whose
idle workers sleep, so that no library in the process, PyTorch above all, has to change
how its own threads wait.

Why not OpenMP, as csrc/_native.pyx's loops: PyTorch ships the same OpenMP runtime
(libgomp.so.1), so one copy serves both, and its idle workers spin unless
OMP_WAIT_POLICY=PASSIVE is set before it loads. Spinning workers hold the cores that
the next GEMM needs (measured on 2 cores: a small GEMM after an OpenMP kernel 8 ms
instead of 0.05 ms); a PASSIVE runtime makes PyTorch 2 to 3x slower. This pool is
tlcore's alone: its workers wait on a condition variable, and wake when a kernel calls.

    tl_team_run(threads, body, ctx)   runs body(ctx, &me) on the caller, as thread 0, and
                                      on the workers (up to threads - 1) that start
                                      before the caller's own body returns; returns when
                                      those are done
    tl_claim(&counter)                the next task of a loop shared out one at a time
                                      (OpenMP's schedule(dynamic)): counter starts at 0
    tl_chunk(tasks, work)             how many small tasks one claim should take
    tl_claim_chunk(&counter, tasks, chunk, &first, &last)
                                      the next chunk of such a loop: tasks first..last-1
    tl_done(&done, count)             count tasks of such a loop finished by this thread
    tl_wait_done(&done, tasks)        waits until all its tasks are finished: the end of
                                      a loop whose results every thread reads next (a
                                      packed operand, a chunk's sums)

So a body shares its work by claims alone: no barrier, no work given by thread number
(me->thread only picks the thread's own scratch). A worker kept off its core (a
neighbour's spinning thread on it: OpenBLAS's after a GEMM) then costs the team its
help, not a wait: the caller claims what no worker has, and a worker that starts late
finds the loops done and goes on, or finds the team closed and skips it. Every loop has
its own counters (a loop run once per chunk, one pair per chunk), since without a
barrier no thread could set one back to 0 safely.

One team runs at a time: a call while another runs (from another Python thread) runs
its body on the calling thread alone. Where POSIX threads are missing, every team has
one thread.
*/
#ifndef TL_TEAM_H
#define TL_TEAM_H

typedef struct {
    int thread, threads;  /* this thread's number, and the team's size */
} tl_member;

typedef void (*tl_body)(void *ctx, const tl_member *me);

void tl_team_run(int threads, tl_body body, void *ctx);
void tl_wait_done(const long *done, long tasks);

/* The next task number of a shared loop (its counter starts at 0, and serves that loop
   alone). */
static inline long tl_claim(long *counter)
{
    return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

/* Claims the next `chunk` tasks of a loop of `tasks`: sets [*first, *last) and returns
   1, or returns 0 once none is left. */
static inline int tl_claim_chunk(long *counter, long tasks, long chunk, long *first,
                                 long *last)
{
    *first = tl_claim(counter) * chunk;
    *last = *first + chunk < tasks ? *first + chunk : tasks;
    return *first < tasks;
}

/* Adds count to the tasks of a claimed loop that are finished (tl_wait_done reads it). */
static inline void tl_done(long *done, long count)
{
    __atomic_fetch_add(done, count, __ATOMIC_RELEASE);
}

/* A claim moves the counter's cache line from one core to another: on the 2-core AMD
   EPYC, as long as max-pooling one 8x8 plane takes. Claimed one at a time, the 1,024 8x8
   planes of the digits CNN's first pooling ran 6x slower on 2 threads than on one (210
   against 35 us, outputs preallocated), and the hinge-max backward's 20,000 class rows
   (N 4096, D 64) 3.7x slower (1136 against 306 us). So a loop of small tasks claims
   them TL_CLAIM_WORK elements of work at a time. */
#define TL_CLAIM_WORK 4096

/* Tasks per claim for `tasks` tasks that touch `work` elements in all: as many as make
   TL_CLAIM_WORK elements, one at least. */
static inline long tl_chunk(long tasks, long work)
{
    long claims = work / TL_CLAIM_WORK;  /* the most claims that are worth their cost */
    if (claims >= tasks)
        return 1;
    if (claims < 1)
        return tasks > 0 ? tasks : 1;
    return (tasks + claims - 1) / claims;
}

/* The workers the pool has started so far (0 until a team of 2 or more runs). */
int tl_team_workers(void);

#endif
