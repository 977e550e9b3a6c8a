#define _POSIX_C_SOURCE 200809L /* sysconf, pthread_once */
/* General matrix product: picks one kernel variant at the first call, from
 * the variants compiled in (ops/gemm_avx512.c, ops/gemm_avx2.c on x86;
 * ops/gemm_portable.c everywhere) and the features of the CPU it runs on. */
#include "ops/gemm.h"

#include "core/parallel.h"

#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

extern const tg_gemm_variant tg_gemm_variant_portable;
#if defined(__x86_64__) || defined(__i386__)
extern const tg_gemm_variant tg_gemm_variant_avx512, tg_gemm_variant_avx2;
#endif

/* All variants, fastest first. */
static const tg_gemm_variant *const variants[] = {
#if defined(__x86_64__) || defined(__i386__)
    &tg_gemm_variant_avx512,
    &tg_gemm_variant_avx2,
#endif
    &tg_gemm_variant_portable,
};
#define N_VARIANTS ((int)(sizeof variants / sizeof variants[0]))

/* Bit i set: this CPU runs variants[i]; 0 until the first call (threads that
 * race to fill it store the same value). */
static atomic_uint runnable;

static unsigned gemm_runnable(void) {
    unsigned mask = atomic_load_explicit(&runnable, memory_order_relaxed);
    if (mask) return mask;
    mask = 1u << (N_VARIANTS - 1); /* portable */
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
        mask |= 1u << 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) mask |= 1u << 1;
#endif
    atomic_store_explicit(&runnable, mask, memory_order_relaxed);
    return mask;
}

/* ---- cache sizes ---- */

static int64_t cache_size(int name, int64_t fallback, int64_t lo, int64_t hi) {
    long bytes = name >= 0 ? sysconf(name) : -1;
    int64_t b = bytes > 0 ? (int64_t)bytes : fallback;
    return b < lo ? lo : b > hi ? hi : b;
}

#ifndef _SC_LEVEL1_DCACHE_SIZE /* glibc names them; elsewhere the fallbacks */
#define _SC_LEVEL1_DCACHE_SIZE (-1)
#define _SC_LEVEL2_CACHE_SIZE (-1)
#define _SC_LEVEL3_CACHE_SIZE (-1)
#endif

static tg_gemm_caches detected, forced;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static atomic_bool use_forced;

static void detect_caches(void) {
    detected.l1 = cache_size(_SC_LEVEL1_DCACHE_SIZE, 32 << 10, 16 << 10, 256 << 10);
    detected.l2 = cache_size(_SC_LEVEL2_CACHE_SIZE, 512 << 10, 128 << 10, 8 << 20);
    /* at most 32 MiB, the L3 one chiplet of a large server part shares: a
     * virtual machine may report the whole host's (the 2-core Zen 5 VM: 508
     * MiB), and blocking for that made square 2048 products with two
     * threads 4-6% slower (groups of B too large for the L3 there is) */
    detected.l3 = cache_size(_SC_LEVEL3_CACHE_SIZE, 8 << 20, 2 * detected.l2, (int64_t)32 << 20);
}

const tg_gemm_caches *tg_gemm_cache_sizes(void) {
    if (atomic_load_explicit(&use_forced, memory_order_acquire)) return &forced;
    pthread_once(&detect_once, detect_caches);
    return &detected;
}

void tg_gemm_set_cache_sizes(const tg_gemm_caches *sizes) {
    if (sizes) forced = *sizes;
    atomic_store_explicit(&use_forced, sizes != NULL, memory_order_release);
}

/* ---- when to use threads ---- */

/* About 10 us of work on one core (an MLP's output layer at batch 128,
 * 128x256x10 in f32, is just above): a parallel region costs a few
 * microseconds on a quiet machine, and machines busier than their cores
 * send the regions to one thread (core/parallel's back-off). Measured on a
 * 2-core AVX2 machine: the products with 10 outputs of batch 128 and 256
 * went from 1.0x to 1.4-2x with two threads once above it. */
#define DEFAULT_PARALLEL_WORK ((double)(1 << 20))

static _Atomic double parallel_work = DEFAULT_PARALLEL_WORK;
static atomic_bool parallel_work_set; /* by a test: threads whatever the load */

double tg_gemm_parallel_work(void) { return atomic_load_explicit(&parallel_work, memory_order_relaxed); }

void tg_gemm_set_parallel_work(double work) {
    atomic_store_explicit(&parallel_work, work < 0 ? DEFAULT_PARALLEL_WORK : work, memory_order_relaxed);
    atomic_store_explicit(&parallel_work_set, work >= 0, memory_order_relaxed);
}

static atomic_int late_tid = -1, late_us;

void tg_gemm_set_late_thread(int tid, int microseconds) {
    atomic_store_explicit(&late_us, microseconds, memory_order_relaxed);
    atomic_store_explicit(&late_tid, tid, memory_order_relaxed);
}

void tg_gemm_arrive(int tid) {
    if (atomic_load_explicit(&late_tid, memory_order_relaxed) != tid) return;
    int us = atomic_load_explicit(&late_us, memory_order_relaxed);
    nanosleep(&(struct timespec){.tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000L}, NULL);
}

/* ---- whether this product gets threads (core/parallel's back-off) ---- */

bool tg_gemm_threads_pay(void) {
    if (atomic_load_explicit(&parallel_work_set, memory_order_relaxed))
        return tg_get_num_threads() > 1 && omp_in_parallel() == 0;
    return tg_parallel_available();
}

/* ---- threads by size, measured ----
 * Whether a second thread pays for a product near the threshold depends on
 * the machine (a region costs under a microsecond on one, 3 us on another,
 * and moving the other core's share of the data as much again). So products
 * are sorted by work into octaves from the threshold up; each octave keeps
 * its seconds per unit of work with threads and alone (the best of the
 * first tries, where caches and pages are still cold, then a running
 * average, a sample counted at most twice the average so far: one preempted
 * product does not decide), tries each way FIRST_TRIES times, threads first, then
 * takes the faster and tries the other way every RETRY_EVERY-th product
 * (machines change). Above the last octave threads always pay. The same
 * bits either way. */
enum { OCTAVES = 10, FIRST_TRIES = 3, RETRY_EVERY = 32 };

typedef struct {
    _Atomic double seconds_per_work[2]; /* [alone, threads] */
    atomic_int tries[2];
    atomic_int calls; /* since the first tries */
} octave;
static octave octaves[OCTAVES];

/* the octave of `work` (OCTAVES: above the last) */
static int octave_of(double work) {
    int o = 0;
    for (double top = 2 * DEFAULT_PARALLEL_WORK; work >= top && o < OCTAVES; top *= 2) o++;
    return o;
}

bool tg_gemm_threads_for(double work) {
    int o = octave_of(work);
    if (o >= OCTAVES || atomic_load_explicit(&parallel_work_set, memory_order_relaxed)) return true;
    octave *v = &octaves[o];
    int alone = atomic_load_explicit(&v->tries[0], memory_order_relaxed);
    int threads = atomic_load_explicit(&v->tries[1], memory_order_relaxed);
    if (alone < FIRST_TRIES || threads < FIRST_TRIES) return threads <= alone;
    bool faster = atomic_load_explicit(&v->seconds_per_work[1], memory_order_relaxed) <
                  atomic_load_explicit(&v->seconds_per_work[0], memory_order_relaxed);
    int call = atomic_fetch_add_explicit(&v->calls, 1, memory_order_relaxed);
    return call % RETRY_EVERY == RETRY_EVERY - 1 ? !faster : faster;
}

void tg_gemm_note_time(double work, bool threads, double seconds) {
    int o = octave_of(work);
    if (o >= OCTAVES || work <= 0 || atomic_load_explicit(&parallel_work_set, memory_order_relaxed)) return;
    octave *v = &octaves[o];
    double sample = seconds / work;
    int n = atomic_fetch_add_explicit(&v->tries[threads], 1, memory_order_relaxed);
    double average = atomic_load_explicit(&v->seconds_per_work[threads], memory_order_relaxed);
    double next = n == 0                ? sample
                  : n < FIRST_TRIES     ? (sample < average ? sample : average) /* the first tries: the best */
                  : sample > 2 * average ? 1.25 * average                       /* counted as twice the average */
                                         : 0.75 * average + 0.25 * sample;
    atomic_store_explicit(&v->seconds_per_work[threads], next, memory_order_relaxed);
}

void tg_gemm_forget_times(void) {
    for (int o = 0; o < OCTAVES; o++) {
        octave *v = &octaves[o];
        for (int w = 0; w < 2; w++) {
            atomic_store_explicit(&v->seconds_per_work[w], 0, memory_order_relaxed);
            atomic_store_explicit(&v->tries[w], 0, memory_order_relaxed);
        }
        atomic_store_explicit(&v->calls, 0, memory_order_relaxed);
    }
}

/* ---- variants ---- */

static const tg_gemm_variant *gemm_variant(void) { return tg_gemm_variant_at(0); }

const tg_gemm_variant *tg_gemm_variant_at(int i) {
    unsigned mask = gemm_runnable();
    for (int v = 0; v < N_VARIANTS; v++)
        if (mask >> v & 1u && i-- == 0) return variants[v];
    return NULL;
}

size_t tg_gemm_scratch_bytes(tg_dtype dtype, int64_t M, int64_t N, int64_t K) {
    const tg_gemm_variant *v = gemm_variant();
    return dtype == TG_F32 ? v->scratch_f32(M, N, K) : v->scratch_f64(M, N, K);
}

void tg_gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float *C, int64_t ldc, void *scratch, size_t scratch_bytes) {
    gemm_variant()->gemm_f32(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, scratch, scratch_bytes);
}

void tg_gemm_f64(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                 const double *B, int64_t ldb, double *C, int64_t ldc, void *scratch, size_t scratch_bytes) {
    gemm_variant()->gemm_f64(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, scratch, scratch_bytes);
}

const char *tg_gemm_kernel_name(void) { return gemm_variant()->name; }
