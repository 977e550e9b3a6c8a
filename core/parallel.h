/* OpenMP helpers: the one place that decides whether work runs on several
 * threads.
 *
 * Work below TG_PARALLEL_MIN elements, work on a single thread, and work
 * already inside a parallel region run as a plain loop on the calling thread:
 * no parallel region at all. (An OpenMP `if` clause is not enough: with libgomp
 * a false `if` still builds a one-thread team and makes a system call, about a
 * microsecond per kernel, which a chain of tiny ops pays on every op.)
 * TG_PARALLEL_MIN is 64 Ki elements (256 KiB of f32): on the 2-core hosts
 * tapegrad is measured on, a pass over a [128, 256] activation (32 Ki) ran
 * slower on two threads than on one, however many steps it fused (the
 * region's cost and the lines the other core wrote outweigh half the work),
 * while passes of 64 Ki broke about even and larger ones ran faster.
 * Static schedules only: the same thread count gives the same partition,
 * hence bit-identical results; kernels whose elements are independent give
 * the same bits for any thread count.
 *
 * On a machine other programs keep busy, the other threads of a region can
 * arrive long after the calling thread has done its share (with libgomp's
 * default spin-waiting, a time slice of the scheduler: milliseconds instead
 * of microseconds per region). Three such regions in a row send the next
 * ones to the calling thread alone: 16 regions, doubling while it keeps
 * happening (up to 4096), back to 16 once a region runs on time. (One late
 * region alone changes nothing: on a virtual machine a core is taken away
 * for a moment now and then, and giving up the threads for that costs more
 * than it saves.) The matrix product (ops/gemm) follows the same rule. Results do
 * not change: every kernel of tapegrad gives the same bits for any thread
 * count. (Setting OMP_WAIT_POLICY=passive avoids most of it.) */
#ifndef TG_CORE_PARALLEL_H
#define TG_CORE_PARALLEL_H

#include <stdbool.h>
#include <stdint.h>

#define TG_PARALLEL_MIN 65536

#define TG_PRAGMA(x) _Pragma(#x)

/* True when `work` elements are worth a parallel region: enough of them,
 * more than one thread, not already inside a parallel region, and the
 * threads have been arriving on time. */
#define TG_PARALLEL_WORTH(work) ((work) >= TG_PARALLEL_MIN && tg_parallel_available())

/* for (int64_t i = 0; i < n; i++) body, spread over the threads when n
 * elements are worth it:
 *
 *     TG_PARALLEL_FOR(k, n, { a[k] += b[k]; });
 */
#define TG_PARALLEL_FOR(i, n, ...) TG_PARALLEL_FOR_WORK(i, n, n, __VA_ARGS__)
/* The same for loops whose n iterations together cost `work` elements. */
#define TG_PARALLEL_FOR_WORK(i, n, work, ...)                                   \
    do {                                                                        \
        const int64_t tg_iterations_ = (n);                                     \
        if (TG_PARALLEL_WORTH(work)) {                                          \
            tg_region tg_region_;                                               \
            tg_region_start(&tg_region_);                                       \
            TG_PRAGMA(omp parallel)                                             \
            {                                                                   \
                TG_PRAGMA(omp for schedule(static) nowait)                      \
                for (int64_t i = 0; i < tg_iterations_; i++) __VA_ARGS__        \
                tg_region_share_done(&tg_region_);                              \
            }                                                                   \
            tg_region_end(&tg_region_);                                         \
        } else {                                                                \
            for (int64_t i = 0; i < tg_iterations_; i++) __VA_ARGS__            \
        }                                                                       \
    } while (0)

/* Sets the thread count for tapegrad's kernels (like OMP_NUM_THREADS), ends
 * any back-off and starts the timing of steps (below) again. */
void tg_set_num_threads(int n);
int tg_get_num_threads(void);
/* More than one thread, not inside a parallel region already, not backing
 * off from late threads (see above), and the timing of steps has not chosen
 * the calling thread alone (below). */
bool tg_parallel_available(void);

/* Threads chosen by timing steps (on by default). Every tg_tape_reset ends a
 * step. Where threads cost more than they save (small products on a machine
 * whose cores are slow to hand data to each other: a region there costs
 * microseconds and every cache line the other core read costs a round trip
 * to write again), whole steps run faster on the calling thread alone, which
 * no single region can see. So after 3 warm-up steps, a trial of 32 steps
 * runs blocks of 8 with the threads and with the calling thread alone in
 * turn (the first 2 of each block untimed: the step after a switch pays for
 * moving data between the cores' caches); the way of the last run (threads
 * at first) is kept unless the median step of the other way is at least 5%
 * shorter, then used for a run of steps (256, doubling while the trials
 * agree, up to 8192) before the next trial. Results do not change
 * (every kernel gives the same bits for any thread count); only the time
 * does. Off: the set thread count on every step (benchmarks, `--threads N`). */
void tg_set_thread_choice_by_timing(bool on);
bool tg_thread_choice_by_timing(void);
/* The threads this step's kernels use: 1 when the timing of steps chose the
 * calling thread alone, tg_get_num_threads() otherwise. */
int tg_threads_per_step(void);
/* The threads a loop of `work` elements will run on (TG_PARALLEL_FOR_WORK):
 * 1 below TG_PARALLEL_MIN or when this step runs alone, else the thread
 * count. For cutting work into one share per thread where the cut does not
 * change the bits (blocks of columns): a step on one thread then gets whole
 * rows. Unlike tg_parallel_available(), it does not count down a back-off. */
int tg_threads_for(int64_t work);
/* A step ended at `now` seconds (tg_parallel_now()'s clock): tg_tape_reset
 * calls it; tests give their own clock. */
void tg_parallel_step_ended(double now);

/* Timing of one parallel region, for the back-off: start before it, share
 * done by every thread when its share is done, end after it. */
typedef struct tg_region {
    double start, share_done;
} tg_region;
void tg_region_start(tg_region *r);
void tg_region_share_done(tg_region *r);
void tg_region_end(tg_region *r);
/* The back-off's rule: a region where the calling thread's share took
 * `share` seconds and it then waited `wait` seconds for the others. */
void tg_parallel_note_region(double share, double wait);
/* CLOCK_MONOTONIC in seconds. */
double tg_parallel_now(void);
/* The calling thread's number in the current parallel region (0 outside one):
 * for per-thread workspaces, of which a region needs tg_get_num_threads(). */
int tg_thread_index(void);

/* Work over several arrays at once (every parameter's gradient, say) in ONE
 * parallel region: segment s has sizes[s] elements; each segment is cut into
 * one contiguous part per thread, thread t of n taking
 * [sizes[s] * t / n, sizes[s] * (t + 1) / n), and `piece` is called for
 * every part:
 *     piece(context, s, begin, end)   with 0 <= begin < end <= sizes[s].
 * A weight [in, out] thus has the same rows on the same thread in every
 * step, in its gradient and its update alike, and the matrix products that
 * read or write it keep to those rows (ops/gemm.h: a weight gradient by rows,
 * x @ W by depth, g @ W^T by columns): on the 2-core VM a step with two
 * threads spent 90-120 us on the update while the products split W
 * otherwise, against ~40 us on one thread. Serial (one call per segment) when
 * the total is below TG_PARALLEL_MIN. */
typedef void (*tg_segment_fn)(void *context, int segment, int64_t begin, int64_t end);
void tg_parallel_segments(int count, const int64_t *sizes, tg_segment_fn piece, void *context);

/* Work cut in `blocks` blocks of `length` elements (numel in all), in
 * `parts` parts (one per thread): part p takes the blocks [*first, *end)
 * whose larger share lies in [numel * p / parts, numel * (p + 1) / parts),
 * the same cut as tg_parallel_segments' (a pass over a weight's gradient
 * then runs each half on the thread that updates it). */
static inline void tg_blocks_of_part(int64_t numel, int64_t length, int64_t blocks, int64_t part, int64_t parts,
                                     int64_t *first, int64_t *end) {
    int64_t lo = (numel * part / parts + length / 2) / length, hi = (numel * (part + 1) / parts + length / 2) / length;
    *first = lo < blocks ? lo : blocks;
    *end = part + 1 == parts || hi > blocks ? blocks : hi;
}

#endif
