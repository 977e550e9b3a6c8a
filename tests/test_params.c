/* The parameter store: get-or-create, initialisers, gradients, versions, and
 * checkpoint files (round trip, and every way a load or save can fail). */
#include "scratch_dir.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testing.h"

#define MODEL_PATH scratch_path("model.tg")

/* A store with two random parameters (f32 and f64) and a buffer. */
static tg_params *model(uint64_t seed) {
    tg_params *p = tg_params_new();
    tg_rng rng = tg_rng_new(seed);
    assert_non_null(tg_param(p, "fc.weight", TG_F32, SHAPE(4, 3), TG_INIT_KAIMING_UNIFORM, &rng));
    assert_non_null(tg_param(p, "fc.bias", TG_F64, SHAPE(3), TG_INIT_NORMAL, &rng));
    assert_non_null(tg_buffer(p, "bn.running_mean", TG_F64, SHAPE(3), TG_INIT_UNIFORM, &rng));
    return p;
}


static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    return size;
}

/* ---- creation ---- */

static void test_param_is_created_once_then_returned(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_param(p, "w", TG_F32, SHAPE(2, 3), TG_INIT_ZEROS, NULL);
    assert_non_null(w);
    assert_string_equal(w->name, "w");
    assert_int_equal(w->kind, TG_KIND_PARAM);
    assert_true(w->requires_grad);
    assert_null(w->tape);
    assert_shape(w->grad, SHAPE(2, 3));
    ASSERT_VALUES(w->grad, 0, 0, 0, 0, 0, 0, 0);
    assert_int_equal((uintptr_t)w->data % 64, 0);
    assert_ptr_equal(tg_param(p, "w", TG_F32, SHAPE(2, 3), TG_INIT_ZEROS, NULL), w);
    assert_ptr_equal(tg_params_get(p, "w"), w);
    assert_null(tg_params_get(p, "v"));
    assert_int_equal(tg_params_count(p), 1);
    assert_int_equal(tg_params_numel(p), 6);
    tg_params_free(p);
}

static void test_param_with_another_shape_or_dtype_is_an_error(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    assert_non_null(tg_param(p, "layer.w", TG_F32, SHAPE(2, 3), TG_INIT_ZEROS, NULL));
    assert_null(tg_param(p, "layer.w", TG_F32, SHAPE(3, 2), TG_INIT_ZEROS, NULL));
    assert_error_mentions(tg_last_error(), "tg_param");
    assert_error_mentions(tg_last_error(), "layer.w");
    assert_error_mentions(tg_last_error(), "f32[2,3]");
    assert_error_mentions(tg_last_error(), "f32[3,2]");
    assert_null(tg_param(p, "layer.w", TG_F64, SHAPE(2, 3), TG_INIT_ZEROS, NULL));
    assert_error_mentions(tg_last_error(), "f64[2,3]");
    assert_null(tg_buffer(p, "layer.w", TG_F32, SHAPE(2, 3), TG_INIT_ZEROS, NULL));
    assert_error_mentions(tg_last_error(), "buffer");
    assert_int_equal(tg_params_count(p), 1);
    tg_params_free(p);
}

static void test_param_argument_errors(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    assert_null(tg_param(p, "w", TG_F32, SHAPE(2), TG_INIT_NORMAL, NULL));
    assert_error_mentions(tg_last_error(), "needs an rng");
    assert_null(tg_param(p, "", TG_F32, SHAPE(2), TG_INIT_ZEROS, NULL));
    assert_error_mentions(tg_last_error(), "name");
    assert_null(tg_param(p, "w", TG_F32, SHAPE(2, -3), TG_INIT_ZEROS, NULL));
    assert_error_mentions(tg_last_error(), "negative dimension");
    assert_null(tg_param(NULL, "w", TG_F32, SHAPE(2), TG_INIT_ZEROS, NULL));
    assert_error_mentions(tg_last_error(), "store is NULL");
    assert_int_equal(tg_params_count(p), 0);
    tg_params_free(p);
}

/* fan_in = numel / last dimension used to divide by zero (SIGFPE) */
static void test_param_with_a_zero_dimension_is_created_empty_by_every_init(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_rng rng = tg_rng_new(3);
    const char *names[] = {"zeros", "ones", "uniform", "normal", "xavier", "kaiming"};
    for (int init = TG_INIT_ZEROS; init <= TG_INIT_KAIMING_UNIFORM; init++) {
        tg_tensor *w = tg_param(p, names[init], TG_F32, SHAPE(3, 0), (tg_init)init, &rng);
        assert_shape(w, SHAPE(3, 0));
        assert_int_equal(w->numel, 0);
        assert_shape(tg_buffer(p, "empty.last", TG_F64, SHAPE(0), (tg_init)init, &rng), SHAPE(0));
    }
    tg_params_free(p);
}

static void test_buffer_has_no_gradient(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *b = tg_buffer(p, "running_var", TG_F64, SHAPE(3), TG_INIT_ONES, NULL);
    assert_non_null(b);
    assert_int_equal(b->kind, TG_KIND_BUFFER);
    assert_false(b->requires_grad);
    assert_null(b->grad);
    ASSERT_VALUES(b, 0, 1, 1, 1);
    assert_int_equal(tg_params_numel(p), 0); /* only trainable values count */
    tg_params_free(p);
}

/* ---- initialisers ---- */

static void test_zeros_and_ones_inits(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    ASSERT_VALUES(tg_param(p, "z", TG_F64, SHAPE(2, 2), TG_INIT_ZEROS, NULL), 0, 0, 0, 0, 0);
    ASSERT_VALUES(tg_param(p, "o", TG_F32, SHAPE(3), TG_INIT_ONES, NULL), 0, 1, 1, 1);
    tg_params_free(p);
}

static void assert_within_bound(const tg_tensor *w, double bound) {
    double largest = 0;
    for (int64_t i = 0; i < w->numel; i++) {
        double v = fabs(tg_get(w, i));
        if (v > largest) largest = v;
    }
    if (!(largest <= bound && largest > 0.95 * bound)) {
        print_error("largest |w| %g, bound %g\n", largest, bound);
        fail();
    }
}

static void test_kaiming_uniform_bound_is_one_over_sqrt_fan_in(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_rng rng = tg_rng_new(5);
    /* [in=100, out=50]: fan_in 100, bound 0.1 (torch.nn.Linear's default) */
    assert_within_bound(tg_param(p, "w", TG_F64, SHAPE(100, 50), TG_INIT_KAIMING_UNIFORM, &rng), 0.1);
    /* xavier: sqrt(6 / (100 + 50)) = 0.2 */
    assert_within_bound(tg_param(p, "x", TG_F32, SHAPE(100, 50), TG_INIT_XAVIER_UNIFORM, &rng), 0.2 + 1e-7);
    /* uniform: U(-1, 1) */
    assert_within_bound(tg_param(p, "u", TG_F64, SHAPE(1000), TG_INIT_UNIFORM, &rng), 1.0);
    tg_params_free(p);
}

static void test_seeded_inits_are_reproducible(void **state) {
    (void)state;
    tg_params *a = model(17), *b = model(17), *c = model(18);
    for (int i = 0; i < 3; i++)
        assert_true(tg_tensor_hash(tg_params_at(a, i)) == tg_tensor_hash(tg_params_at(b, i)));
    assert_true(tg_tensor_hash(tg_params_at(a, 0)) != tg_tensor_hash(tg_params_at(c, 0)));
    assert_true(store_fingerprint(a) != store_fingerprint(c));
    tg_params_free(a);
    tg_params_free(b);
    tg_params_free(c);
}

/* ---- gradients and versions ---- */

static void test_zero_grad_clears_every_gradient(void **state) {
    (void)state;
    tg_params *p = model(1);
    tg_tensor *w = tg_params_get(p, "fc.weight"), *b = tg_params_get(p, "fc.bias");
    for (int64_t i = 0; i < w->numel; i++) tg_set(w->grad, i, 1.5);
    for (int64_t i = 0; i < b->numel; i++) tg_set(b->grad, i, -2.0);
    tg_zero_grad(p);
    for (int64_t i = 0; i < w->numel; i++) assert_true(tg_get(w->grad, i) == 0);
    ASSERT_VALUES(b->grad, 0, 0, 0, 0);
    tg_zero_grad(NULL);
    tg_params_free(p);
}

static void test_backward_accumulates_until_zero_grad(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_param(p, "w", TG_F64, SHAPE(2), TG_INIT_ONES, NULL);
    tg_tape *t = tg_tape_new();
    for (int step = 0; step < 2; step++) {
        tg_tensor *loss = tg_sum(t, tg_mul(t, w, T64(t, SHAPE(2), 3, -4)), NULL, 0, false);
        assert_int_equal(tg_backward(t, loss, NULL), TG_OK);
        tg_tape_reset(t);
    }
    ASSERT_VALUES(w->grad, 0, 6, -8);
    tg_zero_grad(p);
    ASSERT_VALUES(w->grad, 0, 0, 0);
    tg_tape_free(t);
    tg_params_free(p);
}

static void test_in_place_updates_bump_the_version(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_param(p, "w", TG_F64, SHAPE(2), TG_INIT_ONES, NULL);
    uint64_t v0 = w->version;
    tg_optim *opt = tg_sgd_new(p, (tg_sgd_opts){.lr = 0.1});
    assert_int_equal(tg_optim_step(opt), TG_OK);
    assert_true(w->version == v0 + 1);
    tg_tape *t = tg_tape_new();
    assert_int_equal(tg_tensor_copy_values(w, T64(t, SHAPE(2), 5, 6)), TG_OK);
    assert_true(w->version == v0 + 2);
    ASSERT_VALUES(w, 0, 5, 6);
    tg_tensor_bump_version(w);
    assert_true(w->version == v0 + 3);
    tg_tape_free(t);
    tg_optim_free(opt);
    tg_params_free(p);
}

/* ---- checkpoints ---- */

static void test_checkpoint_round_trip_is_bit_exact(void **state) {
    (void)state;
    tg_params *saved = model(21);
    assert_int_equal(tg_params_save(saved, MODEL_PATH), TG_OK);

    /* into an empty store: tensors are created with their kinds */
    tg_params *fresh = tg_params_new();
    assert_int_equal(tg_params_load(fresh, MODEL_PATH), TG_OK);
    assert_int_equal(tg_params_count(fresh), 3);
    for (int i = 0; i < 3; i++) {
        const tg_tensor *a = tg_params_at(saved, i);
        const tg_tensor *b = tg_params_get(fresh, a->name);
        assert_non_null(b);
        assert_int_equal(b->kind, a->kind);
        assert_true(tg_tensor_hash(a) == tg_tensor_hash(b));
    }
    assert_null(tg_params_get(fresh, "bn.running_mean")->grad);
    assert_non_null(tg_params_get(fresh, "fc.weight")->grad);

    /* into a store of the same model with other values: overwritten, versions bumped */
    tg_params *other = model(99);
    uint64_t version = tg_params_at(other, 0)->version;
    assert_true(store_fingerprint(other) != store_fingerprint(saved));
    assert_int_equal(tg_params_load(other, MODEL_PATH), TG_OK);
    assert_true(store_fingerprint(other) == store_fingerprint(saved));
    assert_true(tg_params_at(other, 0)->version > version);

    tg_params_free(saved);
    tg_params_free(fresh);
    tg_params_free(other);
}

static void test_load_with_a_mismatched_shape_fails_and_changes_nothing(void **state) {
    (void)state;
    tg_params *saved = model(3);
    assert_non_null(tg_param(saved, "extra", TG_F64, SHAPE(2), TG_INIT_ONES, NULL));
    assert_int_equal(tg_params_save(saved, MODEL_PATH), TG_OK);

    /* fc.weight matches and comes first in the file; fc.bias does not */
    tg_params *target = tg_params_new();
    tg_rng rng = tg_rng_new(4);
    tg_tensor *w = tg_param(target, "fc.weight", TG_F32, SHAPE(4, 3), TG_INIT_UNIFORM, &rng);
    assert_non_null(tg_param(target, "fc.bias", TG_F64, SHAPE(5), TG_INIT_NORMAL, &rng));
    uint64_t before = store_fingerprint(target), version = w->version;

    assert_int_equal(tg_params_load(target, MODEL_PATH), TG_ERR_SHAPE);
    assert_error_mentions(tg_last_error(), "tg_params_load");
    assert_error_mentions(tg_last_error(), "fc.bias");
    assert_error_mentions(tg_last_error(), "f64[3]");
    assert_error_mentions(tg_last_error(), "f64[5]");
    assert_true(store_fingerprint(target) == before);
    assert_true(w->version == version);
    assert_int_equal(tg_params_count(target), 2); /* "extra" and the buffer were not created */

    tg_params_free(saved);
    tg_params_free(target);
}

static void test_load_into_a_buffer_of_a_saved_parameter_fails_and_changes_nothing(void **state) {
    (void)state;
    tg_params *saved = model(3);
    assert_int_equal(tg_params_save(saved, MODEL_PATH), TG_OK);
    tg_params *target = tg_params_new();
    tg_tensor *b = tg_buffer(target, "fc.weight", TG_F32, SHAPE(4, 3), TG_INIT_ONES, NULL); /* a buffer here */
    uint64_t before = tg_tensor_hash(b);
    assert_int_equal(tg_params_load(target, MODEL_PATH), TG_ERR_FORMAT);
    assert_error_mentions(tg_last_error(), "fc.weight");
    assert_error_mentions(tg_last_error(), "is a parameter, the store has a buffer");
    assert_true(tg_tensor_hash(b) == before);
    assert_int_equal(tg_params_count(target), 1);
    tg_params_free(saved);
    tg_params_free(target);
}

/* Rewrites the file at `path` with its first `keep` bytes, byte `flip` xor 0xFF
 * (flip < 0: none). */
static void rewrite(const char *path, long keep, long flip) {
    long size = file_size(path);
    assert_true(size > 0);
    unsigned char *bytes = malloc((size_t)size);
    FILE *in = fopen(path, "rb");
    assert_int_equal(fread(bytes, 1, (size_t)size, in), (size_t)size);
    fclose(in);
    if (flip >= 0) bytes[flip] ^= 0xFF;
    FILE *out = fopen(path, "wb");
    assert_int_equal(fwrite(bytes, 1, (size_t)keep, out), (size_t)keep);
    fclose(out);
    free(bytes);
}

static void assert_load_fails_unchanged(const char *path, tg_status expected, const char *fragment) {
    tg_params *target = model(8);
    uint64_t before = store_fingerprint(target);
    assert_int_equal(tg_params_load(target, path), expected);
    assert_error_mentions(tg_last_error(), "tg_params_load");
    assert_error_mentions(tg_last_error(), fragment);
    assert_true(store_fingerprint(target) == before);
    assert_int_equal(tg_params_count(target), 3);
    tg_params_free(target);
}

/* loading into an empty store creates each tensor, which initialised it
 * through fan_in = numel / last dimension */
static void test_checkpoint_with_an_empty_tensor_loads_into_an_empty_store(void **state) {
    (void)state;
    tg_params *saved = tg_params_new();
    assert_non_null(tg_param(saved, "w", TG_F32, SHAPE(4, 0, 2), TG_INIT_ZEROS, NULL));
    assert_non_null(tg_buffer(saved, "b", TG_F64, SHAPE(2, 0), TG_INIT_ZEROS, NULL));
    assert_int_equal(tg_params_save(saved, MODEL_PATH), TG_OK);
    tg_params *loaded = tg_params_new();
    assert_int_equal(tg_params_load(loaded, MODEL_PATH), TG_OK);
    assert_shape(tg_params_get(loaded, "w"), SHAPE(4, 0, 2));
    assert_shape(tg_params_get(loaded, "b"), SHAPE(2, 0));
    assert_int_equal(tg_params_get(loaded, "b")->kind, TG_KIND_BUFFER);
    tg_params_free(saved);
    tg_params_free(loaded);
}

static void test_corrupted_checkpoint_fails_with_a_checksum_message(void **state) {
    (void)state;
    tg_params *saved = model(2);
    assert_int_equal(tg_params_save(saved, MODEL_PATH), TG_OK);
    long size = file_size(MODEL_PATH);
    rewrite(MODEL_PATH, size, size / 2); /* one byte in the middle */
    assert_load_fails_unchanged(MODEL_PATH, TG_ERR_FORMAT, "checksum");
    tg_params_free(saved);
}

static void test_truncated_checkpoint_fails(void **state) {
    (void)state;
    tg_params *saved = model(2);
    assert_int_equal(tg_params_save(saved, MODEL_PATH), TG_OK);
    long size = file_size(MODEL_PATH);
    rewrite(MODEL_PATH, size - 20, -1);
    assert_load_fails_unchanged(MODEL_PATH, TG_ERR_FORMAT, MODEL_PATH);
    rewrite(MODEL_PATH, 10, -1); /* shorter than the header */
    assert_load_fails_unchanged(MODEL_PATH, TG_ERR_FORMAT, MODEL_PATH);
    tg_params_free(saved);
}

static void test_file_of_another_format_fails(void **state) {
    (void)state;
    FILE *out = fopen(MODEL_PATH, "wb");
    fputs("this is a text file, certainly not a tapegrad checkpoint\n", out);
    fclose(out);
    assert_load_fails_unchanged(MODEL_PATH, TG_ERR_FORMAT, "not a tapegrad checkpoint");
}

static void test_missing_checkpoint_fails(void **state) {
    (void)state;
    assert_load_fails_unchanged(MODEL_PATH, TG_ERR_IO, "model.tg");
}

static void test_save_into_an_unwritable_directory_fails_and_keeps_the_old_file(void **state) {
    (void)state;
    tg_params *old = model(1), *new_model = model(2);
    assert_int_equal(tg_params_save(old, MODEL_PATH), TG_OK);

    /* a directory that does not exist */
    char missing[400];
    snprintf(missing, sizeof missing, "%s/no/such/dir/model.tg", scratch_dir);
    assert_int_equal(tg_params_save(new_model, missing), TG_ERR_IO);
    assert_error_mentions(tg_last_error(), "tg_params_save");

    /* a read-only directory (permissions do not stop root, so only as a user) */
    if (geteuid() != 0) {
        assert_int_equal(chmod(scratch_dir, 0500), 0);
        tg_status st = tg_params_save(new_model, MODEL_PATH);
        assert_int_equal(chmod(scratch_dir, 0700), 0);
        assert_int_equal(st, TG_ERR_IO);
        assert_error_mentions(tg_last_error(), MODEL_PATH);
    }

    tg_params *check = tg_params_new();
    assert_int_equal(tg_params_load(check, MODEL_PATH), TG_OK);
    assert_true(store_fingerprint(check) == store_fingerprint(old));
    tg_params_free(check);
    tg_params_free(old);
    tg_params_free(new_model);
}

static void test_save_that_runs_out_of_space_keeps_the_old_file(void **state) {
    (void)state;
    tg_params *old = model(1);
    assert_int_equal(tg_params_save(old, MODEL_PATH), TG_OK);
    long old_size = file_size(MODEL_PATH);
    tg_params *big = model(2);
    assert_non_null(tg_param(big, "big", TG_F64, SHAPE(64, 64), TG_INIT_ONES, NULL)); /* 32 KiB */

    /* a file-size limit stops writes like a full disk, for root as well */
    struct rlimit saved_limit, limit;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved_limit), 0);
    limit = saved_limit;
    limit.rlim_cur = 4096;
    void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &limit), 0);
    tg_status st = tg_params_save(big, MODEL_PATH);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved_limit), 0);
    signal(SIGXFSZ, saved_handler);

    assert_int_equal(st, TG_ERR_IO);
    assert_error_mentions(tg_last_error(), "previous file is untouched");
    assert_int_equal(file_size(MODEL_PATH), old_size);
    tg_params *check = tg_params_new();
    assert_int_equal(tg_params_load(check, MODEL_PATH), TG_OK);
    assert_true(store_fingerprint(check) == store_fingerprint(old));
    /* no temporary file is left behind */
    char command[600];
    snprintf(command, sizeof command, "test $(ls '%s' | wc -l) -eq 1", scratch_dir);
    assert_int_equal(system(command), 0);
    tg_params_free(check);
    tg_params_free(old);
    tg_params_free(big);
}

int main(void) {
#define WITH_DIR(test) cmocka_unit_test_setup_teardown(test, scratch_setup, scratch_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_is_created_once_then_returned),
        cmocka_unit_test(test_param_with_another_shape_or_dtype_is_an_error),
        cmocka_unit_test(test_param_argument_errors),
        cmocka_unit_test(test_param_with_a_zero_dimension_is_created_empty_by_every_init),
        cmocka_unit_test(test_buffer_has_no_gradient),
        cmocka_unit_test(test_zeros_and_ones_inits),
        cmocka_unit_test(test_kaiming_uniform_bound_is_one_over_sqrt_fan_in),
        cmocka_unit_test(test_seeded_inits_are_reproducible),
        cmocka_unit_test(test_zero_grad_clears_every_gradient),
        cmocka_unit_test(test_backward_accumulates_until_zero_grad),
        cmocka_unit_test(test_in_place_updates_bump_the_version),
        WITH_DIR(test_checkpoint_round_trip_is_bit_exact),
        WITH_DIR(test_load_into_a_buffer_of_a_saved_parameter_fails_and_changes_nothing),
        WITH_DIR(test_load_with_a_mismatched_shape_fails_and_changes_nothing),
        WITH_DIR(test_checkpoint_with_an_empty_tensor_loads_into_an_empty_store),
        WITH_DIR(test_corrupted_checkpoint_fails_with_a_checksum_message),
        WITH_DIR(test_truncated_checkpoint_fails),
        WITH_DIR(test_file_of_another_format_fails),
        WITH_DIR(test_missing_checkpoint_fails),
        WITH_DIR(test_save_into_an_unwritable_directory_fails_and_keeps_the_old_file),
        WITH_DIR(test_save_that_runs_out_of_space_keeps_the_old_file),
    };
    return cmocka_run_group_tests_name("params", tests, NULL, NULL);
}
