/* Gathering batches onto a tape: values, dtype conversion, labels and
 * targets, bad indices, prefetching, and a steady loop that allocates nothing. */
#include <stdlib.h>

#include "testing.h"

static void test_gather_copies_the_indexed_samples_in_order(void **state) {
    (void)state;
    const float x[4][2] = {{1, 2}, {3, 4}, {5, 6}, {7, 8}};
    tg_dataset *ds = tg_dataset_from(TG_F32, 2, (int64_t[]){4, 2}, x, (int64_t[]){3, 1, 0, 2}, NULL, 0);
    assert_non_null(ds);
    assert_string_equal(tg_dataset_name(ds), "arrays");
    assert_int_equal(tg_dataset_classes(ds), 4);
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F32, 3, (int64_t[]){2, 0, 2}, &b), TG_OK);
    assert_int_equal(b.count, 3);
    assert_int_equal(b.x->dtype, TG_F32);
    assert_shape(b.x, SHAPE(3, 2));
    ASSERT_VALUES(b.x, 0, 5, 6, 1, 2, 5, 6);
    assert_int_equal(b.labels[0], 0);
    assert_int_equal(b.labels[1], 3);
    assert_int_equal(b.labels[2], 0);
    assert_null(b.targets);
    assert_ptr_equal(b.x->tape, tape);
    /* NULL indices: the first count samples */
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F64, 2, NULL, &b), TG_OK);
    assert_int_equal(b.x->dtype, TG_F64);
    ASSERT_VALUES(b.x, 0, 1, 2, 3, 4);
    tg_dataset_free(ds);
}

static void test_gather_converts_f64_storage_to_f32_by_rounding(void **state) {
    (void)state;
    const double x[1][3] = {{0.1, 1.0 / 3.0, -1e-50}};
    tg_dataset *ds = tg_dataset_from(TG_F64, 2, (int64_t[]){1, 3}, x, (int64_t[]){0}, NULL, 0);
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F32, 1, NULL, &b), TG_OK);
    const float *v = b.x->data;
    assert_true(v[0] == 0.1f);
    assert_true(v[1] == 1.0f / 3.0f);
    assert_true(v[2] == 0); /* below f32's smallest subnormal */
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F64, 1, NULL, &b), TG_OK);
    ASSERT_VALUES(b.x, 0, 0.1, 1.0 / 3.0, -1e-50);
    tg_dataset_free(ds);
}

static void test_gather_keeps_multi_dimensional_sample_shapes_and_targets(void **state) {
    (void)state;
    double x[2][2][3], y[2][2] = {{0.5, -1}, {2, 3}};
    for (int i = 0; i < 12; i++) (&x[0][0][0])[i] = i;
    tg_dataset *ds = tg_dataset_from(TG_F64, 3, (int64_t[]){2, 2, 3}, x, NULL, &y[0][0], 2);
    assert_non_null(ds);
    assert_int_equal(tg_dataset_task(ds), TG_TASK_REGRESSION);
    assert_int_equal(tg_dataset_targets(ds), 2);
    assert_int_equal(tg_dataset_features(ds), 6);
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F32, 1, (int64_t[]){1}, &b), TG_OK);
    assert_shape(b.x, SHAPE(1, 2, 3));
    ASSERT_VALUES(b.x, 0, 6, 7, 8, 9, 10, 11);
    assert_null(b.labels);
    assert_int_equal(b.targets->dtype, TG_F32);
    assert_shape(b.targets, SHAPE(1, 2));
    ASSERT_VALUES(b.targets, 0, 2, 3);
    tg_dataset_free(ds);
}

static void test_gather_of_a_large_batch_matches_the_formula_on_every_element(void **state) {
    (void)state;
    /* 512 x 1024 elements: the parallel path */
    enum { N = 512, F = 1024 };
    float *x = malloc(sizeof(float) * N * F);
    int64_t labels[N], indices[N];
    for (int64_t i = 0; i < N * F; i++) x[i] = (float)(i % 1000) - 500.0f;
    for (int i = 0; i < N; i++) labels[i] = i % 7, indices[i] = (i * 37) % N;
    tg_dataset *ds = tg_dataset_from(TG_F32, 2, (int64_t[]){N, F}, x, labels, NULL, 0);
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F64, N, indices, &b), TG_OK);
    const double *v = b.x->data;
    for (int64_t i = 0; i < N; i++) {
        assert_int_equal(b.labels[i], indices[i] % 7);
        for (int64_t j = 0; j < F; j++)
            if (v[i * F + j] != x[indices[i] * F + j]) fail_msg("x[%lld, %lld] differs", (long long)i, (long long)j);
    }
    free(x);
    tg_dataset_free(ds);
}

static void test_gather_bad_arguments_are_errors_on_the_tape(void **state) {
    (void)state;
    tg_dataset *ds = tg_dataset_from(TG_F64, 2, (int64_t[]){2, 1}, (double[]){1, 2}, (int64_t[]){0, 1}, NULL, 0);
    tg_batch b = {.count = 99};
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F32, 2, (int64_t[]){1, 2}, &b), TG_ERR_ARG);
    assert_null(b.x);
    assert_int_equal(b.count, 0);
    assert_error("tg_dataset_gather", "indices[1] = 2 is out of range for arrays (2 samples)");
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F32, 1, (int64_t[]){-1}, &b), TG_ERR_ARG);
    assert_error("tg_dataset_gather", "indices[0] = -1");
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F32, 3, NULL, &b), TG_ERR_ARG);
    assert_error("tg_dataset_gather", "3 samples asked of arrays, which has 2");
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F32, 0, NULL, &b), TG_ERR_ARG);
    assert_error("tg_dataset_gather", "0 samples");
    assert_int_equal(tg_dataset_gather(tape, ds, (tg_dtype)5, 1, NULL, &b), TG_ERR_DTYPE);
    assert_error("tg_dataset_gather", "unknown dtype 5");
    assert_int_equal(tg_dataset_gather(tape, NULL, TG_F32, 1, NULL, &b), TG_ERR_ARG);
    assert_error("tg_dataset_gather", "ds is NULL");
    assert_int_equal(tg_dataset_gather(NULL, ds, TG_F32, 1, NULL, &b), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "tape is NULL");
    tg_dataset_free(ds);
}

static void test_prefetching_a_batch_checks_its_indices_and_changes_no_value(void **state) {
    (void)state;
    tg_dataset *ds = tg_dataset_synthetic("spiral", 300, 3);
    const int64_t indices[4] = {299, 0, 17, 150};
    tg_batch before, after;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F32, 4, indices, &before), TG_OK);
    assert_int_equal(tg_dataset_prefetch(ds, 4, indices), TG_OK);
    assert_int_equal(tg_dataset_prefetch(ds, 300, NULL), TG_OK); /* every sample, in order */
    assert_int_equal(tg_dataset_prefetch(ds, 0, NULL), TG_OK);   /* nothing to ask for */
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F32, 4, indices, &after), TG_OK);
    assert_memory_equal(after.x->data, before.x->data, sizeof(float) * (size_t)before.x->numel);
    assert_memory_equal(after.labels, before.labels, sizeof(int64_t) * 4);
    assert_int_equal(tg_tape_status(tape), TG_OK);
    /* refused as the gather refuses them, the tape untouched */
    assert_int_equal(tg_dataset_prefetch(ds, 2, (int64_t[]){5, 300}), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "tg_dataset_prefetch: indices[1] = 300 is out of range for spiral");
    assert_int_equal(tg_dataset_prefetch(ds, 1, (int64_t[]){-1}), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "indices[0] = -1");
    assert_int_equal(tg_dataset_prefetch(ds, 301, NULL), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "301 samples asked of spiral, which has 300");
    assert_int_equal(tg_dataset_prefetch(ds, -1, NULL), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "-1 samples");
    assert_int_equal(tg_dataset_prefetch(NULL, 1, NULL), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "tg_dataset_prefetch: ds is NULL");
    assert_int_equal(tg_tape_status(tape), TG_OK);
    tg_dataset_free(ds);
}

static void test_a_steady_gather_loop_allocates_nothing_after_the_first_step(void **state) {
    (void)state;
    tg_dataset *ds = tg_dataset_synthetic("spiral", 1000, 3);
    tg_rng rng = tg_rng_new(1);
    tg_batches *batches = tg_batches_new(tg_dataset_len(ds), 64, false, &rng);
    uint64_t after_first = 0;
    for (int step = 0; step < 40; step++) {
        const int64_t *idx;
        int64_t count;
        if (!tg_batches_next(batches, &idx, &count)) continue;
        tg_batch b;
        assert_int_equal(tg_dataset_gather(tape, ds, TG_F32, count, idx, &b), TG_OK);
        tg_tensor *loss = tg_mean(tape, tg_square(tape, b.x), NULL, 0, false);
        assert_non_null(loss);
        tg_tape_reset(tape);
        if (step == 0) after_first = tg_tape_system_allocations(tape);
    }
    assert_int_equal(tg_tape_system_allocations(tape), after_first);
    tg_batches_free(batches);
    tg_dataset_free(ds);
}

static void test_arrays_with_bad_shapes_or_labels_are_refused(void **state) {
    (void)state;
    const double x[2] = {1, 2};
    assert_null(tg_dataset_from(TG_F64, 1, (int64_t[]){2}, x, (int64_t[]){0, 1}, NULL, 0));
    assert_error_mentions(tg_last_error(), "for one feature per sample use [N,1]");
    assert_null(tg_dataset_from(TG_F64, 2, (int64_t[]){2, 1}, x, (int64_t[]){0, -3}, NULL, 0));
    assert_error_mentions(tg_last_error(), "label -3 of sample 1 is out of range");
    assert_null(tg_dataset_from(TG_F64, 2, (int64_t[]){2, 1}, x, (int64_t[]){0, 1}, x, 1));
    assert_error_mentions(tg_last_error(), "either labels or targets");
    assert_null(tg_dataset_from(TG_F64, 2, (int64_t[]){2, 1}, x, NULL, x, 0));
    assert_error_mentions(tg_last_error(), "n_targets 0");
    assert_null(tg_dataset_from(TG_F64, 2, (int64_t[]){0, 1}, x, (int64_t[]){0}, NULL, 0));
    assert_error_mentions(tg_last_error(), "features of shape [0,1]: no samples");
    assert_null(tg_dataset_from((tg_dtype)9, 2, (int64_t[]){2, 1}, x, (int64_t[]){0, 1}, NULL, 0));
    assert_error_mentions(tg_last_error(), "unknown dtype 9");
    /* the arrays are copied */
    double mine[2] = {1, 2};
    tg_dataset *ds = tg_dataset_from(TG_F64, 2, (int64_t[]){2, 1}, mine, NULL, mine, 1);
    mine[0] = 100;
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F64, 2, NULL, &b), TG_OK);
    ASSERT_VALUES(b.x, 0, 1, 2);
    ASSERT_VALUES(b.targets, 0, 1, 2);
    tg_dataset_free(ds);
    tg_dataset_free(NULL);
    assert_int_equal(tg_dataset_len(NULL), 0);
    assert_int_equal(tg_dataset_sample_shape(NULL, NULL), -1);
    assert_null(tg_dataset_name(NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, tape_setup, tape_teardown)
        T(test_gather_copies_the_indexed_samples_in_order),
        T(test_gather_converts_f64_storage_to_f32_by_rounding),
        T(test_gather_keeps_multi_dimensional_sample_shapes_and_targets),
        T(test_gather_of_a_large_batch_matches_the_formula_on_every_element),
        T(test_gather_bad_arguments_are_errors_on_the_tape),
        T(test_prefetching_a_batch_checks_its_indices_and_changes_no_value),
        T(test_a_steady_gather_loop_allocates_nothing_after_the_first_step),
        T(test_arrays_with_bad_shapes_or_labels_are_refused),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
