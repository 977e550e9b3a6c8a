/* Tensors: creation, seeded random fills, shape errors, printing, hashing. */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <stdlib.h>

#include "testing.h"

static int setup(void **state) {
    *state = tg_tape_new();
    return *state ? 0 : -1;
}

static int teardown(void **state) {
    tg_tape_free(*state);
    return 0;
}

/* ---- creation ---- */

static void test_tensor_from_copies_f64_data_and_shape(void **state) {
    tg_tape *t = *state;
    double data[6] = {1, 2, 3, 4, 5, 6};
    tg_tensor *x = tg_tensor_from(t, TG_F64, SHAPE(2, 3), data);
    assert_shape(x, SHAPE(2, 3));
    assert_int_equal(x->dtype, TG_F64);
    assert_int_equal(x->numel, 6);
    assert_ptr_equal(x->tape, t);
    assert_false(x->requires_grad);
    assert_int_equal(x->kind, TG_KIND_CONSTANT);
    data[0] = 100; /* a copy, not a view */
    ASSERT_VALUES(x, 0, 1, 2, 3, 4, 5, 6);
    assert_int_equal((uintptr_t)x->data % 64, 0);
}

static void test_tensor_from_copies_f32_data(void **state) {
    tg_tensor *x = T32(*state, SHAPE(4), 0.5f, -1.25f, 3.0f, 1e-3f);
    assert_int_equal(x->dtype, TG_F32);
    assert_int_equal(tg_dtype_size(x->dtype), 4);
    ASSERT_VALUES(x, 0, 0.5, -1.25, 3.0, (double)1e-3f);
}

static void test_zeros_ones_and_full_fill_every_element(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        tg_dtype dtype = d ? TG_F64 : TG_F32;
        tg_tensor *z = tg_zeros(t, dtype, SHAPE(2, 2));
        tg_tensor *o = tg_ones(t, dtype, SHAPE(3));
        tg_tensor *f = tg_full(t, dtype, SHAPE(1, 2, 1), -2.5);
        assert_int_equal(z->dtype, dtype);
        ASSERT_VALUES(z, 0, 0, 0, 0, 0);
        ASSERT_VALUES(o, 0, 1, 1, 1);
        ASSERT_VALUES(f, 0, -2.5, -2.5);
        assert_shape(f, SHAPE(1, 2, 1));
    }
}

static void test_scalar_has_no_dimensions_and_one_element(void **state) {
    tg_tensor *s = tg_scalar(*state, TG_F64, 3.25);
    assert_non_null(s);
    assert_int_equal(s->ndim, 0);
    assert_int_equal(s->numel, 1);
    assert_true(tg_item(s) == 3.25);
}

static void test_eight_dimensions_are_allowed(void **state) {
    tg_tensor *x = tg_ones(*state, TG_F32, SHAPE(1, 2, 1, 2, 1, 2, 1, 2));
    assert_non_null(x);
    assert_int_equal(x->ndim, 8);
    assert_int_equal(x->numel, 16);
}

static void test_empty_tensor_has_zero_elements(void **state) {
    tg_tensor *x = tg_zeros(*state, TG_F64, SHAPE(0, 3));
    assert_non_null(x);
    assert_int_equal(x->numel, 0);
}

/* ---- shape and argument errors ---- */

static void test_nine_dimensions_give_null_and_a_message(void **state) {
    tg_tape *t = *state;
    assert_null(tg_zeros(t, TG_F32, SHAPE(1, 1, 1, 1, 1, 1, 1, 1, 1)));
    assert_int_equal(tg_tape_status(t), TG_ERR_SHAPE);
    assert_error_mentions(tg_tape_error(t), "tg_zeros");
    assert_error_mentions(tg_tape_error(t), "9 dimensions");
    assert_error_mentions(tg_last_error(), "9 dimensions");
}

static void test_negative_dimension_gives_null_and_names_the_shape(void **state) {
    tg_tape *t = *state;
    assert_null(tg_tensor_from(t, TG_F64, SHAPE(2, -1), (double[]){1, 2}));
    assert_int_equal(tg_tape_status(t), TG_ERR_SHAPE);
    assert_error_mentions(tg_tape_error(t), "tg_tensor_from");
    assert_error_mentions(tg_tape_error(t), "negative dimension");
    assert_error_mentions(tg_tape_error(t), "[2,-1]");
}

static void test_negative_ndim_is_an_error(void **state) {
    tg_tape *t = *state;
    assert_null(tg_ones(t, TG_F64, -1, (const int64_t[]){1}));
    assert_error_mentions(tg_tape_error(t), "tg_ones");
}

static void test_null_data_and_unknown_dtype_are_errors(void **state) {
    tg_tape *t = *state;
    assert_null(tg_tensor_from(t, TG_F64, SHAPE(2), NULL));
    assert_int_equal(tg_tape_status(t), TG_ERR_ARG);
    assert_error_mentions(tg_tape_error(t), "data is NULL");
    tg_tape_clear_error(t);
    assert_null(tg_zeros(t, (tg_dtype)7, SHAPE(2)));
    assert_int_equal(tg_tape_status(t), TG_ERR_DTYPE);
    assert_error_mentions(tg_tape_error(t), "dtype");
}

static void test_creation_without_a_tape_is_an_error(void **state) {
    (void)state;
    assert_null(tg_zeros(NULL, TG_F64, SHAPE(2)));
    assert_error_mentions(tg_last_error(), "tape is NULL");
}

static void test_random_fill_without_rng_is_an_error(void **state) {
    tg_tape *t = *state;
    assert_null(tg_uniform(t, NULL, TG_F64, SHAPE(2), 0, 1));
    assert_error_mentions(tg_tape_error(t), "tg_uniform");
    assert_error_mentions(tg_tape_error(t), "rng");
}

/* ---- seeded random fills ---- */

static void test_uniform_same_seed_gives_same_values(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        tg_dtype dtype = d ? TG_F64 : TG_F32;
        tg_rng a = tg_rng_new(42), b = tg_rng_new(42);
        tg_tensor *x = tg_uniform(t, &a, dtype, SHAPE(5, 7), -1, 1);
        tg_tensor *y = tg_uniform(t, &b, dtype, SHAPE(5, 7), -1, 1);
        assert_non_null(x);
        assert_non_null(y);
        assert_memory_equal(x->data, y->data, (size_t)x->numel * tg_dtype_size(dtype));
        assert_true(tg_tensor_hash(x) == tg_tensor_hash(y));
    }
}

static void test_uniform_different_seeds_give_different_values(void **state) {
    tg_tape *t = *state;
    tg_rng a = tg_rng_new(1), b = tg_rng_new(2);
    tg_tensor *x = tg_uniform(t, &a, TG_F64, SHAPE(64), 0, 1);
    tg_tensor *y = tg_uniform(t, &b, TG_F64, SHAPE(64), 0, 1);
    int same = 0;
    for (int64_t i = 0; i < 64; i++) same += tg_get(x, i) == tg_get(y, i);
    assert_int_equal(same, 0);
    assert_true(tg_tensor_hash(x) != tg_tensor_hash(y));
}

static void test_uniform_stays_in_its_interval_with_the_right_mean(void **state) {
    tg_rng rng = tg_rng_new(7);
    tg_tensor *x = tg_uniform(*state, &rng, TG_F64, SHAPE(10000), -3, 5);
    double sum = 0, low = 1e9, high = -1e9;
    for (int64_t i = 0; i < x->numel; i++) {
        double v = tg_get(x, i);
        sum += v;
        if (v < low) low = v;
        if (v > high) high = v;
    }
    assert_true(low >= -3 && high < 5);
    assert_true(low < -2.99 && high > 4.99);
    /* mean 1, std 8/sqrt(12) = 2.31; standard error 0.023 */
    assert_true(fabs(sum / 10000 - 1.0) < 0.1);
}

static void check_normal_moments(tg_tape *t, tg_dtype dtype, uint64_t seed) {
    tg_rng rng = tg_rng_new(seed);
    tg_tensor *x = tg_normal(t, &rng, dtype, SHAPE(100, 100), 2.0, 0.5);
    assert_non_null(x);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < x->numel; i++) sum += tg_get(x, i);
    double mean = sum / (double)x->numel;
    for (int64_t i = 0; i < x->numel; i++) sq += (tg_get(x, i) - mean) * (tg_get(x, i) - mean);
    double std = sqrt(sq / (double)(x->numel - 1));
    /* standard errors over 10k samples: mean 0.005, std 0.0035 */
    if (fabs(mean - 2.0) > 0.02 || fabs(std - 0.5) > 0.02) {
        print_error("%s seed %llu: mean %g (want 2), std %g (want 0.5)\n", tg_dtype_name(dtype),
                    (unsigned long long)seed, mean, std);
        fail();
    }
}

static void test_normal_has_the_requested_mean_and_std(void **state) {
    check_normal_moments(*state, TG_F64, 1);
    check_normal_moments(*state, TG_F32, 2);
    check_normal_moments(*state, TG_F64, 12345);
}

static void test_normal_same_seed_gives_same_values_f32_and_f64(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        tg_dtype dtype = d ? TG_F64 : TG_F32;
        tg_rng a = tg_rng_new(9), b = tg_rng_new(9), c = tg_rng_new(10);
        tg_tensor *x = tg_normal(t, &a, dtype, SHAPE(33), 0, 1);
        tg_tensor *y = tg_normal(t, &b, dtype, SHAPE(33), 0, 1);
        tg_tensor *z = tg_normal(t, &c, dtype, SHAPE(33), 0, 1);
        assert_true(tg_tensor_hash(x) == tg_tensor_hash(y));
        assert_true(tg_tensor_hash(x) != tg_tensor_hash(z));
    }
}

/* ---- printing ---- */

static char *print_to_string(const tg_tensor *x) {
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    tg_tensor_print(out, x);
    fclose(out);
    return text;
}

static void assert_prints_as(const tg_tensor *x, const char *expected) {
    char *text = print_to_string(x);
    if (strcmp(text, expected) != 0) {
        print_error("printed:\n%s\nexpected:\n%s\n", text, expected);
        free(text);
        fail();
    }
    free(text);
}

static void test_print_matrix_is_numpy_like(void **state) {
    tg_tensor *x = T32(*state, SHAPE(2, 2), 1, 2, 3, 4);
    assert_prints_as(x, "tensor([[1, 2],\n"
                        "        [3, 4]], f32[2,2])\n");
}

static void test_print_three_dimensions_aligns_nested_brackets(void **state) {
    tg_tensor *x = T64(*state, SHAPE(2, 2, 2), 1, 2.5, 3, 4, 5, 6, 7, -8);
    assert_prints_as(x, "tensor([[[1, 2.5],\n"
                        "         [3, 4]],\n"
                        "        [[5, 6],\n"
                        "         [7, -8]]], f64[2,2,2])\n");
}

static void test_print_scalar_vector_and_empty(void **state) {
    tg_tape *t = *state;
    assert_prints_as(tg_scalar(t, TG_F64, 3.25), "tensor(3.25, f64[])\n");
    assert_prints_as(T64(t, SHAPE(3), 0.1, -2, 1e-7), "tensor([0.1, -2, 1e-07], f64[3])\n");
    assert_prints_as(tg_zeros(t, TG_F64, SHAPE(0, 3)), "tensor([], f64[0,3])\n");
    assert_prints_as(NULL, "tensor(NULL)\n");
}

static void test_print_summarises_long_tensors(void **state) {
    tg_tensor *x = tg_full(*state, TG_F32, SHAPE(2000), 1.5);
    assert_prints_as(x, "tensor([1.5, 1.5, 1.5, ..., 1.5, 1.5, 1.5], f32[2000])\n");
}

/* ---- hashing ---- */

static void test_hash_is_equal_for_equal_tensors_on_different_tapes(void **state) {
    tg_tape *other = tg_tape_new();
    tg_tensor *a = T64(*state, SHAPE(2, 2), 1, 2, 3, 4);
    tg_tensor *b = T64(other, SHAPE(2, 2), 1, 2, 3, 4);
    assert_true(tg_tensor_hash(a) == tg_tensor_hash(b));
    assert_true(tg_tensor_hash(a) != 0);
    tg_tape_free(other);
}

static void test_hash_changes_when_one_bit_changes(void **state) {
    tg_tensor *a = T64(*state, SHAPE(3), 1, 2, 3);
    uint64_t before = tg_tensor_hash(a);
    ((unsigned char *)a->data)[9] ^= 1; /* one bit of element 1 */
    assert_true(tg_tensor_hash(a) != before);
    ((unsigned char *)a->data)[9] ^= 1;
    assert_true(tg_tensor_hash(a) == before);
}

static void test_hash_covers_shape_with_the_same_bytes(void **state) {
    tg_tape *t = *state;
    double data[6] = {1, 2, 3, 4, 5, 6};
    uint64_t h23 = tg_tensor_hash(tg_tensor_from(t, TG_F64, SHAPE(2, 3), data));
    uint64_t h32 = tg_tensor_hash(tg_tensor_from(t, TG_F64, SHAPE(3, 2), data));
    uint64_t h6 = tg_tensor_hash(tg_tensor_from(t, TG_F64, SHAPE(6), data));
    assert_true(h23 != h32);
    assert_true(h23 != h6);
    assert_true(h32 != h6);
}

static void test_hash_covers_dtype(void **state) {
    tg_tape *t = *state;
    /* empty tensors: the same (no) bytes and shape, only the dtype differs */
    assert_true(tg_tensor_hash(tg_zeros(t, TG_F32, SHAPE(0))) != tg_tensor_hash(tg_zeros(t, TG_F64, SHAPE(0))));
    /* the same 8 bytes as one f64 or as two f32 */
    double one = 1.0;
    tg_tensor *as_f64 = tg_tensor_from(t, TG_F64, SHAPE(1), &one);
    tg_tensor *as_f32 = tg_tensor_from(t, TG_F32, SHAPE(2), &one);
    assert_true(tg_tensor_hash(as_f64) != tg_tensor_hash(as_f32));
}

/* ---- element access is checked ---- */
static void test_get_and_set_refuse_null_and_out_of_range_indices(void **state) {
    tg_tape *t = *state;
    tg_tensor *x = tg_tensor_from(t, TG_F32, SHAPE(2, 2), (const float[]){1, 2, 3, 4});
    assert_true(isnan(tg_get(NULL, 0)));
    assert_string_equal(tg_last_error(), "tg_get: tensor is NULL");
    assert_int_equal(tg_last_status(), TG_ERR_ARG);
    assert_true(isnan(tg_get(x, 1000000)));
    assert_string_equal(tg_last_error(), "tg_get: index 1000000 is outside f32[2,2] (4 elements)");
    assert_true(isnan(tg_get(x, -1)));
    assert_true(isnan(tg_get(x, 4)));
    tg_set(NULL, 0, 1.0);
    assert_string_equal(tg_last_error(), "tg_set: tensor is NULL");
    tg_set(x, 4, 9.0);
    assert_string_equal(tg_last_error(), "tg_set: index 4 is outside f32[2,2] (4 elements)");
    tg_set(x, -7, 9.0);
    ASSERT_VALUES(x, 0, 1, 2, 3, 4); /* nothing written */
    tg_set(x, 3, 9.0);
    assert_true(tg_get(x, 3) == 9.0);
    assert_true(isnan(tg_item(tg_zeros(t, TG_F64, SHAPE(0)))));
    assert_true(isnan(tg_item(NULL)));
}

/* ---- the one checked shape product ---- */
static void test_shape_product_refuses_overflow_also_next_to_a_zero(void **state) {
    (void)state;
    int64_t n = -1;
    assert_true(tg_shape_product(SHAPE(3, 4), &n));
    assert_int_equal(n, 12);
    assert_true(tg_shape_product(0, NULL, &n));
    assert_int_equal(n, 1);
    assert_true(tg_shape_product(SHAPE(0, 1LL << 40), &n));
    assert_int_equal(n, 0);
    assert_true(tg_shape_product(SHAPE(TG_MAX_NUMEL), &n));
    assert_int_equal(n, TG_MAX_NUMEL);
    assert_false(tg_shape_product(SHAPE(TG_MAX_NUMEL, 2), &n));
    assert_false(tg_shape_product(SHAPE(1LL << 62, 4), &n)); /* wraps to 0 unchecked */
    assert_false(tg_shape_product(SHAPE(0, 1LL << 62, 4), &n)); /* empty, but a row would overflow */
    assert_false(tg_shape_product(SHAPE(3, -1), &n));
    assert_false(tg_shape_product(SHAPE(1LL << 31, 1LL << 31, 1LL << 31), NULL));
}

static void test_creating_a_tensor_of_an_overflowing_shape_names_the_shape(void **state) {
    (void)state;
    assert_null(tg_zeros(tape, TG_F32, SHAPE(0, 1LL << 62, 4)));
    assert_int_equal(tg_tape_status(tape), TG_ERR_SHAPE);
    assert_error("tg_zeros", "shape [0,4611686018427387904,4] is too large");
    /* a valid shape too large for the memory: out of memory, not a crash */
    assert_null(tg_tensor_empty(tape, TG_F64, SHAPE(1000000, 1000000)));
    assert_int_equal(tg_tape_status(tape), TG_ERR_NOMEM);
    assert_error("tg_tape_alloc", "out of memory");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_and_set_refuse_null_and_out_of_range_indices, setup, teardown),
        cmocka_unit_test(test_shape_product_refuses_overflow_also_next_to_a_zero),
        cmocka_unit_test_setup_teardown(test_creating_a_tensor_of_an_overflowing_shape_names_the_shape, tape_setup,
                                        tape_teardown),
        cmocka_unit_test_setup_teardown(test_tensor_from_copies_f64_data_and_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tensor_from_copies_f32_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zeros_ones_and_full_fill_every_element, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scalar_has_no_dimensions_and_one_element, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eight_dimensions_are_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_tensor_has_zero_elements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nine_dimensions_give_null_and_a_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_negative_dimension_gives_null_and_names_the_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_negative_ndim_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_data_and_unknown_dtype_are_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_creation_without_a_tape_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_fill_without_rng_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uniform_same_seed_gives_same_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uniform_different_seeds_give_different_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uniform_stays_in_its_interval_with_the_right_mean, setup, teardown),
        cmocka_unit_test_setup_teardown(test_normal_has_the_requested_mean_and_std, setup, teardown),
        cmocka_unit_test_setup_teardown(test_normal_same_seed_gives_same_values_f32_and_f64, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print_matrix_is_numpy_like, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print_three_dimensions_aligns_nested_brackets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print_scalar_vector_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print_summarises_long_tensors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_is_equal_for_equal_tensors_on_different_tapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_changes_when_one_bit_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_covers_shape_with_the_same_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_covers_dtype, setup, teardown),
    };
    return cmocka_run_group_tests_name("tensor", tests, NULL, NULL);
}
