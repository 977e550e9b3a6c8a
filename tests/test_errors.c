/* Errors are values: messages name the op and the shapes, the first error
 * sticks, NULL propagates through every op, and zero-size tensors never
 * crash an op (elementwise, unary, matmul). */
#include "testing.h"

static int setup(void **state) {
    *state = tg_tape_new();
    return 0;
}
static int teardown(void **state) {
    tg_tape_free(*state);
    return 0;
}

typedef tg_tensor *(*binary_fn)(tg_tape *, tg_tensor *, tg_tensor *);
typedef tg_tensor *(*unary_fn)(tg_tape *, tg_tensor *);
typedef tg_tensor *(*scalar_fn)(tg_tape *, tg_tensor *, double);

static const struct {
    const char *name;
    binary_fn fn;
} binary_ops[] = {{"tg_add", tg_add},         {"tg_sub", tg_sub},         {"tg_mul", tg_mul}, {"tg_div", tg_div},
                  {"tg_pow", tg_pow},         {"tg_maximum", tg_maximum}, {"tg_minimum", tg_minimum},
                  {"tg_gt", tg_gt},           {"tg_ge", tg_ge},           {"tg_eq", tg_eq},   {"tg_matmul", tg_matmul}};

static tg_tensor *leaky_relu(tg_tape *t, tg_tensor *x) { return tg_leaky_relu(t, x, 0.1); }
static tg_tensor *clamp(tg_tape *t, tg_tensor *x) { return tg_clamp(t, x, -1.0, 1.0); }
static const struct {
    const char *name;
    unary_fn fn;
} unary_ops[] = {{"tg_neg", tg_neg},         {"tg_abs", tg_abs},           {"tg_sign", tg_sign},
                 {"tg_exp", tg_exp},         {"tg_log", tg_log},           {"tg_sqrt", tg_sqrt},
                 {"tg_rsqrt", tg_rsqrt},     {"tg_square", tg_square},     {"tg_sin", tg_sin},
                 {"tg_cos", tg_cos},         {"tg_tanh", tg_tanh},         {"tg_sigmoid", tg_sigmoid},
                 {"tg_relu", tg_relu},       {"tg_leaky_relu", leaky_relu}, {"tg_gelu", tg_gelu},
                 {"tg_softplus", tg_softplus}, {"tg_clamp", clamp}};

static const struct {
    const char *name;
    scalar_fn fn;
} scalar_ops[] = {{"tg_add_scalar", tg_add_scalar},
                  {"tg_mul_scalar", tg_mul_scalar},
                  {"tg_pow_scalar", tg_pow_scalar},
                  {"tg_gt_scalar", tg_gt_scalar}};

#define COUNT(a) (int)(sizeof(a) / sizeof((a)[0]))

static void test_matmul_inner_mismatch_names_op_and_both_shapes(void **state) {
    tg_tape *t = *state;
    tg_tensor *x = tg_zeros(t, TG_F32, SHAPE(32, 784)), *w = tg_zeros(t, TG_F32, SHAPE(256, 10));
    assert_null(tg_matmul(t, x, w));
    assert_int_equal(tg_tape_status(t), TG_ERR_SHAPE);
    assert_error_mentions(tg_tape_error(t), "tg_matmul");
    assert_error_mentions(tg_tape_error(t), "[32,784]");
    assert_error_mentions(tg_tape_error(t), "[256,10]");
    assert_string_equal(tg_last_error(), tg_tape_error(t));
}

static void test_broadcast_mismatch_names_op_and_both_shapes(void **state) {
    tg_tape *t = *state;
    assert_null(tg_add(t, tg_zeros(t, TG_F64, SHAPE(2, 3)), tg_zeros(t, TG_F64, SHAPE(4))));
    assert_int_equal(tg_tape_status(t), TG_ERR_SHAPE);
    assert_error_mentions(tg_tape_error(t), "tg_add");
    assert_error_mentions(tg_tape_error(t), "[2,3]");
    assert_error_mentions(tg_tape_error(t), "[4]");
    assert_error_mentions(tg_tape_error(t), "do not broadcast");
}

static void test_every_binary_op_reports_broadcast_mismatch_under_its_own_name(void **state) {
    tg_tape *t = *state;
    for (int i = 0; i < COUNT(binary_ops); i++) {
        if (binary_ops[i].fn == tg_matmul) continue;
        tg_tape_reset(t);
        tg_tensor *a = tg_ones(t, TG_F32, SHAPE(4, 1, 3)), *b = tg_ones(t, TG_F32, SHAPE(2, 2));
        assert_null(binary_ops[i].fn(t, a, b));
        assert_error_mentions(tg_tape_error(t), binary_ops[i].name);
        assert_error_mentions(tg_tape_error(t), "[4,1,3]");
        assert_error_mentions(tg_tape_error(t), "[2,2]");
    }
}

static void test_where_broadcast_mismatch_names_the_shapes(void **state) {
    tg_tape *t = *state;
    tg_tensor *c = tg_ones(t, TG_F64, SHAPE(2, 3)), *a = tg_ones(t, TG_F64, SHAPE(3)),
              *b = tg_ones(t, TG_F64, SHAPE(5, 1, 2));
    assert_null(tg_where(t, c, a, b));
    assert_error_mentions(tg_tape_error(t), "tg_where");
    assert_error_mentions(tg_tape_error(t), "[5,1,2]");
}

static void test_matmul_rank_and_batch_errors_name_the_shapes(void **state) {
    tg_tape *t = *state;
    assert_null(tg_matmul(t, tg_ones(t, TG_F64, SHAPE(3)), tg_ones(t, TG_F64, SHAPE(3, 2))));
    assert_error_mentions(tg_tape_error(t), "tg_matmul");
    assert_error_mentions(tg_tape_error(t), "f64[3] @ f64[3,2]");
    tg_tape_reset(t);
    assert_null(tg_matmul(t, tg_ones(t, TG_F64, SHAPE(2, 3, 4)), tg_ones(t, TG_F64, SHAPE(5, 4, 2))));
    assert_error_mentions(tg_tape_error(t), "batch sizes differ");
    assert_error_mentions(tg_tape_error(t), "[2,3,4]");
    assert_error_mentions(tg_tape_error(t), "[5,4,2]");
    tg_tape_reset(t);
    assert_null(tg_matmul_ex(t, tg_ones(t, TG_F64, SHAPE(3, 4)), tg_ones(t, TG_F64, SHAPE(3, 4)), false, false));
    assert_error_mentions(tg_tape_error(t), "[3,4] @ f64[3,4]");
    tg_tape_reset(t);
    assert_non_null(tg_matmul_ex(t, tg_ones(t, TG_F64, SHAPE(3, 4)), tg_ones(t, TG_F64, SHAPE(3, 4)), true, false));
    assert_null(tg_matmul_ex(t, tg_ones(t, TG_F64, SHAPE(3, 4)), tg_ones(t, TG_F64, SHAPE(3, 4)), true, true));
    assert_error_mentions(tg_tape_error(t), "both transposed");
    tg_tape_reset(t);
    assert_null(tg_matmul(t, tg_ones(t, TG_F64, SHAPE(2, 2)), tg_ones(t, TG_F64, SHAPE(2, 2, 2))));
    assert_error_mentions(tg_tape_error(t), "[2,2] @ f64[2,2,2]");
}

static void test_dtype_mismatch_says_to_use_cast(void **state) {
    tg_tape *t = *state;
    for (int i = 0; i < COUNT(binary_ops); i++) {
        tg_tape_reset(t);
        tg_tensor *a = tg_ones(t, TG_F32, SHAPE(2, 2)), *b = tg_ones(t, TG_F64, SHAPE(2, 2));
        assert_null(binary_ops[i].fn(t, a, b));
        assert_int_equal(tg_tape_status(t), TG_ERR_DTYPE);
        assert_error_mentions(tg_tape_error(t), binary_ops[i].name);
        assert_error_mentions(tg_tape_error(t), "f32[2,2]");
        assert_error_mentions(tg_tape_error(t), "f64[2,2]");
        assert_error_mentions(tg_tape_error(t), "tg_cast");
    }
}

static void test_clamp_with_low_above_high_is_an_error(void **state) {
    tg_tape *t = *state;
    assert_null(tg_clamp(t, tg_ones(t, TG_F64, SHAPE(2)), 1.0, -1.0));
    assert_int_equal(tg_tape_status(t), TG_ERR_ARG);
    assert_error_mentions(tg_tape_error(t), "tg_clamp");
}

static void test_first_error_is_kept_and_null_propagates(void **state) {
    tg_tape *t = *state;
    tg_tensor *x = tg_ones(t, TG_F64, SHAPE(2, 3)), *w = tg_ones(t, TG_F64, SHAPE(4, 5));
    tg_tensor *h = tg_matmul(t, x, w); /* first error */
    assert_null(h);
    char first[1024];
    snprintf(first, sizeof first, "%s", tg_tape_error(t));
    assert_error_mentions(first, "tg_matmul");
    /* a chain over the failed result returns NULL all the way */
    tg_tensor *y = tg_sigmoid(t, tg_add(t, tg_relu(t, h), x));
    assert_null(y);
    assert_null(tg_mul_scalar(t, y, 2.0));
    assert_null(tg_matmul(t, y, w));
    /* a second, different failure does not replace the first */
    assert_null(tg_add(t, x, tg_ones(t, TG_F64, SHAPE(7))));
    assert_null(tg_mul(t, x, tg_ones(t, TG_F32, SHAPE(2, 3))));
    assert_int_equal(tg_tape_status(t), TG_ERR_SHAPE);
    assert_string_equal(tg_tape_error(t), first);
    /* tg_last_error holds the latest message, the tape the first */
    assert_error_mentions(tg_last_error(), "tg_mul");
    tg_tape_clear_error(t);
    assert_int_equal(tg_tape_status(t), TG_OK);
    assert_string_equal(tg_tape_error(t), "");
}

static void test_reset_clears_the_error(void **state) {
    tg_tape *t = *state;
    assert_null(tg_add(t, tg_ones(t, TG_F64, SHAPE(2)), tg_ones(t, TG_F64, SHAPE(3))));
    tg_tape_reset(t);
    assert_int_equal(tg_tape_status(t), TG_OK);
    assert_non_null(tg_add(t, tg_ones(t, TG_F64, SHAPE(2)), tg_ones(t, TG_F64, SHAPE(2))));
}

static void test_every_op_given_a_null_input_returns_null(void **state) {
    tg_tape *t = *state;
    for (int i = 0; i < COUNT(binary_ops); i++) {
        for (int pos = 0; pos < 2; pos++) {
            tg_tape_reset(t);
            tg_tensor *a = tg_ones(t, TG_F64, SHAPE(2, 2));
            assert_null(binary_ops[i].fn(t, pos == 0 ? NULL : a, pos == 1 ? NULL : a));
            assert_int_not_equal(tg_tape_status(t), TG_OK);
            assert_error_mentions(tg_tape_error(t), binary_ops[i].name);
            assert_null(binary_ops[i].fn(t, NULL, NULL));
            assert_null(binary_ops[i].fn(NULL, a, a)); /* NULL tape */
        }
    }
    for (int i = 0; i < COUNT(unary_ops); i++) {
        tg_tape_reset(t);
        assert_null(unary_ops[i].fn(t, NULL));
        assert_error_mentions(tg_tape_error(t), unary_ops[i].name);
        assert_null(unary_ops[i].fn(NULL, tg_ones(t, TG_F64, SHAPE(2))));
        assert_error_mentions(tg_last_error(), "tape is NULL");
    }
    for (int i = 0; i < COUNT(scalar_ops); i++) {
        tg_tape_reset(t);
        assert_null(scalar_ops[i].fn(t, NULL, 2.0));
        assert_error_mentions(tg_tape_error(t), scalar_ops[i].name);
        assert_null(scalar_ops[i].fn(NULL, tg_ones(t, TG_F64, SHAPE(2)), 2.0));
    }
    tg_tape_reset(t);
    tg_tensor *a = tg_ones(t, TG_F64, SHAPE(2));
    assert_null(tg_where(t, NULL, a, a));
    assert_null(tg_where(t, a, NULL, a));
    assert_null(tg_where(t, a, a, NULL));
    assert_null(tg_where(NULL, a, a, a));
    for (int flags = 0; flags < 4; flags++) {
        assert_null(tg_matmul_ex(t, NULL, a, flags & 1, flags & 2));
        assert_null(tg_matmul_ex(t, a, NULL, flags & 1, flags & 2));
    }
    assert_null(tg_clamp(NULL, a, 1.0, -1.0));
}

static void test_an_input_of_another_tape_is_an_error(void **state) {
    tg_tape *t = *state, *other = tg_tape_new();
    tg_tensor *mine = tg_ones(t, TG_F64, SHAPE(2)), *theirs = tg_ones(other, TG_F64, SHAPE(2));
    assert_null(tg_add(t, mine, theirs));
    assert_error_mentions(tg_tape_error(t), "tg_add: input 1");
    assert_error_mentions(tg_tape_error(t), "another tape");
    tg_tape_free(other);
}

/* ---- zero-size tensors ---- */

static void check_zero_size(tg_tape *t, tg_dtype dt) {
    tg_tensor *e = tg_ones(t, dt, SHAPE(0, 3)), *row = tg_ones(t, dt, SHAPE(3)), *s = tg_scalar(t, dt, 2.0);
    for (int i = 0; i < COUNT(binary_ops); i++) {
        if (binary_ops[i].fn == tg_matmul) continue;
        assert_shape(binary_ops[i].fn(t, e, row), SHAPE(0, 3));
        assert_shape(binary_ops[i].fn(t, s, e), SHAPE(0, 3));
        assert_shape(binary_ops[i].fn(t, e, e), SHAPE(0, 3));
        assert_shape(binary_ops[i].fn(t, tg_ones(t, dt, SHAPE(0, 1)), tg_ones(t, dt, SHAPE(1, 4))), SHAPE(0, 4));
    }
    for (int i = 0; i < COUNT(unary_ops); i++) assert_shape(unary_ops[i].fn(t, e), SHAPE(0, 3));
    for (int i = 0; i < COUNT(scalar_ops); i++) assert_shape(scalar_ops[i].fn(t, e, 1.5), SHAPE(0, 3));
    assert_shape(tg_where(t, e, e, row), SHAPE(0, 3));
    /* a size-0 dimension does not broadcast against 2 */
    assert_null(tg_add(t, tg_ones(t, dt, SHAPE(0)), tg_ones(t, dt, SHAPE(2))));
    tg_tape_clear_error(t);
    assert_int_equal(tg_tape_status(t), TG_OK);
}

static void test_elementwise_and_unary_ops_accept_zero_size_tensors(void **state) {
    check_zero_size(*state, TG_F32);
    check_zero_size(*state, TG_F64);
}

static void test_matmul_accepts_zero_size_operands(void **state) {
    tg_tape *t = *state;
    for (int flags = 0; flags < 4; flags++) {
        bool ta = flags & 1, tb = flags & 2;
        tg_tape_reset(t);
        /* M = 0 */
        tg_tensor *a = ta ? tg_ones(t, TG_F64, SHAPE(3, 0)) : tg_ones(t, TG_F64, SHAPE(0, 3));
        tg_tensor *b = tb ? tg_ones(t, TG_F64, SHAPE(4, 3)) : tg_ones(t, TG_F64, SHAPE(3, 4));
        assert_shape(tg_matmul_ex(t, a, b, ta, tb), SHAPE(0, 4));
        /* K = 0: the empty sum, zeros */
        a = ta ? tg_ones(t, TG_F64, SHAPE(0, 2)) : tg_ones(t, TG_F64, SHAPE(2, 0));
        b = tb ? tg_ones(t, TG_F64, SHAPE(3, 0)) : tg_ones(t, TG_F64, SHAPE(0, 3));
        tg_tensor *y = tg_matmul_ex(t, a, b, ta, tb);
        assert_shape(y, SHAPE(2, 3));
        ASSERT_VALUES(y, 0, 0, 0, 0, 0, 0, 0);
        /* N = 0 */
        a = tg_ones(t, TG_F64, SHAPE(2, 2));
        b = tg_ones(t, TG_F64, SHAPE(tb ? 0 : 2, tb ? 2 : 0));
        assert_shape(tg_matmul_ex(t, a, b, ta, tb), SHAPE(2, 0));
        /* batch = 0, and 3-D @ 2-D with K = 0 */
        assert_shape(tg_matmul_ex(t, tg_ones(t, TG_F64, SHAPE(0, 2, 2)), tg_ones(t, TG_F64, SHAPE(0, 2, 2)), ta, tb),
                     SHAPE(0, 2, 2));
        y = tg_matmul_ex(t, tg_ones(t, TG_F64, SHAPE(2, ta ? 0 : 1, ta ? 1 : 0)),
                         tg_ones(t, TG_F64, SHAPE(tb ? 2 : 0, tb ? 0 : 2)), ta, tb);
        assert_shape(y, SHAPE(2, 1, 2));
        ASSERT_VALUES(y, 0, 0, 0, 0, 0);
        assert_int_equal(tg_tape_status(t), TG_OK);
    }
}

static void test_backward_through_zero_size_tensors_gives_zero_size_gradients(void **state) {
    tg_tape *t = *state;
    tg_tensor *x = tg_ones(t, TG_F64, SHAPE(0, 3)), *bias = T64(t, SHAPE(3), 1, 2, 3);
    tg_tensor *w = tg_ones(t, TG_F64, SHAPE(3, 2));
    assert_int_equal(tg_requires_grad(x), TG_OK);
    assert_int_equal(tg_requires_grad(bias), TG_OK);
    assert_int_equal(tg_requires_grad(w), TG_OK);
    tg_tensor *y = tg_matmul(t, tg_tanh(t, tg_add(t, x, bias)), w); /* [0,2] */
    assert_shape(y, SHAPE(0, 2));
    tg_tensor *g = tg_ones(t, TG_F64, SHAPE(0, 2));
    assert_int_equal(tg_backward(t, y, &(tg_backward_opts){.grad_output = g}), TG_OK);
    assert_shape(x->grad, SHAPE(0, 3));
    ASSERT_VALUES(bias->grad, 0, 0, 0, 0);
    ASSERT_VALUES(w->grad, 0, 0, 0, 0, 0, 0, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_matmul_inner_mismatch_names_op_and_both_shapes),
        T(test_broadcast_mismatch_names_op_and_both_shapes),
        T(test_every_binary_op_reports_broadcast_mismatch_under_its_own_name),
        T(test_where_broadcast_mismatch_names_the_shapes),
        T(test_matmul_rank_and_batch_errors_name_the_shapes),
        T(test_dtype_mismatch_says_to_use_cast),
        T(test_clamp_with_low_above_high_is_an_error),
        T(test_first_error_is_kept_and_null_propagates),
        T(test_reset_clears_the_error),
        T(test_every_op_given_a_null_input_returns_null),
        T(test_an_input_of_another_tape_is_an_error),
        T(test_elementwise_and_unary_ops_accept_zero_size_tensors),
        T(test_matmul_accepts_zero_size_operands),
        T(test_backward_through_zero_size_tensors_gives_zero_size_gradients),
#undef T
    };
    return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
