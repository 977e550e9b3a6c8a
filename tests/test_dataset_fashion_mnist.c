/* The real Fashion-MNIST (Debian's dataset-fashion-mnist), when installed;
 * skipped otherwise. Expected labels and pixels were read with Python's gzip. */
#define _POSIX_C_SOURCE 200809L /* access */
#include <unistd.h>

#include "testing.h"

static bool installed(void) { return access(TG_FASHION_MNIST_DIR "/train-labels-idx1-ubyte.gz", R_OK) == 0; }

static void assert_first_labels(const tg_dataset *ds, const int64_t *expected) {
    for (int i = 0; i < 20; i++) assert_int_equal(tg_dataset_label(ds, i), expected[i]);
}

static void assert_fashion_shape(const tg_dataset *ds, int64_t n) {
    assert_non_null(ds);
    assert_int_equal(tg_dataset_len(ds), n);
    int64_t shape[TG_MAX_DIMS];
    assert_int_equal(tg_dataset_sample_shape(ds, shape), 2);
    assert_int_equal(shape[0], 28);
    assert_int_equal(shape[1], 28);
    assert_int_equal(tg_dataset_features(ds), 784);
    assert_int_equal(tg_dataset_classes(ds), 10);
    assert_string_equal(tg_dataset_class_name(ds, 0), "T-shirt/top");
}

static void test_fashion_mnist_train_set_has_60000_images_of_28x28_in_10_classes(void **state) {
    (void)state;
    if (!installed()) skip();
    tg_dataset *ds = tg_dataset_fashion_mnist(NULL, true);
    if (!ds) fail_msg("%s", tg_last_error());
    assert_fashion_shape(ds, 60000);
    assert_string_equal(tg_dataset_name(ds), "fashion-mnist train");
    assert_first_labels(ds, (int64_t[]){9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9, 5, 5, 7, 9, 1, 0, 6, 4});
    /* row 10 of image 0, bytes / 255 */
    static const int row10[28] = {0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   193,
                                  228, 218, 213, 198, 180, 212, 210, 211, 213, 223, 220, 243, 202, 0};
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F32, 1, NULL, &b), TG_OK);
    assert_shape(b.x, SHAPE(1, 28, 28));
    const float *x = b.x->data;
    double sum = 0;
    for (int j = 0; j < 784; j++) sum += x[j];
    for (int j = 0; j < 28; j++) assert_near(x[280 + j], row10[j] / 255.0, 1e-7);
    assert_near(sum, 76247 / 255.0, 1e-3);
    tg_dataset_free(ds);
}

static void test_fashion_mnist_test_set_has_10000_images(void **state) {
    (void)state;
    if (!installed()) skip();
    tg_dataset *ds = tg_dataset_fashion_mnist(NULL, false);
    if (!ds) fail_msg("%s", tg_last_error());
    assert_fashion_shape(ds, 10000);
    assert_string_equal(tg_dataset_name(ds), "fashion-mnist test");
    assert_first_labels(ds, (int64_t[]){9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5, 7, 3, 4, 1, 2, 4, 8, 0});
    tg_dataset_free(ds);
}

/* runs everywhere, so the program always has a test that ran */
static void test_fashion_mnist_without_its_files_says_which_package_has_them(void **state) {
    (void)state;
    assert_null(tg_dataset_fashion_mnist("/nonexistent/fashion", false));
    assert_error_mentions(tg_last_error(), "no t10k-images-idx3-ubyte.gz or t10k-images-idx3-ubyte in /nonexistent/fashion");
    assert_error_mentions(tg_last_error(), "apt-get install dataset-fashion-mnist");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fashion_mnist_train_set_has_60000_images_of_28x28_in_10_classes,
                                        tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_fashion_mnist_test_set_has_10000_images, tape_setup, tape_teardown),
        cmocka_unit_test(test_fashion_mnist_without_its_files_says_which_package_has_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
