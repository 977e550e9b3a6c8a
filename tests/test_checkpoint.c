/* Checkpoint files: records of every kind round-trip; crafted files with a
 * valid checksum but bad contents are refused; strict and non-strict loads;
 * saves that are killed or run concurrently never leave a broken file. */
#include "scratch_dir.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "testing.h"

#define RUN_PATH scratch_path("run.tg")

/* ---- crafting files byte by byte (with a valid checksum) ---- */

typedef struct {
    unsigned char bytes[4096];
    size_t size;
} craft;

static void craft_put(craft *c, const void *p, size_t n) {
    assert_true(c->size + n <= sizeof c->bytes);
    memcpy(c->bytes + c->size, p, n);
    c->size += n;
}
static void craft_u32(craft *c, uint32_t v) { craft_put(c, &v, 4); }
static void craft_header(craft *c, uint32_t version, uint32_t count) {
    craft_put(c, "TGPARAMS", 8);
    craft_u32(c, version);
    craft_u32(c, count);
}
/* An f32 vector record of n values all equal to `value`. */
static void craft_vector(craft *c, const char *name, size_t name_len, uint32_t kind, int64_t n, float value) {
    craft_u32(c, (uint32_t)name_len);
    craft_put(c, name, name_len);
    craft_u32(c, kind);
    craft_u32(c, TG_F32);
    craft_u32(c, 1);
    craft_put(c, &n, 8);
    for (int64_t i = 0; i < n; i++) craft_put(c, &value, 4);
}
static void craft_finish(craft *c, const char *path) {
    uint64_t digest = XXH3_64bits(c->bytes, c->size);
    craft_put(c, &digest, 8);
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(c->bytes, 1, c->size, out), c->size);
    fclose(out);
}

/* A store holding w = [1, 2, 3] (parameter) and b = [4] (buffer). */
static tg_params *small_store(void) {
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_param(p, "w", TG_F32, SHAPE(3), TG_INIT_ZEROS, NULL);
    tg_tensor *b = tg_buffer(p, "b", TG_F64, SHAPE(1), TG_INIT_ZEROS, NULL);
    for (int i = 0; i < 3; i++) tg_set(w, i, i + 1);
    tg_set(b, 0, 4);
    return p;
}

/* ---- round trip ---- */

static void test_records_of_every_kind_round_trip(void **state) {
    (void)state;
    tg_params *p = small_store();
    tg_tape *t = tg_tape_new();
    tg_tensor *momentum = T64(t, SHAPE(2, 2), 0.5, -1, 2, 1e-300);
    uint64_t counters[2] = {7, 1ull << 60};
    tg_checkpoint *c = tg_checkpoint_new();
    assert_int_equal(tg_checkpoint_add_params(c, p), TG_OK);
    assert_int_equal(tg_checkpoint_add_tensor(c, "optim/w/momentum_buffer", TG_RECORD_STATE, momentum), TG_OK);
    assert_int_equal(tg_checkpoint_add_bytes(c, "run/counters", counters, sizeof counters), TG_OK);
    assert_int_equal(tg_checkpoint_add_bytes(c, "run/empty", NULL, 0), TG_OK);
    assert_int_equal(tg_checkpoint_write(c, RUN_PATH), TG_OK);
    tg_checkpoint_free(c);

    tg_checkpoint *r = tg_checkpoint_read(RUN_PATH);
    assert_non_null(r);
    assert_int_equal(tg_checkpoint_count(r), 5);
    assert_string_equal(tg_checkpoint_origin(r), RUN_PATH);
    const tg_record *w = tg_checkpoint_at(r, 0);
    assert_string_equal(w->name, "w");
    assert_int_equal(w->kind, TG_RECORD_PARAM);
    assert_int_equal(w->bytes, 12);
    assert_int_equal((uintptr_t)w->data % 64, 0); /* data may be read as float * */
    assert_int_equal(((const float *)w->data)[2], 3);
    assert_int_equal(tg_checkpoint_find(r, "b")->kind, TG_RECORD_BUFFER);
    const tg_record *m = tg_checkpoint_find(r, "optim/w/momentum_buffer");
    assert_int_equal(m->kind, TG_RECORD_STATE);
    assert_int_equal(m->dtype, TG_F64);
    assert_int_equal(m->ndim, 2);
    assert_int_equal(memcmp(m->data, momentum->data, 32), 0);
    uint64_t back[2];
    assert_int_equal(tg_checkpoint_get_bytes(r, "run/counters", back, sizeof back), TG_OK);
    assert_true(back[0] == 7 && back[1] == 1ull << 60);
    assert_int_equal(tg_checkpoint_find(r, "run/empty")->bytes, 0);
    assert_int_equal(tg_checkpoint_get_bytes(r, "run/counters", back, 8), TG_ERR_FORMAT);
    assert_error_mentions(tg_last_error(), "run/counters");
    assert_null(tg_checkpoint_find(r, "nothing"));

    /* the model loads from a file with other records in it */
    tg_params *q = tg_params_new();
    assert_int_equal(tg_params_load(q, RUN_PATH), TG_OK);
    assert_int_equal(tg_params_count(q), 2);
    assert_true(tg_tensor_hash(tg_params_get(q, "w")) == tg_tensor_hash(tg_params_get(p, "w")));
    tg_checkpoint_free(r);
    tg_params_free(q);
    tg_params_free(p);
    tg_tape_free(t);
}

static void test_bytes_in_memory_are_the_file_and_parse_back(void **state) {
    (void)state;
    tg_params *p = small_store();
    tg_checkpoint *c = tg_checkpoint_new();
    assert_int_equal(tg_checkpoint_add_params(c, p), TG_OK);
    assert_int_equal(tg_checkpoint_add_bytes(c, "run/step", "\x07", 1), TG_OK);
    void *bytes;
    size_t size;
    assert_int_equal(tg_checkpoint_to_bytes(c, &bytes, &size), TG_OK);
    assert_int_equal(tg_checkpoint_write(c, RUN_PATH), TG_OK);
    FILE *in = fopen(RUN_PATH, "rb");
    unsigned char file[4096];
    size_t file_size = fread(file, 1, sizeof file, in);
    fclose(in);
    assert_int_equal(file_size, size);
    assert_memory_equal(file, bytes, size);
    /* a checkpoint read back gives the same bytes again */
    tg_checkpoint *r = tg_checkpoint_parse(bytes, size, "memory");
    assert_non_null(r);
    void *again;
    size_t again_size;
    assert_int_equal(tg_checkpoint_to_bytes(r, &again, &again_size), TG_OK);
    assert_int_equal(again_size, size);
    assert_memory_equal(again, bytes, size);
    free(again);
    free(bytes);
    tg_checkpoint_free(r);
    tg_checkpoint_free(c);
    tg_params_free(p);
}

static void test_adding_bad_or_duplicate_names_is_an_error(void **state) {
    (void)state;
    tg_checkpoint *c = tg_checkpoint_new();
    int one = 1;
    assert_int_equal(tg_checkpoint_add_bytes(c, "x", &one, sizeof one), TG_OK);
    assert_int_equal(tg_checkpoint_add_bytes(c, "x", &one, sizeof one), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "two records named 'x'");
    assert_int_equal(tg_checkpoint_add_bytes(c, "", &one, sizeof one), TG_ERR_ARG);
    assert_int_equal(tg_checkpoint_add_bytes(c, NULL, &one, sizeof one), TG_ERR_ARG);
    assert_int_equal(tg_checkpoint_add_tensor(c, "y", TG_RECORD_BYTES, NULL), TG_ERR_ARG);
    assert_int_equal(tg_checkpoint_count(c), 1);
    tg_checkpoint_free(c);
}

/* ---- files with a valid checksum and bad contents ---- */

static void assert_refused(const char *path, const char *fragment) {
    tg_params *p = small_store();
    uint64_t before = tg_tensor_hash(tg_params_get(p, "w"));
    assert_int_equal(tg_params_load(p, path), TG_ERR_FORMAT);
    assert_error_mentions(tg_last_error(), "tg_params_load");
    assert_error_mentions(tg_last_error(), path);
    assert_error_mentions(tg_last_error(), fragment);
    assert_true(tg_tensor_hash(tg_params_get(p, "w")) == before);
    assert_int_equal(tg_params_count(p), 2);
    tg_params_free(p);
    assert_null(tg_checkpoint_read(path));
}

static void test_a_name_given_twice_with_other_sizes_is_refused(void **state) {
    (void)state;
    craft c = {0};
    craft_header(&c, 2, 2);
    craft_vector(&c, "dup", 3, TG_RECORD_PARAM, 8, 7);
    craft_vector(&c, "dup", 3, TG_RECORD_PARAM, 1, 7);
    craft_finish(&c, RUN_PATH);
    assert_refused(RUN_PATH, "two records named 'dup'");
}

static void test_an_empty_name_after_a_good_record_changes_nothing(void **state) {
    (void)state;
    craft c = {0};
    craft_header(&c, 2, 2);
    craft_vector(&c, "w", 1, TG_RECORD_PARAM, 3, 7);
    craft_vector(&c, "", 0, TG_RECORD_BUFFER, 1, 7);
    craft_finish(&c, RUN_PATH);
    assert_refused(RUN_PATH, "bad name length");
}

static void test_a_name_with_a_nul_byte_is_refused(void **state) {
    (void)state;
    craft c = {0};
    craft_header(&c, 2, 2);
    craft_vector(&c, "w", 1, TG_RECORD_PARAM, 3, 7);
    craft_vector(&c, "b\0gus", 5, TG_RECORD_BUFFER, 1, 7);
    craft_finish(&c, RUN_PATH);
    assert_refused(RUN_PATH, "NUL byte");
}

static void test_an_overflowing_shape_is_refused(void **state) {
    (void)state;
    craft c = {0};
    craft_header(&c, 2, 1);
    craft_u32(&c, 1);
    craft_put(&c, "w", 1);
    craft_u32(&c, TG_RECORD_PARAM);
    craft_u32(&c, TG_F32);
    craft_u32(&c, 2);
    int64_t shape[2] = {1LL << 62, 4};
    craft_put(&c, shape, sizeof shape);
    craft_finish(&c, RUN_PATH);
    assert_refused(RUN_PATH, "too large");
}

static void test_a_count_larger_than_the_file_is_refused(void **state) {
    (void)state;
    craft c = {0};
    craft_header(&c, 2, 1000000);
    craft_vector(&c, "w", 1, TG_RECORD_PARAM, 3, 7);
    craft_finish(&c, RUN_PATH);
    assert_refused(RUN_PATH, "record count");
}

static void test_state_records_in_a_version_1_file_are_refused_and_plain_ones_load(void **state) {
    (void)state;
    craft c = {0};
    craft_header(&c, 1, 1);
    craft_vector(&c, "w", 1, TG_RECORD_STATE, 3, 7);
    craft_finish(&c, RUN_PATH);
    assert_refused(RUN_PATH, "kind 16");

    craft old = {0}; /* what earlier releases wrote */
    craft_header(&old, 1, 2);
    craft_vector(&old, "w", 1, TG_RECORD_PARAM, 3, 7);
    craft_u32(&old, 1);
    craft_put(&old, "b", 1);
    craft_u32(&old, TG_RECORD_BUFFER);
    craft_u32(&old, TG_F64);
    craft_u32(&old, 1);
    int64_t one = 1;
    double four = 4;
    craft_put(&old, &one, 8);
    craft_put(&old, &four, 8);
    craft_finish(&old, RUN_PATH);
    tg_params *p = small_store();
    assert_int_equal(tg_params_load(p, RUN_PATH), TG_OK);
    ASSERT_VALUES(tg_params_get(p, "w"), 0, 7, 7, 7);
    tg_params_free(p);
}

/* ---- strict and non-strict loads ---- */

static void test_strict_load_of_another_model_lists_the_names_and_changes_nothing(void **state) {
    (void)state;
    tg_params *other = tg_params_new();
    assert_non_null(tg_param(other, "w", TG_F32, SHAPE(3), TG_INIT_ONES, NULL));
    assert_non_null(tg_param(other, "fc2.weight", TG_F32, SHAPE(2), TG_INIT_ONES, NULL));
    assert_int_equal(tg_params_save(other, RUN_PATH), TG_OK);

    tg_params *p = small_store();
    uint64_t before = tg_tensor_hash(tg_params_get(p, "w"));
    assert_int_equal(tg_params_load(p, RUN_PATH), TG_ERR_FORMAT);
    assert_error_mentions(tg_last_error(), "does not hold this model");
    assert_error_mentions(tg_last_error(), "missing 'b'");
    assert_error_mentions(tg_last_error(), "unexpected 'fc2.weight'");
    assert_true(tg_tensor_hash(tg_params_get(p, "w")) == before);
    assert_int_equal(tg_params_count(p), 2);

    tg_load_report report;
    assert_int_equal(tg_params_load_ex(p, RUN_PATH, false, &report), TG_OK);
    assert_int_equal(report.loaded, 1);
    assert_int_equal(report.missing, 1);
    assert_int_equal(report.unexpected, 1);
    assert_int_equal(report.created, 0);
    assert_string_equal(report.names, "missing 'b'; unexpected 'fc2.weight'");
    ASSERT_VALUES(tg_params_get(p, "w"), 0, 1, 1, 1);
    ASSERT_VALUES(tg_params_get(p, "b"), 0, 4);
    assert_null(tg_params_get(p, "fc2.weight"));
    tg_params_free(p);
    tg_params_free(other);
}

/* ---- saving ---- */

static void test_save_errors_name_the_path_and_the_system_reason(void **state) {
    (void)state;
    char missing[400];
    snprintf(missing, sizeof missing, "%s/no/such/dir/run.tg", scratch_dir);
    tg_params *p = small_store();
    assert_int_equal(tg_params_save(p, missing), TG_ERR_IO);
    assert_error_mentions(tg_last_error(), "tg_params_save");
    assert_error_mentions(tg_last_error(), missing);
    assert_error_mentions(tg_last_error(), "No such file or directory");
    tg_params_free(p);
}

static void test_a_killed_save_leaves_the_old_file_and_no_temporary(void **state) {
    (void)state;
    tg_params *old = small_store();
    assert_int_equal(tg_params_save(old, RUN_PATH), TG_OK);
    for (int round = 0; round < 3; round++) {
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) { /* saves 256 MiB, killed while writing */
            tg_params *big = tg_params_new();
            tg_param(big, "big", TG_F64, SHAPE(32 << 20), TG_INIT_ONES, NULL);
            tg_params_save(big, RUN_PATH);
            _exit(0);
        }
        usleep(150000 + 50000 * (useconds_t)round);
        kill(child, SIGKILL);
        int status;
        waitpid(child, &status, 0);
        assert_int_equal(files_in(scratch_dir), 1); /* only run.tg: nothing left behind */
        tg_params *check = small_store();
        tg_status st = tg_params_load(check, RUN_PATH);
        if (st == TG_OK) { /* the save finished before the kill, or the old file is intact */
            assert_true(tg_tensor_hash(tg_params_get(check, "w")) == tg_tensor_hash(tg_params_get(old, "w")));
        } else {
            assert_error_mentions(tg_last_error(), "does not hold this model");
        }
        tg_params_free(check);
        assert_int_equal(tg_params_save(old, RUN_PATH), TG_OK);
    }
    tg_params_free(old);
}

typedef struct {
    const tg_params *store;
    const char *path;
    int failures;
} saver;

static void *save_repeatedly(void *arg) {
    saver *s = arg;
    for (int i = 0; i < 20; i++)
        if (tg_params_save(s->store, s->path)) s->failures++;
    return NULL;
}

static void test_concurrent_saves_to_one_path_always_leave_a_whole_file(void **state) {
    (void)state;
    tg_params *a = tg_params_new(), *b = tg_params_new();
    assert_non_null(tg_param(a, "w", TG_F32, SHAPE(4096), TG_INIT_ONES, NULL));
    assert_non_null(tg_param(b, "w", TG_F32, SHAPE(4096), TG_INIT_ZEROS, NULL));
    uint64_t hash_a = tg_tensor_hash(tg_params_get(a, "w")), hash_b = tg_tensor_hash(tg_params_get(b, "w"));
    for (int round = 0; round < 5; round++) {
        saver sa = {a, RUN_PATH, 0}, sb = {b, RUN_PATH, 0};
        pthread_t ta, tb;
        assert_int_equal(pthread_create(&ta, NULL, save_repeatedly, &sa), 0);
        assert_int_equal(pthread_create(&tb, NULL, save_repeatedly, &sb), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        assert_int_equal(sa.failures + sb.failures, 0);
        tg_params *check = tg_params_new();
        assert_int_equal(tg_params_load(check, RUN_PATH), TG_OK);
        uint64_t h = tg_tensor_hash(tg_params_get(check, "w"));
        assert_true(h == hash_a || h == hash_b);
        tg_params_free(check);
        assert_int_equal(files_in(scratch_dir), 1);
    }
    tg_params_free(a);
    tg_params_free(b);
}

int main(void) {
#define WITH_DIR(test) cmocka_unit_test_setup_teardown(test, scratch_setup, scratch_teardown)
    const struct CMUnitTest tests[] = {
        WITH_DIR(test_records_of_every_kind_round_trip),
        WITH_DIR(test_bytes_in_memory_are_the_file_and_parse_back),
        cmocka_unit_test(test_adding_bad_or_duplicate_names_is_an_error),
        WITH_DIR(test_a_name_given_twice_with_other_sizes_is_refused),
        WITH_DIR(test_an_empty_name_after_a_good_record_changes_nothing),
        WITH_DIR(test_a_name_with_a_nul_byte_is_refused),
        WITH_DIR(test_an_overflowing_shape_is_refused),
        WITH_DIR(test_a_count_larger_than_the_file_is_refused),
        WITH_DIR(test_state_records_in_a_version_1_file_are_refused_and_plain_ones_load),
        WITH_DIR(test_strict_load_of_another_model_lists_the_names_and_changes_nothing),
        WITH_DIR(test_save_errors_name_the_path_and_the_system_reason),
        WITH_DIR(test_a_killed_save_leaves_the_old_file_and_no_temporary),
        WITH_DIR(test_concurrent_saves_to_one_path_always_leave_a_whole_file),
    };
    return cmocka_run_group_tests_name("checkpoint", tests, NULL, NULL);
}
