/* IDX loader: small files written here, plain and gzip; every bad file is an
 * error naming the file and the byte offset, and leaves nothing allocated. */
#include "dataset_testing.h"

/* images [3,2,2] u8 and labels [3] u8 */
static const unsigned char pixels[12] = {0, 51, 102, 153, 204, 255, 0, 0, 10, 20, 30, 40};
static const unsigned char label_bytes[3] = {2, 0, 1};
static unsigned char images[64], labels[64];
static size_t images_size, labels_size;

static void build_files(void) {
    images_size = idx_build(images, 0x08, 3, (uint32_t[]){3, 2, 2}, pixels, sizeof pixels);
    labels_size = idx_build(labels, 0x08, 1, (uint32_t[]){3}, label_bytes, sizeof label_bytes);
}

static void assert_small_set(tg_dataset *ds) {
    assert_non_null(ds);
    assert_int_equal(tg_dataset_len(ds), 3);
    int64_t shape[TG_MAX_DIMS];
    assert_int_equal(tg_dataset_sample_shape(ds, shape), 2);
    assert_int_equal(shape[0], 2);
    assert_int_equal(shape[1], 2);
    assert_int_equal(tg_dataset_features(ds), 4);
    assert_int_equal(tg_dataset_task(ds), TG_TASK_CLASSIFICATION);
    assert_int_equal(tg_dataset_classes(ds), 3); /* max label + 1 */
    assert_int_equal(tg_dataset_targets(ds), 0);
    assert_string_equal(tg_dataset_class_name(ds, 2), "2");
    assert_null(tg_dataset_class_name(ds, 3));
    for (int i = 0; i < 3; i++) assert_int_equal(tg_dataset_label(ds, i), label_bytes[i]);
    const double *v = all_values(ds);
    for (int i = 0; i < 12; i++) assert_near(v[i], pixels[i] / 255.0, 1e-15);
}

static void test_idx_plain_u8_images_load_with_values_scaled_to_unit_range(void **state) {
    (void)state;
    build_files();
    tg_dataset *ds = tg_dataset_idx(write_file("images.idx", images, images_size),
                                    write_file("labels.idx", labels, labels_size));
    assert_small_set(ds);
    assert_string_equal(tg_dataset_name(ds), "images.idx");
    tg_dataset_free(ds);
}

static void test_idx_gzip_is_recognised_by_its_bytes_not_its_name(void **state) {
    (void)state;
    build_files();
    tg_dataset *ds = tg_dataset_idx(write_gzip("images.raw", images, images_size),
                                    write_gzip("labels.bin", labels, labels_size));
    assert_small_set(ds);
    tg_dataset_free(ds);
    /* and a plain file named .gz is read as it is */
    ds = tg_dataset_idx(write_file("plain-images.gz", images, images_size),
                        write_file("plain-labels.gz", labels, labels_size));
    assert_small_set(ds);
    tg_dataset_free(ds);
}

static void test_idx_two_concatenated_gzip_members_read_as_one_file(void **state) {
    (void)state;
    build_files();
    unsigned char gz[256];
    size_t first = gzip_bytes(images, 10, gz, sizeof gz);
    size_t second = gzip_bytes(images + 10, images_size - 10, gz + first, sizeof gz - first);
    tg_dataset *ds = tg_dataset_idx(write_file("images.gz", gz, first + second), write_file("labels", labels, labels_size));
    assert_small_set(ds);
    tg_dataset_free(ds);
}

static void test_idx_signed_and_float_element_types_load_exactly(void **state) {
    (void)state;
    /* i16 images [2,3] (big-endian), i8 labels */
    unsigned char i16[12] = {0xFE, 0xD4, 0x00, 0x02, 0x7F, 0xFF, 0x80, 0x00, 0x00, 0x00, 0xFF, 0xFF};
    unsigned char file[64], lab[16];
    size_t size = idx_build(file, 0x0B, 2, (uint32_t[]){2, 3}, i16, sizeof i16);
    size_t lsize = idx_build(lab, 0x09, 1, (uint32_t[]){2}, (unsigned char[]){4, 0}, 2);
    tg_dataset *ds = tg_dataset_idx(write_file("i16", file, size), write_file("i8", lab, lsize));
    assert_non_null(ds);
    const double *v = all_values(ds);
    const double expected16[6] = {-300, 2, 32767, -32768, 0, -1};
    for (int i = 0; i < 6; i++) assert_near(v[i], expected16[i], 0);
    assert_int_equal(tg_dataset_classes(ds), 5);
    tg_dataset_free(ds);

    /* f32 images: 1.5 = 3F C0 00 00, -0.25 = BE 80 00 00 */
    unsigned char f32[8] = {0x3F, 0xC0, 0, 0, 0xBE, 0x80, 0, 0};
    size = idx_build(file, 0x0D, 2, (uint32_t[]){1, 2}, f32, sizeof f32);
    lsize = idx_build(lab, 0x08, 1, (uint32_t[]){1}, (unsigned char[]){0}, 1);
    ds = tg_dataset_idx(write_file("f32", file, size), write_file("one-label", lab, lsize));
    assert_non_null(ds);
    v = all_values(ds);
    assert_near(v[0], 1.5, 0);
    assert_near(v[1], -0.25, 0);
    tg_dataset_free(ds);

    /* f64: 0.1 = 3F B9 99 99 99 99 99 9A; i32: -2 = FF FF FF FE */
    unsigned char f64[8] = {0x3F, 0xB9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9A};
    size = idx_build(file, 0x0E, 2, (uint32_t[]){1, 1}, f64, sizeof f64);
    ds = tg_dataset_idx(write_file("f64", file, size), write_file("one-label-again", lab, lsize));
    assert_non_null(ds);
    assert_true(all_values(ds)[0] == 0.1);
    tg_dataset_free(ds);
    size = idx_build(file, 0x0C, 2, (uint32_t[]){1, 1}, (unsigned char[]){0xFF, 0xFF, 0xFF, 0xFE}, 4);
    ds = tg_dataset_idx(write_file("i32", file, size), write_file("one-label-more", lab, lsize));
    assert_non_null(ds);
    assert_true(all_values(ds)[0] == -2);
    tg_dataset_free(ds);
}

static void test_idx_bad_magic_names_the_file_and_offset(void **state) {
    (void)state;
    build_files();
    images[0] = 'P';
    images[1] = 'K';
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("zipped.idx", images, images_size),
                                     write_file("labels", labels, labels_size)),
                      "tg_dataset_idx", "zipped.idx", "bad IDX magic number 50 4b 08 03", "byte offset 0");
}

static void test_idx_unknown_element_type_is_a_bad_magic(void **state) {
    (void)state;
    build_files();
    images[2] = 0x0A;
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("images", images, images_size),
                                     write_file("labels", labels, labels_size)),
                      "images", "bad IDX magic number 00 00 0a 03", "0d f32");
}

static void test_idx_truncated_gzip_names_the_file_and_offset(void **state) {
    (void)state;
    unsigned char big[4000], gz[8192];
    for (int i = 0; i < 4000; i++) big[i] = (unsigned char)(i * 7919 % 251);
    size_t size = idx_build(gz + 4096, 0x08, 2, (uint32_t[]){40, 99}, big, 3960);
    size_t gz_size = gzip_bytes(gz + 4096, size, gz, 4096);
    build_files();
    char offset[64];
    snprintf(offset, sizeof offset, "ends at byte offset %zu", gz_size / 2);
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("cut.gz", gz, gz_size / 2), write_file("labels", labels, labels_size)),
                      "tg_dataset_idx", "cut.gz", "truncated gzip data", offset);
}

static void test_idx_gzip_with_a_wrong_checksum_is_corrupt(void **state) {
    (void)state;
    build_files();
    unsigned char gz[256];
    size_t gz_size = gzip_bytes(images, images_size, gz, sizeof gz);
    gz[gz_size - 8] ^= 0xFF; /* the CRC-32 in the trailer */
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("crc.gz", gz, gz_size), write_file("labels", labels, labels_size)),
                      "crc.gz", "corrupt gzip data near byte offset", "incorrect data check");
}

static void test_idx_bytes_after_the_gzip_data_are_an_error(void **state) {
    (void)state;
    build_files();
    unsigned char gz[256];
    size_t gz_size = gzip_bytes(images, images_size, gz, sizeof gz);
    memcpy(gz + gz_size, "junk", 4);
    char offset[64];
    snprintf(offset, sizeof offset, "after the gzip data at byte offset %zu", gz_size);
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("junk.gz", gz, gz_size + 4), write_file("labels", labels, labels_size)),
                      "junk.gz", "trailing bytes", offset);
}

static void test_idx_missing_bytes_name_the_offset_where_the_data_ends(void **state) {
    (void)state;
    build_files(); /* [3,2,2] u8: 16 + 12 = 28 bytes */
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("short", images, 26), write_file("labels", labels, labels_size)),
                      "short", "missing bytes", "u8 [3,2,2] needs 28 bytes", "ends at byte offset 26");
    /* in a gzip file the offsets are those of the inflated data */
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_gzip("short.gz", images, 26), write_file("labels", labels, labels_size)),
                      "short.gz", "byte offset 26 of the inflated data");
}

static void test_idx_trailing_bytes_name_their_offset(void **state) {
    (void)state;
    build_files();
    images[images_size] = images[images_size + 1] = 7;
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("long", images, images_size + 2),
                                     write_file("labels", labels, labels_size)),
                      "long", "2 trailing bytes from byte offset 28", "needs 28 bytes");
}

static void test_idx_truncated_header_is_an_error(void **state) {
    (void)state;
    build_files();
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("images", images, images_size),
                                     write_file("stub", labels, 3)),
                      "stub", "3 bytes", "too short");
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("header", images, 10), write_file("labels", labels, labels_size)),
                      "header", "truncated IDX header", "3 dimensions need 16 bytes", "ends at byte offset 10");
}

static void test_idx_count_mismatch_names_both_files(void **state) {
    (void)state;
    build_files();
    unsigned char two[16];
    size_t size = idx_build(two, 0x08, 1, (uint32_t[]){2}, label_bytes, 2);
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("images", images, images_size), write_file("two-labels", two, size)),
                      "count mismatch", "images has 3 images", "two-labels has 2 labels");
}

static void test_idx_negative_label_is_out_of_range_at_its_offset(void **state) {
    (void)state;
    build_files();
    unsigned char signed_labels[16];
    size_t size = idx_build(signed_labels, 0x09, 1, (uint32_t[]){3}, (unsigned char[]){1, 0xFF, 0}, 3);
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("images", images, images_size),
                                     write_file("negative", signed_labels, size)),
                      "negative", "label -1 of sample 1 (byte offset 9) is out of range [0, 65536)");
}

static void test_idx_swapped_or_float_label_files_are_recognised(void **state) {
    (void)state;
    build_files();
    const char *images_path = write_file("images", images, images_size);
    const char *labels_path = write_file("labels", labels, labels_size);
    ASSERT_LOAD_FAILS(tg_dataset_idx(labels_path, images_path), "images have 1 dimension", "is this the labels file?");
    unsigned char floats[16];
    size_t size = idx_build(floats, 0x0D, 1, (uint32_t[]){1}, (unsigned char[]){0, 0, 0, 0}, 4);
    ASSERT_LOAD_FAILS(tg_dataset_idx(images_path, write_file("float-labels", floats, size)), "float-labels",
                      "labels of type f32", "must be integers");
}

static void test_idx_non_finite_float_element_is_an_error(void **state) {
    (void)state;
    unsigned char file[32], lab[16];
    size_t size = idx_build(file, 0x0D, 2, (uint32_t[]){1, 2}, (unsigned char[]){0, 0, 0, 0, 0x7F, 0xC0, 0, 0}, 8);
    size_t lsize = idx_build(lab, 0x08, 1, (uint32_t[]){1}, (unsigned char[]){0}, 1);
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("nan", file, size), write_file("labels", lab, lsize)),
                      "nan", "element 1 at byte offset 16", "not a finite number");
}

static void test_idx_empty_set_and_missing_file_are_errors(void **state) {
    (void)state;
    unsigned char none[16], no_labels[16];
    size_t size = idx_build(none, 0x08, 3, (uint32_t[]){0, 28, 28}, NULL, 0);
    size_t lsize = idx_build(no_labels, 0x08, 1, (uint32_t[]){0}, NULL, 0);
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("none", none, size), write_file("no-labels", no_labels, lsize)),
                      "none has 0 samples of shape [28,28]");
    build_files();
    char missing[600];
    snprintf(missing, sizeof missing, "%s/does-not-exist", test_dir);
    ASSERT_LOAD_FAILS(tg_dataset_idx(missing, write_file("labels", labels, labels_size)), "tg_dataset_idx",
                      "cannot open", missing, "No such file");
    ASSERT_LOAD_FAILS(tg_dataset_idx(test_dir, missing), "cannot read", "is a directory");
    ASSERT_LOAD_FAILS(tg_dataset_idx(NULL, missing), "images_path is NULL");
}

static void test_fashion_mnist_loader_reads_its_files_from_a_directory(void **state) {
    (void)state;
    build_files();
    write_gzip("t10k-images-idx3-ubyte.gz", images, images_size);
    write_file("t10k-labels-idx1-ubyte", labels, labels_size);
    tg_dataset *ds = tg_dataset_fashion_mnist(test_dir, false);
    assert_non_null(ds);
    assert_string_equal(tg_dataset_name(ds), "fashion-mnist test");
    assert_int_equal(tg_dataset_classes(ds), 10); /* whatever the labels are */
    assert_string_equal(tg_dataset_class_name(ds, 0), "T-shirt/top");
    assert_string_equal(tg_dataset_class_name(ds, 9), "Ankle boot");
    assert_null(tg_dataset_class_name(ds, 10));
    tg_dataset_free(ds);
    ASSERT_LOAD_FAILS(tg_dataset_fashion_mnist(test_dir, true), "tg_dataset_fashion_mnist",
                      "no train-images-idx3-ubyte.gz or train-images-idx3-ubyte", test_dir, "dataset-fashion-mnist");
}

static void test_fashion_mnist_label_ten_is_out_of_range(void **state) {
    (void)state;
    build_files();
    labels[10] = 10; /* sample 2 */
    write_file("train-images-idx3-ubyte", images, images_size);
    write_gzip("train-labels-idx1-ubyte.gz", labels, labels_size);
    ASSERT_LOAD_FAILS(tg_dataset_fashion_mnist(test_dir, true), "train-labels-idx1-ubyte.gz",
                      "label 10 of sample 2 (byte offset 10 of the inflated data) is out of range [0, 10)");
}

/* found by fuzzing: zero samples of [2^32-1]^8 passed the byte count (0
 * elements) and the sample size overflowed; nine dimensions made samples a
 * batch could never hold */
static void test_idx_samples_a_batch_cannot_hold_are_refused(void **state) {
    (void)state;
    unsigned char huge[64], nine[64], one_label[16], no_labels[16];
    uint32_t dims[9] = {0, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
                        0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
    size_t size = idx_build(huge, 0x08, 9, dims, NULL, 0);
    size_t lsize = idx_build(no_labels, 0x08, 1, (uint32_t[]){0}, NULL, 0);
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("huge", huge, size), write_file("no-labels", no_labels, lsize)),
                      "huge has 0 samples of shape [4294967295,", "a batch of them cannot be a tensor");
    size = idx_build(nine, 0x08, 9, (uint32_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, "\x07", 1);
    lsize = idx_build(one_label, 0x08, 1, (uint32_t[]){1}, "\x00", 1);
    ASSERT_LOAD_FAILS(tg_dataset_idx(write_file("nine", nine, size), write_file("one-label", one_label, lsize)),
                      "nine has 1 samples of shape [1,1,1,1,1,1,1,1]", "at most 8 dimensions");
    /* eight dimensions (samples of seven) load and gather */
    size = idx_build(nine, 0x08, 8, (uint32_t[]){1, 1, 1, 1, 1, 1, 1, 2}, "\x00\xff", 2);
    tg_dataset *ds = tg_dataset_idx(write_file("eight", nine, size), write_file("one-label-2", one_label, lsize));
    assert_non_null(ds);
    const double *v = all_values(ds);
    assert_true(v[0] == 0 && v[1] == 1);
    tg_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, dataset_setup, dataset_teardown)
        T(test_idx_plain_u8_images_load_with_values_scaled_to_unit_range),
        T(test_idx_samples_a_batch_cannot_hold_are_refused),
        T(test_idx_gzip_is_recognised_by_its_bytes_not_its_name),
        T(test_idx_two_concatenated_gzip_members_read_as_one_file),
        T(test_idx_signed_and_float_element_types_load_exactly),
        T(test_idx_bad_magic_names_the_file_and_offset),
        T(test_idx_unknown_element_type_is_a_bad_magic),
        T(test_idx_truncated_gzip_names_the_file_and_offset),
        T(test_idx_gzip_with_a_wrong_checksum_is_corrupt),
        T(test_idx_bytes_after_the_gzip_data_are_an_error),
        T(test_idx_missing_bytes_name_the_offset_where_the_data_ends),
        T(test_idx_trailing_bytes_name_their_offset),
        T(test_idx_truncated_header_is_an_error),
        T(test_idx_count_mismatch_names_both_files),
        T(test_idx_negative_label_is_out_of_range_at_its_offset),
        T(test_idx_swapped_or_float_label_files_are_recognised),
        T(test_idx_non_finite_float_element_is_an_error),
        T(test_idx_empty_set_and_missing_file_are_errors),
        T(test_fashion_mnist_loader_reads_its_files_from_a_directory),
        T(test_fashion_mnist_label_ten_is_out_of_range),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
