/* The L2 penalty lambda/2 * sum w^2 (a composite): its value and gradient
 * lambda * w, over a list or a whole store, also when the store mixes f32 and
 * f64 parameters (summed per dtype, result f64), and errors naming the tensor. */
#include "testing.h"

static void test_penalty_of_a_list_is_half_lambda_times_the_sum_of_squares(void **state) {
    (void)state;
    tg_tensor *a = T64(tape, SHAPE(2), 1, -2), *b = T64(tape, SHAPE(2, 1), 3, 0.5);
    assert_int_equal(tg_requires_grad(a), TG_OK);
    assert_int_equal(tg_requires_grad(b), TG_OK);
    tg_tensor *y = tg_l2_penalty_of(tape, 2, (tg_tensor *[]){a, b}, 0.5);
    ASSERT_VALUES(y, 1e-15, 0.25 * (1 + 4 + 9 + 0.25)); /* 3.5625 */
    assert_int_equal(tg_backward(tape, y, NULL), TG_OK);
    ASSERT_VALUES(a->grad, 1e-15, 0.5, -1); /* lambda * w */
    ASSERT_VALUES(b->grad, 1e-15, 1.5, 0.25);
}

/* it used to fail with "dtypes differ ... (use tg_cast)", which a store's
 * user cannot follow */
static void test_store_mixing_f32_and_f64_is_summed_per_dtype_into_f64(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *w32 = tg_param(p, "w32", TG_F32, SHAPE(2), TG_INIT_ONES, NULL);
    tg_tensor *w64 = tg_param(p, "w64", TG_F64, SHAPE(1), TG_INIT_ONES, NULL);
    assert_non_null(tg_buffer(p, "stats", TG_F64, SHAPE(1), TG_INIT_ONES, NULL)); /* not trained: not penalised */
    tg_set(w32, 1, 2.0);
    tg_set(w64, 0, 3.0);
    tg_tensor *y = tg_l2_penalty(tape, p, 0.5);
    assert_non_null(y);
    assert_int_equal(y->dtype, TG_F64);
    ASSERT_VALUES(y, 1e-12, 0.25 * (1 + 4 + 9)); /* 3.5 */
    assert_int_equal(tg_backward(tape, y, NULL), TG_OK);
    assert_int_equal(w32->grad->dtype, TG_F32);
    ASSERT_VALUES(w32->grad, 1e-7, 0.5, 1.0);
    ASSERT_VALUES(w64->grad, 1e-15, 1.5);
    tg_params_free(p);
}

static void test_single_dtype_keeps_its_dtype(void **state) {
    (void)state;
    tg_tensor *a = tg_ones(tape, TG_F32, SHAPE(3));
    tg_tensor *y = tg_l2_penalty_of(tape, 1, &a, 2.0);
    assert_int_equal(y->dtype, TG_F32);
    ASSERT_VALUES(y, 1e-6, 3);
}

static void test_penalty_errors_name_the_tensor(void **state) {
    (void)state;
    tg_tensor *a = tg_ones(tape, TG_F32, SHAPE(3));
    assert_null(tg_l2_penalty_of(tape, 2, (tg_tensor *[]){a, NULL}, 1.0));
    assert_error("tg_l2_penalty: tensor 1 is NULL", "NULL");
    tg_tape *other = tg_tape_new();
    assert_null(tg_l2_penalty_of(tape, 2, (tg_tensor *[]){a, tg_ones(other, TG_F32, SHAPE(1))}, 1.0));
    assert_error("tg_l2_penalty: tensor 1", "another tape");
    tg_tape_free(other);
    assert_null(tg_l2_penalty_of(tape, 0, NULL, 1.0));
    assert_error("tg_l2_penalty", "no tensors");
    tg_params *empty = tg_params_new();
    assert_null(tg_l2_penalty(tape, empty, 1.0));
    assert_error("tg_l2_penalty", "no trainable parameters");
    tg_params_free(empty);
    assert_null(tg_l2_penalty(NULL, NULL, 1.0));
    assert_error_mentions(tg_last_error(), "tg_l2_penalty: tape is NULL");
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, tape_setup, tape_teardown)
    const struct CMUnitTest tests[] = {
        T(test_penalty_of_a_list_is_half_lambda_times_the_sum_of_squares),
        T(test_store_mixing_f32_and_f64_is_summed_per_dtype_into_f64),
        T(test_single_dtype_keeps_its_dtype),
        T(test_penalty_errors_name_the_tensor),
    };
#undef T
    return cmocka_run_group_tests_name("l2 penalty", tests, NULL, NULL);
}
