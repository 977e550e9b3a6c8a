/* core/parallel.h: loops below TG_PARALLEL_MIN run on the calling thread
 * with no parallel region; larger ones split over the threads; segments of
 * many arrays are covered once in one region; late threads make the next
 * regions run on the calling thread alone for a while. */
#include "testing.h"

static void test_a_small_loop_runs_on_the_calling_thread(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    tg_set_num_threads(2);
    int used[2] = {0, 0};
    TG_PARALLEL_FOR(i, 1000, { used[tg_thread_index() != 0] = 1; });
    assert_int_equal(used[0], 1);
    assert_int_equal(used[1], 0);
    tg_set_num_threads(threads);
}

static void test_a_large_loop_is_split_over_the_threads(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    tg_set_num_threads(2);
    enum { N = 4 * TG_PARALLEL_MIN };
    static unsigned char by[N];
    TG_PARALLEL_FOR(i, N, { by[i] = (unsigned char)tg_thread_index(); });
    /* a static schedule: the first half on thread 0, the second on thread 1 */
    assert_int_equal(by[0], 0);
    assert_int_equal(by[N - 1], 1);
    tg_set_num_threads(threads);
}

static void test_one_thread_never_opens_a_region(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    tg_set_num_threads(1);
    assert_false(tg_parallel_available());
    assert_false(TG_PARALLEL_WORTH(1 << 30));
    tg_set_num_threads(threads);
}

typedef struct {
    int count;
    int *seen[3];
} segments;

static void mark_piece(void *context, int segment, int64_t begin, int64_t end) {
    segments *s = context;
    for (int64_t i = begin; i < end; i++) s->seen[segment][i]++;
}

/* Three segments, zeroed: 7, 50000 and 20001 elements (70008 in all, above
 * TG_PARALLEL_MIN). */
static const int64_t three_sizes[3] = {7, 50000, 20001};
static segments three_segments(void) {
    static int a[7], b[50000], c[20001];
    memset(a, 0, sizeof a), memset(b, 0, sizeof b), memset(c, 0, sizeof c);
    return (segments){3, {a, b, c}};
}

/* which thread computed each element */
static void mark_thread(void *context, int segment, int64_t begin, int64_t end) {
    segments *s = context;
    for (int64_t i = begin; i < end; i++) s->seen[segment][i] = tg_thread_index();
}

/* Each segment in halves, the first on thread 0 (a weight's rows stay with
 * one thread from step to step, whatever the other segments' sizes). */
static void test_segments_are_cut_in_halves_one_per_thread(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    segments s = three_segments();
    tg_set_num_threads(2);
    tg_parallel_segments(3, three_sizes, mark_thread, &s);
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < three_sizes[k]; i++) assert_int_equal(s.seen[k][i], i >= three_sizes[k] / 2 ? 1 : 0);
    tg_set_num_threads(threads);
}

/* Blocks of a pass cut where the optimizer cuts a parameter: each block to
 * the part that holds most of it, every block once, in order. */
static void test_blocks_of_a_part_follow_the_halves_of_the_elements(void **state) {
    (void)state;
    int64_t first, end;
    tg_blocks_of_part(784 * 256, 8192, 25, 0, 2, &first, &end); /* a [784, 256] gradient in tasks of 8 Ki */
    assert_int_equal(first, 0);
    assert_int_equal(end, 12); /* the half ends at 100352 = 12.25 tasks */
    tg_blocks_of_part(784 * 256, 8192, 25, 1, 2, &first, &end);
    assert_int_equal(first, 12);
    assert_int_equal(end, 25);
    tg_blocks_of_part(784 * 256, 16384, 13, 0, 2, &first, &end); /* its sum of squares in blocks of 16 Ki */
    assert_int_equal(end, 6);                                     /* block 6 is mostly the second half's */
    const int64_t numels[] = {1, 7, 8192, 65536, 100000, 200704}, lengths[] = {1, 100, 8192, 16384};
    for (size_t a = 0; a < sizeof numels / sizeof numels[0]; a++)
        for (size_t b = 0; b < sizeof lengths / sizeof lengths[0]; b++)
            for (int64_t parts = 1; parts <= 5; parts++) {
                int64_t blocks = (numels[a] + lengths[b] - 1) / lengths[b], next = 0;
                for (int64_t part = 0; part < parts; part++) {
                    tg_blocks_of_part(numels[a], lengths[b], blocks, part, parts, &first, &end);
                    assert_int_equal(first, next);
                    assert_true(end >= first);
                    next = end;
                }
                assert_int_equal(next, blocks);
            }
}

static void test_segments_cover_every_element_once(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    segments s = three_segments();
    for (int run = 1; run <= 2; run++) {
        tg_set_num_threads(run);
        tg_parallel_segments(3, three_sizes, mark_piece, &s);
        for (int k = 0; k < 3; k++)
            for (int64_t i = 0; i < three_sizes[k]; i++) assert_int_equal(s.seen[k][i], run);
    }
    tg_set_num_threads(threads);
}

static int regions_alone(void) {
    int alone = 0;
    while (!TG_PARALLEL_WORTH(1 << 20)) alone++;
    return alone;
}

/* three late regions in a row */
static void note_late_regions(void) {
    for (int k = 0; k < 3; k++) tg_parallel_note_region(40e-6, 12e-3); /* the others came 12 ms after a 40 us share */
}

static void test_late_threads_send_the_next_regions_to_the_calling_thread(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    tg_set_num_threads(2); /* no back-off */
    assert_true(TG_PARALLEL_WORTH(1 << 20));
    tg_parallel_note_region(40e-6, 12e-3); /* one late region: a hiccup, threads stay */
    tg_parallel_note_region(40e-6, 12e-3);
    assert_true(TG_PARALLEL_WORTH(1 << 20));
    tg_parallel_note_region(1e-3, 5e-6); /* on time: the count of late ones starts again */
    tg_parallel_note_region(40e-6, 12e-3);
    tg_parallel_note_region(40e-6, 12e-3);
    assert_true(TG_PARALLEL_WORTH(1 << 20));
    tg_parallel_note_region(40e-6, 12e-3); /* the third in a row */
    assert_int_equal(regions_alone(), 16);
    note_late_regions(); /* still late: twice as long */
    assert_int_equal(regions_alone(), 32);
    tg_parallel_note_region(1e-3, 5e-6);    /* on time: back to the shortest */
    tg_parallel_note_region(40e-6, 150e-6); /* uneven shares but early: no back-off */
    assert_true(TG_PARALLEL_WORTH(1 << 20));
    note_late_regions();
    assert_int_equal(regions_alone(), 16);
    note_late_regions();
    tg_set_num_threads(2); /* setting the count ends a back-off */
    assert_true(TG_PARALLEL_WORTH(1 << 20));
    tg_set_num_threads(threads);
}

/* Steps of the given lengths (seconds) from `*clock` on, each ending at a
 * tg_parallel_step_ended; a step run alone lasts `alone`, with threads
 * `threads`. */
static void run_steps(double *clock, int count, double threads, double alone) {
    for (int k = 0; k < count; k++) {
        *clock += tg_threads_per_step() == 1 ? alone : threads;
        tg_parallel_step_ended(*clock);
    }
}

static void test_timing_steps_keeps_the_threads_where_they_are_faster(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    tg_set_num_threads(2); /* starts the timing again */
    assert_true(tg_thread_choice_by_timing());
    double clock = 100;
    run_steps(&clock, 3 + 32 + 10, 1e-3, 1.6e-3);
    assert_int_equal(tg_threads_per_step(), 2);
    assert_true(TG_PARALLEL_WORTH(1 << 20));
    /* nearly the same time both ways: threads stay (alone must be 5% faster) */
    tg_set_num_threads(2);
    run_steps(&clock, 3 + 32 + 10, 1e-3, 0.97e-3);
    assert_int_equal(tg_threads_per_step(), 2);
    tg_set_num_threads(threads);
}

static void test_timing_steps_runs_them_alone_where_threads_are_slower(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    tg_set_num_threads(2);
    double clock = 100;
    /* warm-up with threads, then a trial: blocks of 8 steps with threads and alone in turn */
    for (int k = 0; k < 3; k++) run_steps(&clock, 1, 2e-3, 1e-3), assert_int_equal(tg_threads_per_step(), 2);
    for (int k = 0; k < 32; k++) {
        assert_int_equal(tg_threads_per_step(), k / 8 % 2 ? 1 : 2);
        run_steps(&clock, 1, 2e-3, 1e-3);
    }
    /* the verdict: alone for a run of 256 steps */
    assert_int_equal(tg_threads_per_step(), 1);
    assert_false(TG_PARALLEL_WORTH(1 << 20));
    run_steps(&clock, 255, 2e-3, 1e-3);
    assert_int_equal(tg_threads_per_step(), 1);
    /* then a trial again, threads first; the machine got quieter: threads win */
    run_steps(&clock, 1, 0.5e-3, 1e-3);
    assert_int_equal(tg_threads_per_step(), 2);
    run_steps(&clock, 32, 0.5e-3, 1e-3);
    assert_int_equal(tg_threads_per_step(), 2);
    assert_true(TG_PARALLEL_WORTH(1 << 20));
    /* slow steps now and then (an evaluation, a checkpoint) and the step after each
     * switch (data moving between the cores' caches) do not move the verdict */
    tg_set_num_threads(2);
    for (int k = 0; k < 3 + 32; k++) {
        bool alone_next = k >= 3 && (k - 3) / 8 % 2 == 1;
        clock += k == 20 || k == 29 ? 50e-3 : 0;
        clock += k >= 3 && (k - 3) % 8 == 0 && alone_next ? 10e-3 : 0; /* a switch to alone costs */
        run_steps(&clock, 1, 2e-3, 1e-3);
    }
    assert_int_equal(tg_threads_per_step(), 1);
    /* off: the set count on every step */
    tg_set_thread_choice_by_timing(false);
    assert_int_equal(tg_threads_per_step(), 2);
    run_steps(&clock, 40, 2e-3, 1e-3);
    assert_int_equal(tg_threads_per_step(), 2);
    assert_true(TG_PARALLEL_WORTH(1 << 20));
    tg_set_thread_choice_by_timing(true);
    tg_set_num_threads(threads);
}

/* Work cut into one share per thread (blocks of columns) is cut for the
 * threads it will run on: one below the threshold and in a step that runs
 * alone, all of them otherwise. */
static void test_shares_follow_the_threads_the_work_runs_on(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    tg_set_num_threads(2);
    assert_int_equal(tg_threads_for(TG_PARALLEL_MIN - 1), 1);
    assert_int_equal(tg_threads_for(TG_PARALLEL_MIN), 2);
    double clock = 100;
    run_steps(&clock, 3 + 32, 2e-3, 1e-3); /* the trial finds the calling thread alone faster */
    assert_int_equal(tg_threads_per_step(), 1);
    assert_int_equal(tg_threads_for(1 << 20), 1);
    tg_set_thread_choice_by_timing(false);
    assert_int_equal(tg_threads_for(1 << 20), 2);
    tg_set_thread_choice_by_timing(true);
    tg_set_num_threads(threads);
}

/* The way of the last run stays unless the other way is 5% faster: a trial
 * where the calling thread alone is only 3% faster, or 3% slower, keeps it
 * alone (and the run doubles: 512 steps); threads 10% faster switch back. */
static void test_timing_steps_keeps_the_last_way_unless_the_other_is_5_percent_faster(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    tg_set_num_threads(2);
    double clock = 100;
    run_steps(&clock, 3 + 32, 2e-3, 1e-3); /* alone, for 256 steps */
    assert_int_equal(tg_threads_per_step(), 1);
    run_steps(&clock, 256 + 32, 1e-3, 0.97e-3); /* alone 3% faster: stays alone, for 512 */
    assert_int_equal(tg_threads_per_step(), 1);
    run_steps(&clock, 511, 1e-3, 0.97e-3);
    assert_int_equal(tg_threads_per_step(), 1); /* still in its run of 512 */
    run_steps(&clock, 1 + 32, 1e-3, 1.03e-3); /* threads 3% faster: still not enough */
    assert_int_equal(tg_threads_per_step(), 1);
    run_steps(&clock, 1024 + 32, 0.9e-3, 1e-3); /* threads 10% faster: threads */
    assert_int_equal(tg_threads_per_step(), 2);
    tg_set_num_threads(threads);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_small_loop_runs_on_the_calling_thread),
        cmocka_unit_test(test_a_large_loop_is_split_over_the_threads),
        cmocka_unit_test(test_one_thread_never_opens_a_region),
        cmocka_unit_test(test_segments_cover_every_element_once),
        cmocka_unit_test(test_segments_are_cut_in_halves_one_per_thread),
        cmocka_unit_test(test_blocks_of_a_part_follow_the_halves_of_the_elements),
        cmocka_unit_test(test_late_threads_send_the_next_regions_to_the_calling_thread),
        cmocka_unit_test(test_timing_steps_keeps_the_threads_where_they_are_faster),
        cmocka_unit_test(test_timing_steps_runs_them_alone_where_threads_are_slower),
        cmocka_unit_test(test_timing_steps_keeps_the_last_way_unless_the_other_is_5_percent_faster),
        cmocka_unit_test(test_shares_follow_the_threads_the_work_runs_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
