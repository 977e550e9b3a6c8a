/* Custom ops (ops/custom.h), with the worked example of docs/adding-an-op.md:
 *
 *   swish(x) = x s,  s = sigmoid(x)
 *   d swish / dx = s + x s (1 - s)       (so dL/dx = g (s + x s (1 - s)))
 *
 * defined here, outside the library, and then used like a built-in op:
 * recorded on the tape, differentiated by tg_backward, checked by
 * tg_gradcheck and tg_gradgradcheck. Expected values: Python math, float64. */
#include "testing.h"

/* ---- the worked example: swish ---- */

/* forward: y = x / (1 + e^-x), one loop per dtype */
static void swish_forward(const tg_tensor *const *in, int n, tg_tensor *out, const void *attrs) {
    (void)n, (void)attrs;
    if (out->dtype == TG_F32) {
        const float *x = in[0]->data;
        float *y = out->data;
        for (int64_t i = 0; i < out->numel; i++) y[i] = x[i] / (1 + expf(-x[i]));
    } else {
        const double *x = in[0]->data;
        double *y = out->data;
        for (int64_t i = 0; i < out->numel; i++) y[i] = x[i] / (1 + exp(-x[i]));
    }
}

/* backward with tg ops only, so it can be recorded and differentiated again:
 * dL/dx = g (s + x s (1 - s)) */
static tg_status swish_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **grad_in) {
    tg_tensor *x = node->inputs[0];
    tg_tensor *s = tg_sigmoid(t, x);
    tg_tensor *s_one_minus_s = tg_mul(t, s, tg_add_scalar(t, tg_neg(t, s), 1.0));
    grad_in[0] = tg_mul(t, g, tg_add(t, s, tg_mul(t, x, s_one_minus_s)));
    return tg_tape_status(t);
}

/* shape NULL: the output has the input's dtype and shape */
static const tg_custom_op swish_op = {.op = {"swish", 1, swish_backward}, .shape = NULL, .forward = swish_forward};

static tg_tensor *swish(tg_tape *t, tg_tensor *x) { return tg_custom(t, &swish_op, 1, &x, NULL, 0); }

/* ---- a custom op with attributes: y = alpha x ---- */
typedef struct {
    double alpha;
} scale_attrs;

static void scale_forward(const tg_tensor *const *in, int n, tg_tensor *out, const void *attrs) {
    (void)n;
    double alpha = ((const scale_attrs *)attrs)->alpha;
    for (int64_t i = 0; i < out->numel; i++) tg_set(out, i, alpha * tg_get(in[0], i));
}
static tg_status scale_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **grad_in) {
    grad_in[0] = tg_mul_scalar(t, g, ((const scale_attrs *)node->attrs)->alpha); /* the tape's copy */
    return tg_tape_status(t);
}
static const tg_custom_op scale_op = {{"scale", 1, scale_backward}, NULL, scale_forward};

/* ---- a custom op with a shape rule: outer(a[m], b[n]) = a b^T, [m,n] ---- */
static tg_status outer_shape(const tg_tensor *const *in, int n, const void *attrs, tg_dtype *dtype, int *ndim,
                             int64_t shape[TG_MAX_DIMS]) {
    (void)n, (void)attrs;
    if (in[0]->ndim != 1 || in[1]->ndim != 1) return tg_set_error(TG_ERR_SHAPE, "expects two 1-D inputs");
    *dtype = in[0]->dtype;
    *ndim = 2;
    shape[0] = in[0]->shape[0];
    shape[1] = in[1]->shape[0];
    return TG_OK;
}
static void outer_forward(const tg_tensor *const *in, int n, tg_tensor *out, const void *attrs) {
    (void)n, (void)attrs;
    int64_t m = in[0]->numel, k = in[1]->numel;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < k; j++) tg_set(out, i * k + j, tg_get(in[0], i) * tg_get(in[1], j));
}
/* da[i] = sum_j g[i,j] b[j];  db[j] = sum_i g[i,j] a[i] */
static tg_status outer_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **grad_in) {
    tg_tensor *a = node->inputs[0], *b = node->inputs[1];
    if (a->requires_grad) grad_in[0] = tg_sum(t, tg_mul(t, g, b), (const int[]){1}, 1, false);
    if (b->requires_grad)
        grad_in[1] = tg_sum(t, tg_mul(t, g, tg_reshape(t, a, SHAPE(-1, 1))), (const int[]){0}, 1, false);
    return tg_tape_status(t);
}
static const tg_custom_op outer_op = {{"outer", 2, outer_backward}, outer_shape, outer_forward};

static tg_tensor *swish_fn(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return swish(t, in[0]);
}
static tg_tensor *outer_fn(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_custom(t, &outer_op, 2, in, NULL, 0);
}

static const tg_gradcheck_opts quiet = {.quiet = true};

static void test_swish_forward_matches_known_values(void **state) {
    (void)state;
    tg_tensor *y = swish(tape, T64(tape, SHAPE(2, 3), -2, -0.5, 0, 0.3, 1, 2.5));
    assert_shape(y, SHAPE(2, 3));
    ASSERT_VALUES(y, 1e-15, -0.2384058440442351, -0.1887703343990727, 0.0, 0.1723327550434977, 0.7310585786300049,
                  2.3103545499468914);
    tg_tensor *y32 = swish(tape, T32(tape, SHAPE(2), -2, 1));
    assert_int_equal(y32->dtype, TG_F32);
    ASSERT_VALUES(y32, 1e-6, -0.2384058440442351, 0.7310585786300049);
}

static void test_swish_backward_is_the_hand_derived_derivative(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(6), -2, -0.5, 0, 0.3, 1, 2.5);
    tg_requires_grad(x);
    tg_tensor *y = swish(tape, x);
    assert_true(y->requires_grad);
    assert_int_equal(tg_backward(tape, tg_sum(tape, y, NULL, 0, false), NULL), TG_OK);
    ASSERT_VALUES(x->grad, 1e-15, -0.09078424878489547, 0.2600388126973482, 0.5, 0.6477800103188828,
                  0.9276705118714867, 1.0994011113415267);
}

static void test_swish_passes_gradcheck_and_gradgradcheck(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2, 3), -2, -0.5, 0.1, 0.3, 1, 2.5);
    tg_gradcheck_report r;
    assert_int_equal(tg_gradcheck(swish_fn, NULL, 1, &x, &quiet, &r), TG_OK);
    assert_true(r.max_abs_error < 1e-8);
    assert_int_equal(tg_gradgradcheck(swish_fn, NULL, 1, &x, &quiet, &r), TG_OK);
    assert_true(r.max_abs_error < 1e-8);
}

static void test_custom_op_is_recorded_like_a_builtin(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(3), 1, 2, 3);
    int64_t before = tg_tape_node_count(tape);
    tg_tensor *y = swish(tape, x);
    assert_false(y->requires_grad); /* nothing it depends on needs a gradient */
    assert_int_equal(tg_tape_node_count(tape), before + 1);
    assert_string_equal(tg_tape_node(tape, before)->op->name, "swish");
    assert_ptr_equal(y->node->inputs[0], x);
    bool was = tg_tape_set_grad_enabled(tape, false);
    assert_non_null(swish(tape, x));
    assert_int_equal(tg_tape_node_count(tape), before + 1); /* no-grad scope: not recorded */
    tg_tape_set_grad_enabled(tape, was);
}

static void test_attrs_are_copied_for_the_backward_rule(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2), 1, -2);
    tg_requires_grad(x);
    scale_attrs attrs = {3.0};
    tg_tensor *y = tg_custom(tape, &scale_op, 1, &x, &attrs, sizeof attrs);
    attrs.alpha = 100.0; /* the caller's struct may change or go away */
    ASSERT_VALUES(y, 0, 3, -6);
    assert_int_equal(tg_backward(tape, tg_sum(tape, y, NULL, 0, false), NULL), TG_OK);
    ASSERT_VALUES(x->grad, 0, 3, 3);
}

static void test_shape_rule_gives_the_output_shape(void **state) {
    (void)state;
    tg_tensor *in[2] = {T64(tape, SHAPE(2), 1, 2), T64(tape, SHAPE(3), 3, 4, 5)};
    tg_tensor *y = tg_custom(tape, &outer_op, 2, in, NULL, 0);
    assert_shape(y, SHAPE(2, 3));
    ASSERT_VALUES(y, 0, 3, 4, 5, 6, 8, 10);
    assert_int_equal(tg_gradcheck(outer_fn, NULL, 2, in, &quiet, NULL), TG_OK);
    assert_int_equal(tg_gradgradcheck(outer_fn, NULL, 2, in, &quiet, NULL), TG_OK);
}

static void test_shape_rule_refusal_is_an_error_naming_the_op(void **state) {
    (void)state;
    tg_tensor *in[2] = {T64(tape, SHAPE(2, 3), 1, 2, 3, 4, 5, 6), T64(tape, SHAPE(4), 1, 2, 3, 4)};
    assert_null(tg_custom(tape, &outer_op, 2, in, NULL, 0));
    assert_int_equal(tg_tape_status(tape), TG_ERR_SHAPE);
    assert_error_mentions(tg_tape_error(tape), "tg_custom(outer)");
    assert_error_mentions(tg_tape_error(tape), "f64[2,3], f64[4]");
    assert_error_mentions(tg_tape_error(tape), "expects two 1-D inputs");
}

static void test_arity_mismatch_is_an_error(void **state) {
    (void)state;
    tg_tensor *in[2] = {T64(tape, SHAPE(2), 1, 2), T64(tape, SHAPE(2), 3, 4)};
    assert_null(tg_custom(tape, &swish_op, 2, in, NULL, 0));
    assert_int_equal(tg_tape_status(tape), TG_ERR_ARG);
    assert_error_mentions(tg_tape_error(tape), "tg_custom(swish): takes 1 input, got 2");
}

static void test_null_input_gives_null(void **state) {
    (void)state;
    assert_null(swish(tape, NULL));
    assert_error_mentions(tg_tape_error(tape), "tg_custom(swish)");
    assert_error_mentions(tg_tape_error(tape), "input 0 is NULL");
    assert_null(tg_custom(NULL, &swish_op, 1, (tg_tensor *[]){NULL}, NULL, 0));
    assert_error_mentions(tg_last_error(), "tape is NULL");
}

static void test_mixed_dtypes_are_an_error(void **state) {
    (void)state;
    tg_tensor *in[2] = {T64(tape, SHAPE(2), 1, 2), T32(tape, SHAPE(2), 3, 4)};
    assert_null(tg_custom(tape, &outer_op, 2, in, NULL, 0));
    assert_int_equal(tg_tape_status(tape), TG_ERR_DTYPE);
    assert_error_mentions(tg_tape_error(tape), "tg_custom(outer)");
}

static void test_incomplete_op_or_attrs_are_errors(void **state) {
    (void)state;
    static const tg_custom_op no_forward = {{"half_done", 1, swish_backward}, NULL, NULL};
    tg_tensor *x = T64(tape, SHAPE(2), 1, 2);
    assert_null(tg_custom(tape, &no_forward, 1, &x, NULL, 0));
    assert_error_mentions(tg_tape_error(tape), "'half_done' is incomplete");
    tg_tape_clear_error(tape);
    assert_null(tg_custom(tape, NULL, 1, &x, NULL, 0));
    assert_int_equal(tg_tape_status(tape), TG_ERR_ARG);
    tg_tape_clear_error(tape);
    assert_null(tg_custom(tape, &scale_op, 1, &x, NULL, sizeof(scale_attrs)));
    assert_error_mentions(tg_tape_error(tape), "tg_custom(scale): attrs is NULL");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_swish_forward_matches_known_values, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_swish_backward_is_the_hand_derived_derivative, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_swish_passes_gradcheck_and_gradgradcheck, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_custom_op_is_recorded_like_a_builtin, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_attrs_are_copied_for_the_backward_rule, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_shape_rule_gives_the_output_shape, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_shape_rule_refusal_is_an_error_naming_the_op, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_arity_mismatch_is_an_error, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_null_input_gives_null, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_mixed_dtypes_are_an_error, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_incomplete_op_or_attrs_are_errors, tape_setup, tape_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
