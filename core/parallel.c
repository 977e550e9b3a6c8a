#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "core/parallel.h"

#include <omp.h>
#include <stdatomic.h>
#include <time.h>

enum { FIRST_BACKOFF = 16, LAST_BACKOFF = 4096, LATE_IN_A_ROW = 3 };

static _Atomic int64_t backoff_left;                  /* regions still to run alone */
static _Atomic int64_t backoff_next = FIRST_BACKOFF; /* the next back-off's length */
static _Atomic int late_regions;                      /* late regions in a row so far */

/* ---- the timing of steps (core/parallel.h) ---- */
/* A trial: blocks of BLOCK_STEPS steps, with threads and alone in turn; the
 * first SETTLE_STEPS of a block are not timed (a switch moves data between
 * the cores' caches, and the step after it pays for that). */
enum { WARMUP_STEPS = 3, BLOCK_STEPS = 8, SETTLE_STEPS = 2, TRIAL_BLOCKS = 4, FIRST_RUN = 256, LAST_RUN = 8192 };
enum { TRIAL_STEPS = BLOCK_STEPS * TRIAL_BLOCKS, TIMED_PER_WAY = TRIAL_STEPS / 2 - SETTLE_STEPS * TRIAL_BLOCKS / 2 };
#define SWITCH_GAIN 0.95 /* the other way must be 5% faster to be taken */

static atomic_bool choice_by_timing = true;
static atomic_bool steps_alone;   /* this step runs on the calling thread alone */
static atomic_flag steps_busy;    /* a tape's reset is updating `steps` (another tape's skips) */
static struct {
    enum { WARMING, TRYING, RUNNING } phase;
    double start;                 /* when the current step began; 0: not yet known */
    int left;                     /* steps left in warm-up or run */
    int trial_step;               /* steps of the trial begun so far */
    bool timed;                   /* the current step is timed */
    int count[2];                 /* trial steps timed [with threads, alone] */
    double seconds[2][TIMED_PER_WAY];
    int run;                      /* the next run's length */
    bool last_alone;              /* the last trial's choice */
} steps = {.phase = WARMING, .left = WARMUP_STEPS, .run = FIRST_RUN};

static void steps_restart(void) {
    while (atomic_flag_test_and_set_explicit(&steps_busy, memory_order_acquire)) {
    }
    steps.phase = WARMING;
    steps.start = 0;
    steps.left = WARMUP_STEPS;
    steps.timed = false;
    steps.run = FIRST_RUN;
    steps.last_alone = false;
    atomic_store_explicit(&steps_alone, false, memory_order_relaxed);
    atomic_flag_clear_explicit(&steps_busy, memory_order_release);
}

static double median(double *x, int n) {
    for (int i = 1; i < n; i++) /* insertion sort: n <= TIMED_PER_WAY */
        for (int j = i; j > 0 && x[j - 1] > x[j]; j--) {
            double swap = x[j];
            x[j] = x[j - 1];
            x[j - 1] = swap;
        }
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* The trial's verdict, then a run of steps with it: the way of the last run
 * (threads at first) is kept unless the other way is 5% faster. A trial
 * flatters threads (its blocks are short: the data has not yet spread over
 * both cores' caches as in a long run with threads), so with one threshold
 * for both ways a machine where the calling thread alone was 4-9% faster in
 * trials (and 29% over whole runs) switched ways at every trial and ran
 * every other run with threads. */
static void steps_decide(void) {
    bool alone = steps.last_alone;
    if (steps.count[0] > 0 && steps.count[1] > 0) {
        double threads = median(steps.seconds[0], steps.count[0]), by_itself = median(steps.seconds[1], steps.count[1]);
        alone = steps.last_alone ? !(threads < SWITCH_GAIN * by_itself) : by_itself < SWITCH_GAIN * threads;
    }
    steps.run = alone == steps.last_alone && steps.run < LAST_RUN ? 2 * steps.run : FIRST_RUN;
    steps.last_alone = alone;
    steps.phase = RUNNING;
    steps.left = steps.run;
    atomic_store_explicit(&steps_alone, alone, memory_order_relaxed);
}

void tg_parallel_step_ended(double now) {
    if (!atomic_load_explicit(&choice_by_timing, memory_order_relaxed) || omp_get_max_threads() <= 1 ||
        omp_in_parallel() || atomic_flag_test_and_set_explicit(&steps_busy, memory_order_acquire))
        return;
    bool was_alone = atomic_load_explicit(&steps_alone, memory_order_relaxed);
    if (steps.timed && steps.start > 0 && now > steps.start) {
        int who = was_alone ? 1 : 0;
        if (steps.count[who] < TIMED_PER_WAY) steps.seconds[who][steps.count[who]++] = now - steps.start;
    }
    steps.start = now;
    steps.timed = false;
    if (steps.phase != TRYING && --steps.left <= 0) { /* warm-up or run over: a trial */
        steps.phase = TRYING;
        steps.trial_step = 0;
        steps.count[0] = steps.count[1] = 0;
    }
    if (steps.phase == TRYING) {
        if (steps.trial_step == TRIAL_STEPS) {
            steps_decide();
        } else { /* blocks in turn, threads first */
            int in_block = steps.trial_step % BLOCK_STEPS;
            steps.timed = in_block >= SETTLE_STEPS;
            atomic_store_explicit(&steps_alone, steps.trial_step / BLOCK_STEPS % 2 == 1, memory_order_relaxed);
            steps.trial_step++;
        }
    }
    atomic_flag_clear_explicit(&steps_busy, memory_order_release);
}

void tg_set_thread_choice_by_timing(bool on) {
    atomic_store_explicit(&choice_by_timing, on, memory_order_relaxed);
    steps_restart();
}

bool tg_thread_choice_by_timing(void) { return atomic_load_explicit(&choice_by_timing, memory_order_relaxed); }

int tg_threads_for(int64_t work) {
    if (work < TG_PARALLEL_MIN || omp_in_parallel()) return 1;
    return tg_threads_per_step();
}

int tg_threads_per_step(void) {
    return atomic_load_explicit(&steps_alone, memory_order_relaxed) ? 1 : omp_get_max_threads();
}

/* (a thread count set on purpose starts without a back-off) */
void tg_set_num_threads(int n) {
    if (n <= 0) return;
    omp_set_num_threads(n);
    atomic_store_explicit(&backoff_left, 0, memory_order_relaxed);
    atomic_store_explicit(&backoff_next, FIRST_BACKOFF, memory_order_relaxed);
    atomic_store_explicit(&late_regions, 0, memory_order_relaxed);
    steps_restart();
}

int tg_get_num_threads(void) { return omp_get_max_threads(); }

bool tg_parallel_available(void) {
    if (omp_get_max_threads() <= 1 || omp_in_parallel()) return false;
    if (atomic_load_explicit(&steps_alone, memory_order_relaxed)) return false;
    if (atomic_load_explicit(&backoff_left, memory_order_relaxed) <= 0) return true;
    atomic_fetch_sub_explicit(&backoff_left, 1, memory_order_relaxed);
    return false;
}

/* Late: the others arrived more than twice the share and 200 us after the
 * calling thread was done (uneven shares or a busy moment stay well below).
 * One late region is a hiccup (a virtual machine's core taken away for a
 * moment): only LATE_IN_A_ROW of them in a row say the machine is busier
 * than its cores. */
void tg_parallel_note_region(double share, double wait) {
    if (wait > 2 * share + 200e-6) {
        if (atomic_fetch_add_explicit(&late_regions, 1, memory_order_relaxed) + 1 < LATE_IN_A_ROW) return;
        atomic_store_explicit(&late_regions, 0, memory_order_relaxed);
        int64_t next = atomic_load_explicit(&backoff_next, memory_order_relaxed);
        atomic_store_explicit(&backoff_left, next, memory_order_relaxed);
        atomic_store_explicit(&backoff_next, next < LAST_BACKOFF ? 2 * next : LAST_BACKOFF, memory_order_relaxed);
    } else {
        atomic_store_explicit(&late_regions, 0, memory_order_relaxed);
        atomic_store_explicit(&backoff_next, FIRST_BACKOFF, memory_order_relaxed);
    }
}

double tg_parallel_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tg_region_start(tg_region *r) { r->start = r->share_done = tg_parallel_now(); }
void tg_region_share_done(tg_region *r) {
    if (omp_get_thread_num() == 0) r->share_done = tg_parallel_now();
}
void tg_region_end(tg_region *r) {
    double end = tg_parallel_now();
    tg_parallel_note_region(r->share_done - r->start, end - r->share_done);
}

int tg_thread_index(void) { return omp_get_thread_num(); }

/* Each segment cut into one contiguous part per thread: thread `id` of
 * `threads` gets [sizes[s] * id / threads, sizes[s] * (id + 1) / threads)
 * of every segment s. */
static void run_parts(int count, const int64_t *sizes, tg_segment_fn piece, void *context, int64_t id,
                      int64_t threads) {
    for (int s = 0; s < count; s++) {
        int64_t begin = sizes[s] * id / threads, end = sizes[s] * (id + 1) / threads;
        if (begin < end) piece(context, s, begin, end);
    }
}

void tg_parallel_segments(int count, const int64_t *sizes, tg_segment_fn piece, void *context) {
    int64_t total = 0;
    for (int s = 0; s < count; s++) total += sizes[s];
    if (!TG_PARALLEL_WORTH(total)) {
        run_parts(count, sizes, piece, context, 0, 1);
        return;
    }
    tg_region region;
    tg_region_start(&region);
#pragma omp parallel
    {
        run_parts(count, sizes, piece, context, omp_get_thread_num(), omp_get_num_threads());
        tg_region_share_done(&region);
    }
    tg_region_end(&region);
}
