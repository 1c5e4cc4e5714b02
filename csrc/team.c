/* The pool behind csrc/team.h: POSIX threads started on first use, asleep on a
condition variable between teams. */
#include "team.h"

#if !defined(_WIN32)
#include <pthread.h>
#include <sched.h>
#include <time.h>

#define MOST_THREADS 256

/* Before it sleeps, a waiting thread checks again and again, a pause apart (25 ns each
   on the 2-core AMD EPYC): inside a team (for a loop's last task, or the caller waiting
   for the workers to finish) and between teams alike, for up to SPINS pauses, about a
   millisecond. Waking a thread that slept costs more than its work here: in this 2-core
   virtual machine, with threads that slept at once, conv2's weight gradient (then with
   33 barriers) took 8.5 ms instead of 3.9, and its forward 3.7 ms instead of 2.5, when
   called in a training step's rhythm (after a pause, one call after another). An OpenMP
   runtime's default spin is some 7 ms after every parallel region (GOMP_SPINCOUNT
   300,000); this one frees the cores a millisecond after the kernels stop. Measured at
   conv2, bench/kernels.py's rhythm, medians of 40 calls: forward, input gradient and
   weight gradient 2.2, 2.3 and 3.0 ms with 40,000 pauses; 2.5, 2.8 and 3.6 ms with
   12,000; 2.8, 5.8 and 3.3 ms with 2,000 between teams. */
#define SPINS 40000
/* ... and every YIELD_EVERY pauses it offers its core to the scheduler: where other
   threads want the cores (another library's workers spinning after their calls, say
   OpenBLAS's for some 0.1 s), a teammate that is ready but not running gets on.
   Measured with bench/neighbours.py, tlcore's conv2 step in a process with an MLP's
   GEMMs: median 44 to 51 ms without (its p10 7.6), 13 ms with; conv2's three kernels
   in bench/kernels.py's rhythm 9.1 ms without, 7.9 with. */
#define YIELD_EVERY 64

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Waits, a while awake and then asleep on cond, until *value != seen; called and
   returning with lock held. */
static void wait_change(const volatile unsigned long *value, unsigned long seen, int spins,
                        pthread_mutex_t *lock, pthread_cond_t *cond)
{
    pthread_mutex_unlock(lock);
    for (int i = 0; i < spins && __atomic_load_n(value, __ATOMIC_ACQUIRE) == seen; i++) {
        relax();
        if (i % YIELD_EVERY == YIELD_EVERY - 1)
            sched_yield();  /* a teammate waiting for a core may take this one */
    }
    pthread_mutex_lock(lock);
    while (*value == seen)
        pthread_cond_wait(cond, lock);
}

struct tl_team {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    unsigned long generation;  /* one more for each team that runs */
    unsigned long finished;    /* workers done with the current team */
    unsigned long joined;      /* workers that started on the current team */
    int threads;
    int open;                  /* whether a worker may still join the current team */
    tl_body body;
    void *ctx;
};

static struct tl_team pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                              PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, NULL, NULL};
static pthread_mutex_t one_team = PTHREAD_MUTEX_INITIALIZER;
static int workers;  /* started, numbered 1..workers */
static unsigned long started_at[MOST_THREADS];  /* the generation each worker saw last */

static void *worker(void *arg)
{
    int number = (int)(long)arg;
    pthread_mutex_lock(&pool.lock);
    unsigned long seen = started_at[number];
    for (;;) {
        wait_change(&pool.generation, seen, SPINS, &pool.lock, &pool.wake);
        seen = pool.generation;
        if (number >= pool.threads || !pool.open)
            continue;  /* a smaller team than the pool, or one that ended without us */
        pool.joined++;
        tl_member me = {number, pool.threads};
        tl_body body = pool.body;
        void *ctx = pool.ctx;
        pthread_mutex_unlock(&pool.lock);
        body(ctx, &me);
        pthread_mutex_lock(&pool.lock);
        __atomic_store_n(&pool.finished, pool.finished + 1, __ATOMIC_RELEASE);
        pthread_cond_signal(&pool.done);  /* the caller waits for a count: check it */
    }
    return NULL;
}

/* A forked child has none of its parent's threads: it starts its own. */
static void forget_workers(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    pthread_mutex_init(&one_team, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    workers = 0;
}

/* Starts workers up to threads - 1 (fewer if the system refuses one); returns the
   team's size. Called with pool.lock held. */
static int grow(int threads)
{
    static int registered;
    if (!registered) {
        pthread_atfork(NULL, NULL, forget_workers);
        registered = 1;
    }
    pthread_attr_t detached;
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    while (workers < threads - 1) {
        pthread_t thread;
        started_at[workers + 1] = pool.generation;
        if (pthread_create(&thread, &detached, worker, (void *)(long)(workers + 1)) != 0)
            break;
        workers++;
    }
    pthread_attr_destroy(&detached);
    return threads < workers + 1 ? threads : workers + 1;
}

/* Starts a team: its workers wake, and join it until the caller closes it. Returns the
   team's size: 1 where the caller runs alone (one thread asked for, or another team
   running). */
static int open_team(int threads, tl_body body, void *ctx)
{
    if (threads > MOST_THREADS)
        threads = MOST_THREADS;
    if (threads <= 1 || pthread_mutex_trylock(&one_team) != 0)
        return 1;
    pthread_mutex_lock(&pool.lock);
    threads = grow(threads);
    pool.threads = threads;
    pool.body = body;
    pool.ctx = ctx;
    pool.finished = 0;
    pool.joined = 0;
    pool.open = 1;
    __atomic_store_n(&pool.generation, pool.generation + 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    return threads;
}

/* Closes the team, so that a worker waking from now on skips it, and waits for the
   workers that joined while the caller ran its own part. */
static void close_team(void)
{
    pthread_mutex_lock(&pool.lock);
    pool.open = 0;
    for (unsigned long done = pool.finished; done < pool.joined; done = pool.finished)
        wait_change(&pool.finished, done, SPINS, &pool.lock, &pool.done);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&one_team);
}

void tl_team_run(int threads, tl_body body, void *ctx)
{
    threads = open_team(threads, body, ctx);
    tl_member me = {0, threads};
    body(ctx, &me);  /* the caller is member 0 */
    if (threads > 1)
        close_team();
}

/* A teammate that claimed the last tasks finishes them within one task's time, unless
   it is kept off its core; so this waits awake for SPINS pauses, offering the core now
   and then, and after that naps: an idle core is one the scheduler may move the
   teammate to. */
void tl_wait_done(const long *done, long tasks)
{
    struct timespec nap = {0, 20000};  /* 20 us */
    for (long i = 1; __atomic_load_n(done, __ATOMIC_ACQUIRE) < tasks; i++) {
        if (i > SPINS) {
            nanosleep(&nap, NULL);
            continue;
        }
        relax();
        if (i % YIELD_EVERY == 0)
            sched_yield();
    }
}

int tl_team_workers(void)
{
    return workers;
}

#else  /* no POSIX threads: every team is the calling thread */

void tl_team_run(int threads, tl_body body, void *ctx)
{
    tl_member alone = {0, 1};
    (void)threads;
    body(ctx, &alone);
}

void tl_wait_done(const long *done, long tasks) { (void)done; (void)tasks; }

int tl_team_workers(void) { return 0; }

#endif
