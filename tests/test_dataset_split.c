/* Train/validation split: sizes, a disjoint cover, determinism by seed, and
 * views that share (and keep alive) their parent's storage. */
#include <stdlib.h>

#include "testing.h"

/* n samples whose feature and label are their index */
static tg_dataset *numbered(int64_t n) {
    double *x = malloc(sizeof(double) * (size_t)n);
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = (double)i, labels[i] = i;
    tg_dataset *ds = tg_dataset_from(TG_F64, 2, (int64_t[]){n, 1}, x, labels, NULL, 0);
    free(x);
    free(labels);
    assert_non_null(ds);
    return ds;
}

static void split_sizes(int64_t n, double fraction, int64_t train_size, int64_t valid_size) {
    tg_dataset *all = numbered(n), *train, *valid;
    assert_int_equal(tg_dataset_split(all, fraction, 7, &train, &valid), TG_OK);
    assert_int_equal(tg_dataset_len(train), train_size);
    assert_int_equal(tg_dataset_len(valid), valid_size);
    tg_dataset_free(train);
    tg_dataset_free(valid);
    tg_dataset_free(all);
}

static void test_validation_gets_the_rounded_fraction_of_the_samples(void **state) {
    (void)state;
    split_sizes(10, 0.3, 7, 3);
    split_sizes(10, 0.25, 7, 3); /* round(2.5) = 3 */
    split_sizes(10, 0.24, 8, 2);
    split_sizes(60000, 0.1, 54000, 6000);
    split_sizes(2, 0.5, 1, 1);
}

static void test_split_is_a_disjoint_cover_in_ascending_order(void **state) {
    (void)state;
    enum { N = 100 };
    tg_dataset *all = numbered(N), *parts[2];
    assert_int_equal(tg_dataset_split(all, 0.2, 3, &parts[0], &parts[1]), TG_OK);
    int seen[N] = {0};
    for (int p = 0; p < 2; p++) {
        const double *x = NULL;
        tg_batch b;
        assert_int_equal(tg_dataset_gather(tape, parts[p], TG_F64, tg_dataset_len(parts[p]), NULL, &b), TG_OK);
        x = b.x->data;
        for (int64_t i = 0; i < b.count; i++) {
            assert_int_equal(b.labels[i], (int64_t)x[i]); /* features and labels stay together */
            assert_int_equal(tg_dataset_label(parts[p], i), b.labels[i]);
            if (i) assert_true(b.labels[i] > b.labels[i - 1]);
            seen[b.labels[i]]++;
        }
    }
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    /* a shuffled partition, not the first or last 20 */
    assert_true(tg_dataset_label(parts[1], 0) != 0 || tg_dataset_label(parts[1], 19) != 19);
    assert_true(tg_dataset_label(parts[1], 0) != 80);
    tg_dataset_free(parts[0]);
    tg_dataset_free(parts[1]);
    tg_dataset_free(all);
}

static void test_same_seed_gives_the_same_split_and_another_seed_another(void **state) {
    (void)state;
    tg_dataset *all = numbered(50), *v[3], *t[3];
    uint64_t seeds[3] = {11, 11, 12};
    for (int k = 0; k < 3; k++) assert_int_equal(tg_dataset_split(all, 0.3, seeds[k], &t[k], &v[k]), TG_OK);
    bool same = true, other = true;
    for (int64_t i = 0; i < tg_dataset_len(v[0]); i++) {
        same = same && tg_dataset_label(v[0], i) == tg_dataset_label(v[1], i);
        other = other && tg_dataset_label(v[0], i) == tg_dataset_label(v[2], i);
    }
    assert_true(same);
    assert_false(other);
    for (int k = 0; k < 3; k++) {
        tg_dataset_free(t[k]);
        tg_dataset_free(v[k]);
    }
    tg_dataset_free(all);
}

static void test_views_outlive_their_parent_and_splits_compose(void **state) {
    (void)state;
    tg_dataset *all = numbered(20), *train, *valid, *inner_train, *inner_valid;
    assert_int_equal(tg_dataset_split(all, 0.5, 1, &train, &valid), TG_OK);
    tg_dataset_free(all); /* the views keep the storage */
    assert_int_equal(tg_dataset_split(train, 0.2, 2, &inner_train, &inner_valid), TG_OK);
    tg_dataset_free(train);
    assert_int_equal(tg_dataset_len(inner_train), 8);
    assert_int_equal(tg_dataset_len(inner_valid), 2);
    assert_string_equal(tg_dataset_name(inner_valid), "arrays (train split) (validation split)");
    /* every inner sample is one of the outer train split's, with its own feature */
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, inner_train, TG_F64, 8, NULL, &b), TG_OK);
    for (int64_t i = 0; i < 8; i++) {
        assert_true(((double *)b.x->data)[i] == (double)b.labels[i]);
        for (int64_t j = 0; j < tg_dataset_len(valid); j++) assert_int_not_equal(b.labels[i], tg_dataset_label(valid, j));
    }
    tg_dataset_free(valid);
    tg_dataset_free(inner_valid);
    tg_dataset_free(inner_train);
}

static void test_split_views_keep_the_standardisation_and_are_named(void **state) {
    (void)state;
    tg_dataset *all = numbered(10), *train, *valid;
    assert_int_equal(tg_dataset_set_standardization(all, (double[]){5}, (double[]){2}), TG_OK);
    assert_int_equal(tg_dataset_split(all, 0.3, 4, &train, &valid), TG_OK);
    assert_string_equal(tg_dataset_name(train), "arrays (train split)");
    assert_string_equal(tg_dataset_name(valid), "arrays (validation split)");
    assert_int_equal(tg_dataset_classes(valid), 10);
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, valid, TG_F64, 3, NULL, &b), TG_OK);
    for (int i = 0; i < 3; i++) assert_near(((double *)b.x->data)[i], (b.labels[i] - 5) / 2.0, 1e-15);
    tg_dataset_free(train);
    tg_dataset_free(valid);
    tg_dataset_free(all);
}

static void test_split_fractions_that_leave_a_side_empty_are_errors(void **state) {
    (void)state;
    tg_dataset *all = numbered(10), *train = all, *valid = all;
    double bad[] = {0, 1, -0.5, NAN, 0.01, 0.99};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_equal(tg_dataset_split(all, bad[k], 1, &train, &valid), TG_ERR_ARG);
        assert_null(train);
        assert_null(valid);
        assert_error_mentions(tg_last_error(), "tg_dataset_split");
    }
    assert_error_mentions(tg_last_error(), "leaves 10 for validation and 0 for training");
    assert_int_equal(tg_dataset_split(NULL, 0.5, 1, &train, &valid), TG_ERR_ARG);
    tg_dataset_free(all);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, tape_setup, tape_teardown)
        T(test_validation_gets_the_rounded_fraction_of_the_samples),
        T(test_split_is_a_disjoint_cover_in_ascending_order),
        T(test_same_seed_gives_the_same_split_and_another_seed_another),
        T(test_views_outlive_their_parent_and_splits_compose),
        T(test_split_views_keep_the_standardisation_and_are_named),
        T(test_split_fractions_that_leave_a_side_empty_are_errors),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
