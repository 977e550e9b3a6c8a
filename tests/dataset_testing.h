/* Helpers for the data set tests: a temporary directory per test, files
 * written into it (plain or gzip through zlib), IDX files built from their
 * parts, and a data set's samples read back through a gather. */
#ifndef TG_TESTS_DATASET_TESTING_H
#define TG_TESTS_DATASET_TESTING_H

#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "testing.h"

enum { MAX_TEST_FILES = 16 };
static char test_dir[256];
static char test_files[MAX_TEST_FILES][512];
static int test_file_count;

/* cmocka_unit_test_setup_teardown(test_x, dir_setup, dir_teardown) */
static inline int dir_setup(void **state) {
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(test_dir, sizeof test_dir, "%s/tapegrad-data.XXXXXX", base && *base ? base : "/tmp");
    test_file_count = 0;
    return mkdtemp(test_dir) ? 0 : -1;
}

static inline int dir_teardown(void **state) {
    (void)state;
    for (int i = 0; i < test_file_count; i++) remove(test_files[i]);
    test_file_count = 0;
    return rmdir(test_dir);
}

/* A fresh tape and temporary directory:
 *   cmocka_unit_test_setup_teardown(test_x, dataset_setup, dataset_teardown) */
static inline int dataset_setup(void **state) { return tape_setup(state) || dir_setup(state); }
static inline int dataset_teardown(void **state) { return tape_teardown(state) | dir_teardown(state); }

/* Writes size bytes to test_dir/name; returns the path (valid for the test). */
static inline const char *write_file(const char *name, const void *data, size_t size) {
    assert_true(test_file_count < MAX_TEST_FILES);
    char *path = test_files[test_file_count++];
    snprintf(path, sizeof test_files[0], "%s/%s", test_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
    return path;
}

static inline const char *write_text(const char *name, const char *text) {
    return write_file(name, text, strlen(text));
}

/* data gzip-compressed by zlib (one member) into out (capacity cap); returns its size. */
static inline size_t gzip_bytes(const void *data, size_t size, unsigned char *out, size_t cap) {
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)data;
    z.avail_in = (unsigned)size;
    z.next_out = out;
    z.avail_out = (unsigned)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t written = z.total_out;
    deflateEnd(&z);
    return written;
}

static inline const char *write_gzip(const char *name, const void *data, size_t size) {
    size_t cap = size + size / 2 + 128;
    unsigned char *gz = malloc(cap);
    assert_non_null(gz);
    const char *path = write_file(name, gz, gzip_bytes(data, size, gz, cap));
    free(gz);
    return path;
}

/* An IDX file: 00 00 type ndim, the dimensions big-endian, then payload. */
static inline size_t idx_build(unsigned char *out, int type, int ndim, const uint32_t *dims, const void *payload,
                               size_t payload_size) {
    out[0] = out[1] = 0;
    out[2] = (unsigned char)type;
    out[3] = (unsigned char)ndim;
    for (int d = 0; d < ndim; d++)
        for (int b = 0; b < 4; b++) out[4 + 4 * d + b] = (unsigned char)(dims[d] >> (24 - 8 * b));
    if (payload_size) memcpy(out + 4 + 4 * ndim, payload, payload_size);
    return 4 + 4 * (size_t)ndim + payload_size;
}

/* Asserts a NULL result with status and an error message holding every fragment. */
#define ASSERT_LOAD_FAILS(result, ...)                                                      \
    do {                                                                                    \
        tg_dataset *failed_ = (result);                                                     \
        assert_null(failed_);                                                               \
        const char *fragments_[] = {__VA_ARGS__};                                           \
        for (size_t i_ = 0; i_ < sizeof fragments_ / sizeof fragments_[0]; i_++)            \
            assert_error_mentions(tg_last_error(), fragments_[i_]);                         \
    } while (0)

/* All features of ds as doubles (gathered in f64 on the test's tape), n * features values. */
static inline const double *all_values(const tg_dataset *ds) {
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F64, tg_dataset_len(ds), NULL, &b), TG_OK);
    return b.x->data;
}

#endif
