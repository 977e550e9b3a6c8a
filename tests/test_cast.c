/* tg_cast: f32 <-> f64 conversion, round trips, the same-dtype copy, and
 * gradients that come back in the input's dtype. */
#include "testing.h"

static void test_cast_to_f32_rounds_to_nearest_float(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2, 2), 0.1, -2.5, 1e-30, 16777217.0);
    tg_tensor *y = tg_cast(tape, x, TG_F32);
    assert_int_equal(y->dtype, TG_F32);
    assert_shape(y, SHAPE(2, 2));
    const float *v = y->data;
    assert_true(v[0] == 0.1f && v[1] == -2.5f && v[2] == 1e-30f && v[3] == 16777216.0f);
}

static void test_cast_round_trip_from_f32_is_exact(void **state) {
    (void)state;
    tg_tensor *x = T32(tape, SHAPE(3), 0.1f, -3.75f, 1e-20f);
    tg_tensor *up = tg_cast(tape, x, TG_F64);
    assert_int_equal(up->dtype, TG_F64);
    ASSERT_VALUES(up, 0, (double)0.1f, -3.75, (double)1e-20f);
    tg_tensor *back = tg_cast(tape, up, TG_F32);
    assert_true(tg_tensor_hash(back) == tg_tensor_hash(x));
}

static void test_cast_to_the_same_dtype_is_a_recorded_copy(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2), 1.5, -2);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *y = tg_cast(tape, x, TG_F64);
    assert_ptr_not_equal(y, x);
    assert_ptr_not_equal(y->data, x->data);
    ASSERT_VALUES(y, 0, 1.5, -2);
    assert_true(y->requires_grad);
    assert_string_equal(y->node->op->name, "cast");
}

static void test_cast_gradient_comes_back_in_the_input_dtype(void **state) {
    (void)state;
    tg_tensor *x = T32(tape, SHAPE(3), 1, 2, 3);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *y = tg_cast(tape, x, TG_F64);
    tg_tensor *g = T64(tape, SHAPE(3), 0.5, -1, 0.25);
    assert_int_equal(tg_backward(tape, y, &(tg_backward_opts){.grad_output = g}), TG_OK);
    assert_int_equal(x->grad->dtype, TG_F32);
    ASSERT_VALUES(x->grad, 0, 0.5, -1, 0.25);

    tg_tensor *d = T64(tape, SHAPE(2), 1, 2);
    assert_int_equal(tg_requires_grad(d), TG_OK);
    tg_tensor *loss = tg_sum(tape, tg_square(tape, tg_cast(tape, d, TG_F32)), NULL, 0, false);
    assert_int_equal(tg_backward(tape, loss, NULL), TG_OK);
    assert_int_equal(d->grad->dtype, TG_F64);
    ASSERT_VALUES(d->grad, 0, 2, 4);
}

static void test_cast_lets_mixed_dtypes_meet(void **state) {
    (void)state;
    tg_tensor *a = T32(tape, SHAPE(2), 1, 2), *b = T64(tape, SHAPE(2), 0.5, 0.25);
    assert_null(tg_add(tape, a, b));
    assert_error_mentions(tg_tape_error(tape), "tg_cast");
    tg_tape_clear_error(tape);
    ASSERT_VALUES(tg_add(tape, tg_cast(tape, a, TG_F64), b), 0, 1.5, 2.25);
}

static void test_cast_rejects_unknown_dtypes_and_null(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2), 1, 2);
    assert_null(tg_cast(tape, x, (tg_dtype)7));
    assert_int_equal(tg_tape_status(tape), TG_ERR_DTYPE);
    assert_error_mentions(tg_tape_error(tape), "tg_cast: unknown dtype 7 for f64[2]");
    tg_tape_clear_error(tape);
    assert_null(tg_cast(tape, NULL, TG_F32));
    assert_error_mentions(tg_tape_error(tape), "tg_cast");
    assert_null(tg_cast(NULL, x, TG_F32));
}

static void test_cast_of_a_large_tensor_matches_element_conversion(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(3);
    tg_tensor *x = tg_uniform(tape, &rng, TG_F64, SHAPE(300, 250), -10, 10);
    tg_tensor *y = tg_cast(tape, x, TG_F32);
    const double *xs = x->data;
    const float *ys = y->data;
    for (int64_t i = 0; i < x->numel; i++) assert_true(ys[i] == (float)xs[i]);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, tape_setup, tape_teardown)
    const struct CMUnitTest tests[] = {
        T(test_cast_to_f32_rounds_to_nearest_float),
        T(test_cast_round_trip_from_f32_is_exact),
        T(test_cast_to_the_same_dtype_is_a_recorded_copy),
        T(test_cast_gradient_comes_back_in_the_input_dtype),
        T(test_cast_lets_mixed_dtypes_meet),
        T(test_cast_rejects_unknown_dtypes_and_null),
        T(test_cast_of_a_large_tensor_matches_element_conversion),
    };
#undef T
    return cmocka_run_group_tests_name("cast", tests, NULL, NULL);
}
