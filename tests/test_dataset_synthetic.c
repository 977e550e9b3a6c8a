/* Built-in data sets: shapes, classes, and values. The expected samples come
 * from a Python transcription of core's rng (xoshiro256**, Box-Muller) and of
 * the formulas in data/dataset.h, seed 7. */
#include "testing.h"

/* The first n samples of a classification set as (x0, x1, label) triples. */
static void assert_samples(const char *name, int64_t n, const double *expected) {
    tg_dataset *ds = tg_dataset_synthetic(name, n, 7);
    assert_non_null(ds);
    assert_string_equal(tg_dataset_name(ds), name);
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F64, n, NULL, &b), TG_OK);
    for (int64_t i = 0; i < n; i++) {
        assert_near(((double *)b.x->data)[2 * i], expected[3 * i], 1e-14);
        assert_near(((double *)b.x->data)[2 * i + 1], expected[3 * i + 1], 1e-14);
        assert_int_equal(b.labels[i], (int64_t)expected[3 * i + 2]);
    }
    tg_dataset_free(ds);
}

static void test_spiral_has_three_interleaved_arms(void **state) {
    (void)state;
    assert_samples("spiral", 6,
                   (double[]){0.46554643851992517, -0.18239110060914032, 0, 0.011178733503456799, 0.4998750202973326, 1,
                              -0.4082076227231327, -0.28873263887328104, 2, -0.7263992790628292, -0.6872729351407649, 0,
                              0.8401266902519406, -0.5423902140768395, 1, -0.8445660206779938, 0.5354514326399161, 2});
    tg_dataset *ds = tg_dataset_synthetic("spiral", 300, 1);
    assert_int_equal(tg_dataset_classes(ds), 3);
    assert_int_equal(tg_dataset_features(ds), 2);
    assert_int_equal(tg_dataset_task(ds), TG_TASK_CLASSIFICATION);
    const double *x = NULL;
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F64, 300, NULL, &b), TG_OK);
    x = b.x->data;
    for (int i = 0; i < 300; i++) { /* radius (j + 1) / 100 of sample j of its class */
        assert_near(hypot(x[2 * i], x[2 * i + 1]), (i / 3 + 1) / 100.0, 1e-12);
        assert_int_equal(b.labels[i], i % 3);
    }
    tg_dataset_free(ds);
}

static void test_blobs_and_circles_match_their_formulas(void **state) {
    (void)state;
    assert_samples("blobs", 3,
                   (double[]){-0.27902399102519787, 5.527723185962453, 0, -1.5643330364487977, -2.22669574599686, 1,
                              5.600407629869954, -4.1969177074215525, 2});
    assert_samples("circles", 2,
                   (double[]){-0.2839914101312917, -0.986348746865234, 0, 0.6032930737134221, -0.1690896271501468, 1});
    tg_dataset *ds = tg_dataset_synthetic("circles", 10, 1);
    assert_int_equal(tg_dataset_classes(ds), 2);
    assert_string_equal(tg_dataset_class_name(ds, 1), "1");
    tg_dataset_free(ds);
}

static void test_poly_is_a_noisy_quadratic_regression(void **state) {
    (void)state;
    tg_dataset *ds = tg_dataset_synthetic("poly", 3, 7);
    assert_int_equal(tg_dataset_task(ds), TG_TASK_REGRESSION);
    assert_int_equal(tg_dataset_targets(ds), 1);
    assert_int_equal(tg_dataset_classes(ds), 0);
    assert_int_equal(tg_dataset_features(ds), 1);
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F64, 3, NULL, &b), TG_OK);
    assert_null(b.labels);
    ASSERT_VALUES(b.x, 1e-14, 0.8023059287187584, 1.9243909000597403, 1.963441115332273);
    ASSERT_VALUES(b.targets, 1e-14, -0.09591225127119335, 2.1377803687407693, 2.5442199183708705);
    tg_dataset_free(ds);
}

/* Every image of "bars": pixels at or above 0.5 are exactly one row b (class
 * 0), one column b (class 1) or the diagonal (class 2), b in 1..6; bright
 * pixels in [0.6, 0.9), the others in [0.1, 0.4); every row and column
 * position occurs. */
static void test_bars_are_images_of_a_row_a_column_or_the_diagonal(void **state) {
    (void)state;
    enum { N = 300, SIDE = 8 };
    tg_dataset *ds = tg_dataset_synthetic("bars", N, 3);
    assert_non_null(ds);
    int64_t shape[TG_MAX_DIMS];
    assert_int_equal(tg_dataset_sample_shape(ds, shape), 2);
    assert_int_equal(shape[0], SIDE);
    assert_int_equal(shape[1], SIDE);
    assert_int_equal(tg_dataset_classes(ds), 3);
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F64, N, NULL, &b), TG_OK);
    const double *x = b.x->data;
    int seen[3][SIDE] = {{0}};
    for (int64_t i = 0; i < N; i++) {
        int64_t k = b.labels[i];
        assert_int_equal(k, i % 3);
        int bar = -1; /* the row or column lit */
        for (int r = 0; r < SIDE; r++)
            for (int c = 0; c < SIDE; c++) {
                double v = x[i * SIDE * SIDE + r * SIDE + c];
                bool on = v >= 0.5;
                assert_true(on ? v >= 0.6 && v < 0.9 : v >= 0.1 && v < 0.4);
                if (k == 2) assert_int_equal(on, r == c);
                else if (on && bar < 0) bar = k == 0 ? r : c;
                if (k < 2 && bar >= 0) assert_int_equal(on, (k == 0 ? r : c) == bar);
            }
        if (k < 2) {
            assert_in_range(bar, 1, 6);
            seen[k][bar]++;
        }
    }
    for (int k = 0; k < 2; k++)
        for (int bar = 1; bar <= 6; bar++) assert_true(seen[k][bar] > 0);
    tg_dataset_free(ds);
}

static void test_same_seed_gives_the_same_bytes_and_another_seed_others(void **state) {
    (void)state;
    tg_dataset *a = tg_dataset_synthetic("blobs", 500, 42), *b = tg_dataset_synthetic("blobs", 500, 42),
               *c = tg_dataset_synthetic("blobs", 500, 43);
    tg_batch ba, bb, bc;
    tg_dataset_gather(tape, a, TG_F64, 500, NULL, &ba);
    tg_dataset_gather(tape, b, TG_F64, 500, NULL, &bb);
    tg_dataset_gather(tape, c, TG_F64, 500, NULL, &bc);
    assert_true(tg_tensor_hash(ba.x) == tg_tensor_hash(bb.x));
    assert_true(tg_tensor_hash(ba.x) != tg_tensor_hash(bc.x));
    tg_dataset_free(a);
    tg_dataset_free(b);
    tg_dataset_free(c);
}

static void test_unknown_name_or_no_samples_is_an_error(void **state) {
    (void)state;
    assert_null(tg_dataset_synthetic("moons", 10, 1));
    assert_error_mentions(tg_last_error(), "unknown data set \"moons\" (built in: spiral, blobs, circles, poly, bars)");
    assert_null(tg_dataset_synthetic(NULL, 10, 1));
    assert_null(tg_dataset_synthetic("spiral", 0, 1));
    assert_error_mentions(tg_last_error(), "spiral with 0 samples");
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, tape_setup, tape_teardown)
        T(test_spiral_has_three_interleaved_arms),
        T(test_blobs_and_circles_match_their_formulas),
        T(test_poly_is_a_noisy_quadratic_regression),
        T(test_bars_are_images_of_a_row_a_column_or_the_diagonal),
        T(test_same_seed_gives_the_same_bytes_and_another_seed_others),
        T(test_unknown_name_or_no_samples_is_an_error),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
