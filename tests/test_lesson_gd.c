/* Lesson "gd": with one model, one learning rate and the same epochs, batch
 * gradient descent makes one smooth step per epoch and gets least far, SGD
 * makes one noisy step per sample and is slow per sample, mini-batches sit
 * between; for seeds 1 to 5 on 1000 samples and 5 epochs (seed 1 under the
 * sanitizers: the same code paths, each run ten times slower). */
#include "lesson_testing.h"

#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define SEEDS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SEEDS 1
#endif
#endif
#ifndef SEEDS
#define SEEDS 5
#endif

enum { BGD, SGD, MB32, MB128 };

static tg_lesson_gd_opts small_opts(uint64_t seed) {
    tg_lesson_gd_opts o = tg_lesson_gd_defaults();
    o.seed = seed;
    o.samples = 1000;
    o.epochs = 5;
    return o;
}

static void test_updates_per_epoch_follow_from_the_batch_size(void **state) {
    (void)state;
    tg_lesson_gd_opts o = small_opts(1);
    o.epochs = 1;
    tg_lesson_gd_result *r = malloc(sizeof *r);
    assert_int_equal(tg_lesson_gd_run(&o, r), TG_OK);
    assert_int_equal(r->train_samples, 800);
    assert_string_equal(r->methods[BGD].name, "BGD");
    assert_int_equal(r->methods[BGD].batch_size, 800);
    assert_int_equal(r->methods[BGD].updates_per_epoch, 1);
    assert_string_equal(r->methods[SGD].name, "SGD");
    assert_int_equal(r->methods[SGD].updates_per_epoch, 800);
    assert_string_equal(r->methods[MB32].name, "MBGD 32");
    assert_int_equal(r->methods[MB32].updates_per_epoch, 25);  /* 800 / 32 */
    assert_int_equal(r->methods[MB128].updates_per_epoch, 7);  /* ceil(800 / 128) */
    for (int i = 0; i < 4; i++) assert_near(r->methods[i].train_loss[0], r->methods[0].train_loss[0], 0); /* one start */
    free(r);
}

static void test_smaller_batches_go_further_per_epoch_and_noisier_for_seeds_1_to_5(void **state) {
    (void)state;
    tg_lesson_gd_result *r = malloc(sizeof *r);
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        tg_lesson_gd_opts o = small_opts(seed);
        assert_int_equal(tg_lesson_gd_run(&o, r), TG_OK);
        const tg_gd_method_run *m = r->methods;
        int64_t e = o.epochs;
        /* the loss after the same epochs: more updates, further */
        assert_true(m[SGD].train_loss[e] < 0.5 * m[MB32].train_loss[e]);
        assert_true(m[MB32].train_loss[e] < m[MB128].train_loss[e]);
        assert_true(m[MB128].train_loss[e] < m[BGD].train_loss[e] - 0.1);
        /* BGD: the exact gradient every step, a loss that falls every epoch */
        for (int64_t k = 1; k <= e; k++) assert_true(m[BGD].train_loss[k] < m[BGD].train_loss[k - 1]);
        /* noise of the step losses: an average over fewer samples is noisier */
        assert_true(m[SGD].noise > 3 * m[MB32].noise);
        assert_true(m[MB32].noise > 1.5 * m[MB128].noise);
        assert_true(m[MB128].noise > 3 * m[BGD].noise);
    }
    free(r);
}

/* One sample per step cannot use the vectorised kernels: mini-batches of 128
 * process samples many times faster. Compared in CPU time on one thread (the
 * wall clock of a shared machine is not a measure), the equal evaluations
 * included: about 4.5 times here,
 * 3 is the bar. */
static void test_sgd_is_slow_per_sample(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    tg_set_num_threads(1);
    tg_lesson_gd_opts o = small_opts(1);
    tg_lesson_gd_result *r = malloc(sizeof *r);
    assert_int_equal(tg_lesson_gd_run(&o, r), TG_OK);
    tg_set_num_threads(threads);
    assert_true(r->methods[SGD].cpu_seconds > 3 * r->methods[MB128].cpu_seconds);
    for (int i = 0; i < 4; i++) {
        const tg_gd_method_run *m = &r->methods[i];
        for (int64_t k = 1; k <= o.epochs; k++) assert_true(m->seconds[k] > m->seconds[k - 1]);
        assert_near(m->samples_per_second, 800.0 * (double)o.epochs / m->seconds[o.epochs], 1e-6);
    }
    free(r);
}

static void test_lesson_prints_its_table_and_a_reading(void **state) {
    (void)state;
    tg_lesson_gd_opts o = tg_lesson_gd_defaults();
    o.samples = 200;
    o.epochs = 2;
    char *text = lesson_output("gd", &o);
    assert_non_null(strstr(text, "MBGD 128"));
    assert_non_null(strstr(text, "after 2 epochs it has made 2 updates"));
    assert_non_null(strstr(text, "(160 updates per epoch)"));
    assert_null(strstr(text, "nan"));
    free(text);
}

static void test_bad_options_are_refused(void **state) {
    (void)state;
    tg_lesson_gd_result *r = malloc(sizeof *r);
    tg_lesson_gd_opts o = tg_lesson_gd_defaults();
    o.epochs = 0;
    assert_int_equal(tg_lesson_gd_run(&o, r), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "epochs 0");
    o = tg_lesson_gd_defaults();
    o.batch_sizes[1] = -3;
    assert_int_equal(tg_lesson_gd_run(&o, r), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "batch size -3");
    free(r);
}

int main(void) {
    /* The numbers do not depend on the thread count; one thread spares these
     * runs of small tensors the OpenMP barriers, slow on a busy machine. */
    tg_set_num_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_updates_per_epoch_follow_from_the_batch_size),
        cmocka_unit_test(test_smaller_batches_go_further_per_epoch_and_noisier_for_seeds_1_to_5),
        cmocka_unit_test(test_sgd_is_slow_per_sample),
        cmocka_unit_test(test_lesson_prints_its_table_and_a_reading),
        cmocka_unit_test(test_bad_options_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
