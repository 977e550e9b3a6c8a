/* Standardisation: per-feature mean and population std worked out by hand,
 * applied at gather time; stored values never change. */
#include "dataset_testing.h"

/* feature 0: 1, 2, 3, 6: mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5; feature 1: constant 10 */
static const double columns[4][2] = {{1, 10}, {2, 10}, {3, 10}, {6, 10}};

static tg_dataset *four_samples(void) {
    return tg_dataset_from(TG_F64, 2, (int64_t[]){4, 2}, columns, (int64_t[]){0, 1, 0, 1}, NULL, 0);
}

static void test_standardize_fits_the_population_mean_and_std(void **state) {
    (void)state;
    tg_dataset *ds = four_samples();
    assert_int_equal(tg_dataset_standardize(ds), TG_OK);
    double mean[2], std[2];
    assert_int_equal(tg_dataset_get_standardization(ds, mean, std), TG_OK);
    assert_near(mean[0], 3, 1e-15);
    assert_near(std[0], sqrt(3.5), 1e-15);
    /* a constant feature: its value exactly, and std 1 */
    assert_true(mean[1] == 10);
    assert_true(std[1] == 1);
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F64, 4, NULL, &b), TG_OK);
    /* (x - 3) / sqrt(3.5); (10 - 10) / 1 */
    ASSERT_VALUES(b.x, 1e-15, -2 / sqrt(3.5), 0, -1 / sqrt(3.5), 0, 0, 0, 3 / sqrt(3.5), 0);
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F32, 4, NULL, &b), TG_OK);
    ASSERT_VALUES(b.x, 1e-6, -1.0690449676496976, 0, -0.5345224838248488, 0, 0, 0, 1.6035674514745464, 0);
    tg_dataset_free(ds);
}

static void test_standardize_like_applies_the_fitted_statistics_to_another_set(void **state) {
    (void)state;
    tg_dataset *train = four_samples();
    tg_dataset *test = tg_dataset_from(TG_F32, 2, (int64_t[]){2, 2}, (float[]){5, -1, 7, 3}, (int64_t[]){0, 0}, NULL, 0);
    assert_int_equal(tg_dataset_standardize_like(test, train), TG_ERR_STATE);
    assert_error_mentions(tg_last_error(), "arrays is not standardised");
    assert_int_equal(tg_dataset_standardize(train), TG_OK);
    assert_int_equal(tg_dataset_standardize_like(test, train), TG_OK);
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, test, TG_F64, 2, NULL, &b), TG_OK);
    /* (5 - 3) / sqrt(3.5), (-1 - 10) / 1; (7 - 3) / sqrt(3.5), (3 - 10) / 1 */
    ASSERT_VALUES(b.x, 1e-12, 2 / sqrt(3.5), -11, 4 / sqrt(3.5), -7);
    tg_dataset_free(train);
    tg_dataset_free(test);
}

static void test_standardize_like_refuses_other_features(void **state) {
    (void)state;
    tg_dataset *train = four_samples();
    tg_dataset *three = tg_dataset_from(TG_F64, 2, (int64_t[]){1, 3}, (double[]){1, 2, 3}, (int64_t[]){0}, NULL, 0);
    tg_dataset_standardize(train);
    assert_int_equal(tg_dataset_standardize_like(three, train), TG_ERR_SHAPE);
    assert_error_mentions(tg_last_error(), "samples [3] (3 features)");
    assert_error_mentions(tg_last_error(), "[2] (2 features)");
    tg_dataset_free(train);
    tg_dataset_free(three);
}

static void test_u8_images_are_standardised_on_their_unit_range_values(void **state) {
    (void)state;
    /* bytes 0, 51, 102 = values 0, 0.2, 0.4: mean 0.2, std sqrt(0.08 / 3) */
    unsigned char images[32], labels[16];
    size_t size = idx_build(images, 0x08, 2, (uint32_t[]){3, 1}, (unsigned char[]){0, 51, 102}, 3);
    size_t lsize = idx_build(labels, 0x08, 1, (uint32_t[]){3}, (unsigned char[]){0, 1, 0}, 3);
    tg_dataset *ds = tg_dataset_idx(write_file("images", images, size), write_file("labels", labels, lsize));
    assert_int_equal(tg_dataset_standardize(ds), TG_OK);
    double mean, std;
    tg_dataset_get_standardization(ds, &mean, &std);
    assert_near(mean, 0.2, 1e-15);
    assert_near(std, sqrt(0.08 / 3), 1e-15);
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F32, 3, NULL, &b), TG_OK);
    ASSERT_VALUES(b.x, 1e-6, -0.2 / sqrt(0.08 / 3), 0, 0.2 / sqrt(0.08 / 3));
    tg_dataset_free(ds);
}

static void test_standardizing_a_view_leaves_its_parent_unchanged(void **state) {
    (void)state;
    tg_dataset *all = four_samples(), *train, *valid;
    assert_int_equal(tg_dataset_split(all, 0.25, 1, &train, &valid), TG_OK);
    assert_int_equal(tg_dataset_standardize(train), TG_OK);
    double mean[2], std[2];
    assert_int_equal(tg_dataset_get_standardization(all, mean, std), TG_ERR_STATE);
    assert_error_mentions(tg_last_error(), "arrays is not standardised");
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, all, TG_F64, 4, NULL, &b), TG_OK);
    ASSERT_VALUES(b.x, 0, 1, 10, 2, 10, 3, 10, 6, 10); /* the stored values */
    tg_dataset_free(all);
    tg_dataset_free(train);
    tg_dataset_free(valid);
}

static void test_set_standardization_round_trips_and_checks_std(void **state) {
    (void)state;
    tg_dataset *ds = four_samples();
    assert_int_equal(tg_dataset_set_standardization(ds, (double[]){1, 2}, (double[]){0.5, 4}), TG_OK);
    double mean[2], std[2];
    assert_int_equal(tg_dataset_get_standardization(ds, mean, std), TG_OK);
    assert_true(mean[0] == 1 && mean[1] == 2 && std[0] == 0.5 && std[1] == 4);
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F64, 1, NULL, &b), TG_OK);
    ASSERT_VALUES(b.x, 0, 0, 2); /* (1 - 1) / 0.5, (10 - 2) / 4 */
    assert_int_equal(tg_dataset_set_standardization(ds, (double[]){0, 0}, (double[]){1, 0}), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "feature 1: mean 0, std 0");
    assert_int_equal(tg_dataset_standardize(NULL), TG_ERR_ARG);
    tg_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, dataset_setup, dataset_teardown)
        T(test_standardize_fits_the_population_mean_and_std),
        T(test_standardize_like_applies_the_fitted_statistics_to_another_set),
        T(test_standardize_like_refuses_other_features),
        T(test_u8_images_are_standardised_on_their_unit_range_values),
        T(test_standardizing_a_view_leaves_its_parent_unchanged),
        T(test_set_standardization_round_trips_and_checks_std),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
