/* Shape ops: reshape (storage sharing, -1 inference), permute/transpose,
 * slice (Python bounds), pad, concat. Known values, errors naming the op and
 * the shapes, NULL propagation, gradients against central differences (f64). */
#include "central_difference.h"

/* gradients against central differences (tests/central_difference.h) */
static void check_gradients(cd_fn f, int n, tg_tensor **in) { cd_check(f, NULL, n, in, 0); }

/* ---- reshape ---- */
static void test_reshape_keeps_row_major_order_and_shares_storage(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(2, 3));
    tg_tensor *y = tg_reshape(tape, x, SHAPE(3, 2));
    assert_shape(y, SHAPE(3, 2));
    ASSERT_VALUES(y, 0, 0, 1, 2, 3, 4, 5);
    assert_ptr_equal(y->data, x->data);
    assert_ptr_not_equal(y, x);
}

static void test_reshape_infers_one_minus_one_dimension(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F32, SHAPE(2, 3, 4));
    assert_shape(tg_reshape(tape, x, SHAPE(4, -1)), SHAPE(4, 6));
    assert_shape(tg_reshape(tape, x, SHAPE(-1)), SHAPE(24));
    assert_shape(tg_reshape(tape, x, SHAPE(2, -1, 3)), SHAPE(2, 4, 3));
    tg_tensor *s = tg_reshape(tape, tg_reshape(tape, x, SHAPE(24, 1)), 0, NULL);
    assert_null(s); /* 24 elements do not make a scalar */
    assert_error("tg_reshape", "f32[24,1]");
    tg_tensor *one = tg_reshape(tape, T64(tape, SHAPE(1, 1), 7), 0, NULL);
    assert_shape(one, 0, NULL);
    ASSERT_VALUES(one, 0, 7);
}

static void test_reshape_rejects_wrong_sizes_and_two_unknowns(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(2, 3));
    assert_null(tg_reshape(tape, x, SHAPE(4, 2)));
    assert_error("tg_reshape", "cannot reshape f64[2,3] (6 elements) to [4,2]");
    assert_null(tg_reshape(tape, x, SHAPE(-1, -1)));
    assert_error("tg_reshape", "[-1,-1]");
    assert_null(tg_reshape(tape, x, SHAPE(-1, 4)));
    assert_error("tg_reshape", "f64[2,3]");
    assert_null(tg_reshape(tape, x, SHAPE(3, -2)));
    assert_error("tg_reshape", "bad target shape [3,-2]");
    assert_null(tg_reshape(tape, x, 9, (const int64_t[9]){1, 1, 1, 1, 1, 1, 1, 2, 3}));
    assert_error("tg_reshape", "9 dimensions");
    assert_null(tg_reshape(tape, NULL, SHAPE(6)));
}

/* 2^62 * 4 wraps to 0 in int64: the product must be checked, also when the
 * tensor is empty (a later slice would compute rows of 2^62 * 4 elements) */
static void test_reshape_to_a_shape_whose_product_overflows_is_an_error(void **state) {
    (void)state;
    tg_tensor *empty = tg_zeros(tape, TG_F32, SHAPE(0));
    assert_null(tg_reshape(tape, empty, SHAPE(1LL << 62, 4)));
    assert_error("tg_reshape", "bad target shape [4611686018427387904,4] for f32[0] (too many elements)");
    assert_null(tg_reshape(tape, empty, SHAPE(0, 1LL << 62, 4)));
    assert_error("tg_reshape", "too many elements");
    assert_null(tg_reshape(tape, empty, SHAPE(-1, 1LL << 31, 1LL << 31, 1LL << 31)));
    assert_error("tg_reshape", "too many elements");
    assert_null(tg_reshape(tape, iota(TG_F64, SHAPE(2, 3)), SHAPE(-1, INT64_MAX)));
    assert_error("tg_reshape", "f64[2,3]");
    assert_shape(tg_reshape(tape, empty, SHAPE(0, TG_MAX_NUMEL)), SHAPE(0, TG_MAX_NUMEL)); /* 2^60 - 1 */
    assert_null(tg_reshape(tape, empty, SHAPE(0, 1LL << 59, 2)));
    assert_error("tg_reshape", "too many elements");
}

static void test_reshape_with_a_null_shape_names_the_shape(void **state) {
    (void)state;
    assert_null(tg_reshape(tape, iota(TG_F64, SHAPE(2, 3)), 2, NULL));
    assert_int_equal(tg_tape_status(tape), TG_ERR_ARG);
    assert_error("tg_reshape", "shape is NULL for 2 dimensions (reshaping f64[2,3])");
}

static void test_concat_whose_joined_axis_overflows_is_an_error(void **state) {
    (void)state;
    tg_tensor *wide = tg_zeros(tape, TG_F32, SHAPE(0, 1LL << 59));
    assert_shape(tg_concat(tape, 1, (tg_tensor *[]){wide}, 1), SHAPE(0, 1LL << 59));
    assert_null(tg_concat(tape, 3, (tg_tensor *[]){wide, wide, wide}, 1));
    assert_error("tg_concat", "joining 3 tensors along axis 1 gives more than 1152921504606846975 rows");
    tg_tensor *square = tg_zeros(tape, TG_F32, SHAPE(0, 1LL << 30, 1LL << 29));
    assert_null(tg_concat(tape, 2, (tg_tensor *[]){square, square}, 2));
    assert_error("tg_concat", "too large");
}

static tg_tensor *apply_reshape(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_reshape(t, in[0], SHAPE(3, -1));
}

static void test_reshape_gradient_has_the_input_shape(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(2, 3));
    check_gradients(apply_reshape, 1, &x);
}

/* ---- permute / transpose ---- */
static void test_permute_moves_axes(void **state) {
    (void)state;
    /* x[i][j][k] = 12 i + 4 j + k; perm (2,0,1): y[k][i][j] = x[i][j][k] */
    tg_tensor *y = tg_permute(tape, iota(TG_F64, SHAPE(2, 3, 4)), (const int[]){2, 0, 1});
    assert_shape(y, SHAPE(4, 2, 3));
    ASSERT_VALUES(y, 0, 0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23);
    tg_tensor *neg = tg_permute(tape, iota(TG_F32, SHAPE(2, 3)), (const int[]){-1, 0});
    assert_shape(neg, SHAPE(3, 2));
    ASSERT_VALUES(neg, 0, 0, 3, 1, 4, 2, 5);
}

static void test_transpose_swaps_two_axes(void **state) {
    (void)state;
    tg_tensor *y = tg_transpose(tape, iota(TG_F64, SHAPE(2, 3)), 0, 1);
    assert_shape(y, SHAPE(3, 2));
    ASSERT_VALUES(y, 0, 0, 3, 1, 4, 2, 5);
    /* the last two axes of [2,2,3] */
    tg_tensor *b = tg_transpose(tape, iota(TG_F64, SHAPE(2, 2, 3)), -2, -1);
    assert_shape(b, SHAPE(2, 3, 2));
    ASSERT_VALUES(b, 0, 0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11);
    tg_tensor *same = tg_transpose(tape, iota(TG_F64, SHAPE(2, 3)), 1, 1);
    ASSERT_VALUES(same, 0, 0, 1, 2, 3, 4, 5);
}

static void test_permute_and_transpose_reject_bad_axes(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(2, 3, 4));
    assert_null(tg_permute(tape, x, (const int[]){0, 0, 1}));
    assert_error("tg_permute", "f64[2,3,4]");
    assert_null(tg_permute(tape, x, (const int[]){0, 1, 3}));
    assert_error("tg_permute", "3 axes");
    assert_null(tg_permute(tape, x, NULL));
    assert_error("tg_permute", "f64[2,3,4]");
    assert_null(tg_transpose(tape, x, 0, 3));
    assert_error("tg_transpose", "axis 3 is out of range for f64[2,3,4]");
    assert_null(tg_transpose(tape, x, -4, 0));
    assert_error("tg_transpose", "axis -4");
    assert_null(tg_transpose(tape, NULL, 0, 1));
    assert_null(tg_permute(tape, NULL, (const int[]){0}));
}

static tg_tensor *apply_permute(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_permute(t, in[0], (const int[]){1, 2, 0});
}
static tg_tensor *apply_transpose(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_transpose(t, in[0], -1, 0);
}

static void test_permute_and_transpose_gradients_match_central_differences(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(2, 3, 2));
    check_gradients(apply_permute, 1, &x);
    tg_tensor *z = iota(TG_F64, SHAPE(3, 2, 2));
    check_gradients(apply_transpose, 1, &z);
}

/* ---- slice ---- */
static void test_slice_keeps_start_to_end_minus_one(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(3, 4));
    tg_tensor *cols = tg_slice(tape, x, 1, 1, 3);
    assert_shape(cols, SHAPE(3, 2));
    ASSERT_VALUES(cols, 0, 1, 2, 5, 6, 9, 10);
    tg_tensor *rows = tg_slice(tape, x, 0, 1, 2);
    assert_shape(rows, SHAPE(1, 4));
    ASSERT_VALUES(rows, 0, 4, 5, 6, 7);
    tg_tensor *f32 = tg_slice(tape, iota(TG_F32, SHAPE(2, 3, 2)), 1, 2, 3);
    assert_shape(f32, SHAPE(2, 1, 2));
    assert_int_equal(f32->dtype, TG_F32);
    ASSERT_VALUES(f32, 0, 4, 5, 10, 11);
}

static void test_slice_counts_negative_bounds_from_the_end(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(3, 4));
    ASSERT_VALUES(tg_slice(tape, x, 0, -2, INT64_MAX), 0, 4, 5, 6, 7, 8, 9, 10, 11); /* x[-2:] */
    ASSERT_VALUES(tg_slice(tape, x, -1, -3, -1), 0, 1, 2, 5, 6, 9, 10);              /* x[:, -3:-1] */
    ASSERT_VALUES(tg_slice(tape, x, 1, 0, -3), 0, 0, 4, 8);                          /* x[:, :-3] */
}

static void test_slice_clamps_like_python_and_may_be_empty(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(3, 4));
    tg_tensor *all = tg_slice(tape, x, 1, -10, 10);
    assert_shape(all, SHAPE(3, 4));
    ASSERT_VALUES(all, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
    assert_shape(tg_slice(tape, x, 1, 3, 1), SHAPE(3, 0));
    assert_shape(tg_slice(tape, x, 0, 5, 9), SHAPE(0, 4));
    assert_shape(tg_slice(tape, x, 0, -1, -2), SHAPE(0, 4));
    assert_int_equal(tg_tape_status(tape), TG_OK);
}

static void test_slice_rejects_bad_axes_and_null(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(3, 4));
    assert_null(tg_slice(tape, x, 2, 0, 1));
    assert_error("tg_slice", "axis 2 is out of range for f64[3,4]");
    assert_null(tg_slice(tape, tg_scalar(tape, TG_F64, 1.0), 0, 0, 1));
    assert_error("tg_slice", "f64[]");
    assert_null(tg_slice(tape, NULL, 0, 0, 1));
    assert_error("tg_slice", "NULL");
}

/* ---- pad ---- */
static void test_pad_surrounds_with_zeros(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2, 2), 1, 2, 3, 4);
    tg_tensor *cols = tg_pad(tape, x, 1, 1, 2);
    assert_shape(cols, SHAPE(2, 5));
    ASSERT_VALUES(cols, 0, 0, 1, 2, 0, 0, 0, 3, 4, 0, 0);
    tg_tensor *rows = tg_pad(tape, x, -2, 1, 0);
    assert_shape(rows, SHAPE(3, 2));
    ASSERT_VALUES(rows, 0, 0, 0, 1, 2, 3, 4);
    ASSERT_VALUES(tg_pad(tape, x, 0, 0, 0), 0, 1, 2, 3, 4);
    tg_tensor *empty = tg_tensor_empty(tape, TG_F32, SHAPE(2, 0));
    tg_tensor *zeros = tg_pad(tape, empty, 1, 1, 1);
    assert_shape(zeros, SHAPE(2, 2));
    ASSERT_VALUES(zeros, 0, 0, 0, 0, 0);
}

static void test_pad_rejects_negative_padding(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2, 2), 1, 2, 3, 4);
    assert_null(tg_pad(tape, x, 0, -1, 0));
    assert_error("tg_pad", "before -1, after 0");
    assert_error_mentions(tg_last_error(), "f64[2,2]");
    assert_null(tg_pad(tape, x, 0, 1, INT64_MAX));
    assert_error("tg_pad", "too large");
    assert_null(tg_pad(tape, x, 2, 1, 1));
    assert_error("tg_pad", "axis 2");
    assert_null(tg_pad(tape, NULL, 0, 1, 1));
}

static tg_tensor *apply_slice(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_slice(t, in[0], 1, -3, -1);
}
static tg_tensor *apply_pad(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_pad(t, in[0], 0, 2, 1);
}
static tg_tensor *apply_slice_of_pad(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_slice(t, tg_pad(t, in[0], -1, 1, 1), -1, 0, 3);
}

static void test_slice_and_pad_gradients_match_central_differences(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(2, 4, 3));
    check_gradients(apply_slice, 1, &x);
    tg_tensor *y = iota(TG_F64, SHAPE(2, 3));
    check_gradients(apply_pad, 1, &y);
    tg_tensor *z = iota(TG_F64, SHAPE(3, 3));
    check_gradients(apply_slice_of_pad, 1, &z);
}

static void test_slice_gradient_is_zero_outside_the_slice(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(2, 3));
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *y = tg_slice(tape, x, 1, 1, 2);
    assert_int_equal(tg_backward(tape, y, &(tg_backward_opts){.grad_output = T64(tape, SHAPE(2, 1), 5, 7)}), TG_OK);
    ASSERT_VALUES(x->grad, 0, 0, 5, 0, 0, 7, 0);
}

/* ---- concat ---- */
static void test_concat_joins_along_an_axis(void **state) {
    (void)state;
    tg_tensor *a = T64(tape, SHAPE(2, 1), 1, 2), *b = T64(tape, SHAPE(2, 2), 3, 4, 5, 6);
    tg_tensor *cols = tg_concat(tape, 2, (tg_tensor *[]){a, b}, 1);
    assert_shape(cols, SHAPE(2, 3));
    ASSERT_VALUES(cols, 0, 1, 3, 4, 2, 5, 6);
    tg_tensor *rows = tg_concat(tape, 3, (tg_tensor *[]){b, tg_transpose(tape, a, 0, 1), b}, -2);
    assert_shape(rows, SHAPE(5, 2));
    ASSERT_VALUES(rows, 0, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6);
    tg_tensor *one = tg_concat(tape, 1, &a, 0);
    ASSERT_VALUES(one, 0, 1, 2);
    assert_ptr_not_equal(one, a);
    tg_tensor *empty = tg_tensor_empty(tape, TG_F64, SHAPE(2, 0));
    ASSERT_VALUES(tg_concat(tape, 3, (tg_tensor *[]){empty, a, empty}, 1), 0, 1, 2);
}

static void test_concat_rejects_mismatched_inputs(void **state) {
    (void)state;
    tg_tensor *a = iota(TG_F64, SHAPE(2, 3)), *b = iota(TG_F64, SHAPE(3, 3));
    assert_null(tg_concat(tape, 2, (tg_tensor *[]){a, b}, 1));
    assert_error("tg_concat", "input 1 f64[3,3] does not match input 0 f64[2,3] outside axis 1");
    assert_null(tg_concat(tape, 2, (tg_tensor *[]){a, iota(TG_F64, SHAPE(2, 3, 1))}, 0));
    assert_error("tg_concat", "f64[2,3,1]");
    assert_null(tg_concat(tape, 2, (tg_tensor *[]){a, iota(TG_F32, SHAPE(2, 3))}, 0));
    assert_error("tg_concat", "dtypes differ");
    assert_null(tg_concat(tape, 2, (tg_tensor *[]){a, b}, 2));
    assert_error("tg_concat", "axis 2 is out of range for f64[2,3]");
    assert_null(tg_concat(tape, 0, (tg_tensor *[]){a}, 0));
    assert_error("tg_concat", "at least one tensor");
    assert_null(tg_concat(tape, 2, NULL, 0));
    assert_error("tg_concat", "at least one tensor");
    assert_null(tg_concat(tape, 2, (tg_tensor *[]){a, NULL}, 0));
    assert_error("tg_concat", "input 1 is NULL");
    assert_null(tg_concat(NULL, 1, (tg_tensor *[]){a}, 0));
    assert_error_mentions(tg_last_error(), "tg_concat");
}

static tg_tensor *apply_concat(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_concat(t, 3, in, 1);
}
static tg_tensor *apply_concat_self(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_concat(t, 3, (tg_tensor *[]){in[0], in[1], in[0]}, 0);
}

static void test_concat_gradients_match_central_differences(void **state) {
    (void)state;
    tg_tensor *in[3] = {iota(TG_F64, SHAPE(2, 1, 2)), iota(TG_F64, SHAPE(2, 3, 2)), iota(TG_F64, SHAPE(2, 2, 2))};
    check_gradients(apply_concat, 3, in);
    /* one tensor twice: its gradient is the sum of both slices */
    tg_tensor *pair[2] = {iota(TG_F64, SHAPE(1, 3)), iota(TG_F64, SHAPE(2, 3))};
    check_gradients(apply_concat_self, 2, pair);
}

static void test_concat_gradient_skips_inputs_that_need_none(void **state) {
    (void)state;
    tg_tensor *a = iota(TG_F64, SHAPE(1, 2)), *b = iota(TG_F64, SHAPE(2, 2));
    assert_int_equal(tg_requires_grad(b), TG_OK);
    tg_tensor *y = tg_concat(tape, 2, (tg_tensor *[]){a, b}, 0);
    assert_int_equal(tg_tape_node(tape, tg_tape_node_count(tape) - 1)->n_inputs, 2);
    assert_int_equal(tg_backward(tape, y, &(tg_backward_opts){.grad_output = iota(TG_F64, SHAPE(3, 2))}), TG_OK);
    assert_null(a->grad);
    ASSERT_VALUES(b->grad, 0, 2, 3, 4, 5);
}

/* ---- large tensors take the parallel path and give the same values ---- */
static void test_large_slice_pad_concat_agree_with_element_loops(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F32, SHAPE(300, 257));
    tg_tensor *s = tg_slice(tape, x, 1, 3, 250);
    tg_tensor *p = tg_pad(tape, x, 0, 5, 7);
    tg_tensor *c = tg_concat(tape, 2, (tg_tensor *[]){x, s}, 1);
    assert_non_null(s);
    assert_non_null(p);
    assert_non_null(c);
    for (int64_t i = 0; i < 300; i++) {
        for (int64_t j = 0; j < 247; j++) assert_true(tg_get(s, i * 247 + j) == (double)(i * 257 + j + 3));
        for (int64_t j = 0; j < 504; j++)
            assert_true(tg_get(c, i * 504 + j) == (double)(i * 257 + (j < 257 ? j : j - 257 + 3)));
    }
    for (int64_t i = 0; i < 312 * 257; i++) {
        int64_t r = i / 257;
        assert_true(tg_get(p, i) == (r < 5 || r >= 305 ? 0.0 : (double)(i - 5 * 257)));
    }
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, tape_setup, tape_teardown)
    const struct CMUnitTest tests[] = {
        T(test_reshape_keeps_row_major_order_and_shares_storage),
        T(test_reshape_infers_one_minus_one_dimension),
        T(test_reshape_rejects_wrong_sizes_and_two_unknowns),
        T(test_reshape_to_a_shape_whose_product_overflows_is_an_error),
        T(test_reshape_with_a_null_shape_names_the_shape),
        T(test_concat_whose_joined_axis_overflows_is_an_error),
        T(test_reshape_gradient_has_the_input_shape),
        T(test_permute_moves_axes),
        T(test_transpose_swaps_two_axes),
        T(test_permute_and_transpose_reject_bad_axes),
        T(test_permute_and_transpose_gradients_match_central_differences),
        T(test_slice_keeps_start_to_end_minus_one),
        T(test_slice_counts_negative_bounds_from_the_end),
        T(test_slice_clamps_like_python_and_may_be_empty),
        T(test_slice_rejects_bad_axes_and_null),
        T(test_pad_surrounds_with_zeros),
        T(test_pad_rejects_negative_padding),
        T(test_slice_and_pad_gradients_match_central_differences),
        T(test_slice_gradient_is_zero_outside_the_slice),
        T(test_concat_joins_along_an_axis),
        T(test_concat_rejects_mismatched_inputs),
        T(test_concat_gradients_match_central_differences),
        T(test_concat_gradient_skips_inputs_that_need_none),
        T(test_large_slice_pad_concat_agree_with_element_loops),
    };
#undef T
    return cmocka_run_group_tests_name("shape", tests, NULL, NULL);
}
