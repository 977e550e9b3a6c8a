/* tg_gradcheck / tg_gradgradcheck: they pass on correct ops, catch wrong
 * backward rules (and say where), agree in fast mode, warn on f32, check
 * reentrancy and zero grad_outputs, and return errors for misuse.
 * Expected swish values: swish(x) = x s, s = sigmoid(x), swish'(x) = s + x s (1 - s)
 * (Python math, float64). */
#include "testing.h"

static const tg_gradcheck_opts quiet = {.quiet = true};

/* ---- functions under check ---- */
/* tanh(x @ w) * exp(sum(x, axis 1, keepdim)): [N,K] @ [K,M] -> [N,M], a broadcast, a reduction */
static tg_tensor *small_net(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    tg_tensor *h = tg_tanh(t, tg_matmul(t, in[0], in[1]));
    return tg_mul(t, h, tg_exp(t, tg_sum(t, in[0], (const int[]){1}, 1, true)));
}

static tg_tensor *identity(tg_tape *t, tg_tensor **in, void *user) {
    (void)t, (void)user;
    return in[0];
}

/* where(c > 0.5, a, b): c is a condition, not differentiable where it equals 0.5 */
static tg_tensor *where_fn(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_where(t, tg_gt_scalar(t, in[0], 0.5), in[1], in[2]);
}

/* swish with a chosen backward rule */
static void swish_forward(const tg_tensor *const *in, int n, tg_tensor *out, const void *attrs) {
    (void)n, (void)attrs;
    for (int64_t i = 0; i < out->numel; i++) {
        double x = tg_get(in[0], i);
        tg_set(out, i, x / (1 + exp(-x)));
    }
}

/* g (s + factor x s (1 - s)) + offset, built with tg ops; factor 1, offset 0 is right */
static tg_status swish_backward_with(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi, double factor,
                                     double offset) {
    tg_tensor *x = node->inputs[0], *s = tg_sigmoid(t, x);
    tg_tensor *s1 = tg_mul(t, s, tg_add_scalar(t, tg_neg(t, s), 1.0));
    tg_tensor *d = tg_add(t, s, tg_mul_scalar(t, tg_mul(t, x, s1), factor));
    gi[0] = tg_add_scalar(t, tg_mul(t, g, d), offset);
    return tg_tape_status(t);
}
static tg_status swish_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    return swish_backward_with(t, node, g, gi, 1.0, 0.0);
}
static tg_status swish_backward_half(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    return swish_backward_with(t, node, g, gi, 0.5, 0.0);
}
/* off by 1e-7 everywhere: inside atol, but not zero for a zero grad_output */
static tg_status swish_backward_offset(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    return swish_backward_with(t, node, g, gi, 1.0, 1e-7);
}
/* right values, computed outside the graph: the derivative is a constant to the engine */
static tg_status swish_backward_opaque(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    tg_tensor *x = node->inputs[0];
    tg_tensor *d = tg_tensor_empty(t, x->dtype, x->ndim, x->shape);
    for (int64_t i = 0; d && i < x->numel; i++) {
        double v = tg_get(x, i), s = 1 / (1 + exp(-v));
        tg_set(d, i, s + v * s * (1 - s));
    }
    gi[0] = tg_mul(t, g, d);
    return tg_tape_status(t);
}
/* a different rounding on every call: not reentrant */
static tg_status swish_backward_drifting(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    static int calls;
    return swish_backward_with(t, node, g, gi, 1.0 + 1e-12 * ++calls, 0.0);
}

static const tg_custom_op swish_right = {{"swish", 1, swish_backward}, NULL, swish_forward};
static const tg_custom_op swish_half = {{"swish_half", 1, swish_backward_half}, NULL, swish_forward};
static const tg_custom_op swish_offset = {{"swish_offset", 1, swish_backward_offset}, NULL, swish_forward};
static const tg_custom_op swish_opaque = {{"swish_opaque", 1, swish_backward_opaque}, NULL, swish_forward};
static const tg_custom_op swish_drifting = {{"swish_drifting", 1, swish_backward_drifting}, NULL, swish_forward};

static tg_tensor *custom_fn(tg_tape *t, tg_tensor **in, void *user) { return tg_custom(t, user, 1, in, NULL, 0); }

/* x = [0.3, 1, -0.5, -2, 2.5]: the half-factor rule is worst at x = -2 (element 3) */
static tg_tensor *swish_input(tg_dtype dtype) {
    tg_tensor *x = tg_tensor_empty(tape, dtype, SHAPE(5));
    const double v[5] = {0.3, 1, -0.5, -2, 2.5};
    for (int i = 0; i < 5; i++) tg_set(x, i, v[i]);
    return x;
}

static tg_tensor *random_input(tg_dtype dtype, int ndim, const int64_t *shape, uint64_t seed) {
    tg_rng rng = tg_rng_new(seed);
    return tg_uniform(tape, &rng, dtype, ndim, shape, -1.0, 1.0);
}

/* ---- passing ---- */
static void test_gradcheck_passes_on_correct_ops(void **state) {
    (void)state;
    tg_tensor *in[2] = {random_input(TG_F64, SHAPE(3, 4), 1), random_input(TG_F64, SHAPE(4, 2), 2)};
    tg_gradcheck_report r;
    assert_int_equal(tg_gradcheck(small_net, NULL, 2, in, &quiet, &r), TG_OK);
    assert_true(r.passed);
    assert_string_equal(r.message, "");
    assert_true(r.max_abs_error < 1e-8);
    assert_true(r.max_rel_error < 1e-6);
    assert_true(r.eps == 1e-6 && r.atol == 1e-5 && r.rtol == 1e-3); /* PyTorch's f64 defaults */
}

static void test_gradgradcheck_passes_on_correct_ops(void **state) {
    (void)state;
    tg_tensor *in[2] = {random_input(TG_F64, SHAPE(3, 4), 3), random_input(TG_F64, SHAPE(4, 2), 4)};
    tg_gradcheck_report r;
    assert_int_equal(tg_gradgradcheck(small_net, NULL, 2, in, &quiet, &r), TG_OK);
    assert_true(r.passed);
    assert_true(r.max_abs_error < 1e-7);
}

static void test_custom_op_with_the_right_backward_passes_both_orders(void **state) {
    (void)state;
    tg_tensor *x = swish_input(TG_F64);
    assert_int_equal(tg_gradcheck(custom_fn, (void *)&swish_right, 1, &x, &quiet, NULL), TG_OK);
    assert_int_equal(tg_gradgradcheck(custom_fn, (void *)&swish_right, 1, &x, &quiet, NULL), TG_OK);
}

static void test_identity_passes(void **state) {
    (void)state;
    tg_tensor *x = swish_input(TG_F64);
    assert_int_equal(tg_gradcheck(identity, NULL, 1, &x, &quiet, NULL), TG_OK);
    assert_int_equal(tg_gradgradcheck(identity, NULL, 1, &x, &quiet, NULL), TG_OK);
}

static void test_inputs_are_only_read(void **state) {
    (void)state;
    tg_tensor *in[2] = {random_input(TG_F64, SHAPE(3, 4), 5), random_input(TG_F64, SHAPE(4, 2), 6)};
    uint64_t h0 = tg_tensor_hash(in[0]), h1 = tg_tensor_hash(in[1]);
    assert_int_equal(tg_gradgradcheck(small_net, NULL, 2, in, &quiet, NULL), TG_OK);
    assert_true(tg_tensor_hash(in[0]) == h0 && tg_tensor_hash(in[1]) == h1);
    assert_null(in[0]->grad);
    assert_false(in[0]->requires_grad);
}

/* ---- catching wrong rules ---- */
static void test_wrong_backward_is_caught_at_its_worst_element(void **state) {
    (void)state;
    tg_tensor *x = swish_input(TG_F64);
    tg_gradcheck_report r;
    assert_int_equal(tg_gradcheck(custom_fn, (void *)&swish_half, 1, &x, &quiet, &r), TG_ERR_CHECK);
    assert_false(r.passed);
    assert_int_equal(r.input, 0);
    assert_int_equal(r.output, 0);
    assert_int_equal(r.input_index, 3);
    assert_int_equal(r.output_index, 3);
    assert_true(fabs(r.numerical - -0.09078424878489547) < 1e-8);  /* s + x s (1-s) at -2 */
    assert_true(fabs(r.analytical - 0.01420933661861104) < 1e-12); /* s + 0.5 x s (1-s) */
    assert_true(fabs(r.abs_error - 0.10499358540350651) < 1e-8);
    assert_true(fabs(r.rel_error - 0.10499358540350651 / 0.09078424878489547) < 1e-6);
    assert_true(r.max_abs_error >= r.abs_error);
    assert_error_mentions(r.message, "tg_gradcheck");
    assert_error_mentions(r.message, "input 0[3]");
    assert_error_mentions(r.message, "numerical -0.0907842");
    assert_error_mentions(r.message, "analytical 0.0142093");
    assert_error_mentions(tg_last_error(), "analytical 0.0142093");
}

static void test_fast_mode_agrees_with_the_full_check(void **state) {
    (void)state;
    tg_gradcheck_opts fast = {.fast_mode = true, .quiet = true, .seed = 11};
    tg_tensor *x = swish_input(TG_F64);
    tg_gradcheck_report r;
    assert_int_equal(tg_gradcheck(custom_fn, (void *)&swish_right, 1, &x, &fast, &r), TG_OK);
    assert_true(r.max_abs_error < 1e-8);
    assert_int_equal(tg_gradcheck(custom_fn, (void *)&swish_half, 1, &x, &fast, &r), TG_ERR_CHECK);
    assert_int_equal(r.input, 0);
    assert_int_equal(r.input_index, -1);
    assert_int_equal(r.output_index, -1);
    assert_true(fabs(r.numerical - r.analytical) > 0.01);
    assert_error_mentions(r.message, "fast mode");
    /* large inputs: a [40,30] @ [30,50] product, 3200 input elements */
    tg_tensor *in[2] = {random_input(TG_F64, SHAPE(40, 30), 7), random_input(TG_F64, SHAPE(30, 50), 8)};
    assert_int_equal(tg_gradcheck(small_net, NULL, 2, in, &fast, &r), TG_OK);
    assert_int_equal(tg_gradgradcheck(small_net, NULL, 2, in, &fast, &r), TG_OK);
}

static void test_gradgradcheck_catches_a_backward_rule_outside_the_graph(void **state) {
    (void)state;
    tg_tensor *x = swish_input(TG_F64);
    tg_gradcheck_report r;
    /* first order right, but the derivative is a constant to the engine */
    assert_int_equal(tg_gradcheck(custom_fn, (void *)&swish_opaque, 1, &x, &quiet, &r), TG_OK);
    assert_int_equal(tg_gradgradcheck(custom_fn, (void *)&swish_opaque, 1, &x, &quiet, &r), TG_ERR_CHECK);
    assert_int_equal(r.input, 0);
    assert_int_equal(r.output, 0);
    assert_int_equal(r.input_index, r.output_index); /* elementwise: only the diagonal is nonzero */
    assert_true(r.analytical == 0.0);
    assert_true(fabs(r.numerical) > 0.01);
    assert_error_mentions(r.message, "tg_gradgradcheck");
    assert_error_mentions(r.message, "d (gradient of input 0)[");
}

static void test_zero_grad_output_must_give_zero_gradients(void **state) {
    (void)state;
    tg_tensor *x = swish_input(TG_F64);
    tg_gradcheck_report r;
    assert_int_equal(tg_gradcheck(custom_fn, (void *)&swish_offset, 1, &x, &quiet, &r), TG_ERR_CHECK);
    assert_true(r.max_abs_error < 1e-5); /* the Jacobian itself was within tolerance */
    assert_int_equal(r.input, 0);
    assert_error_mentions(r.message, "zero grad_output");
}

static void test_backward_passes_must_be_reentrant(void **state) {
    (void)state;
    tg_tensor *x = swish_input(TG_F64);
    tg_gradcheck_report r;
    assert_int_equal(tg_gradcheck(custom_fn, (void *)&swish_drifting, 1, &x, &quiet, &r), TG_ERR_CHECK);
    assert_int_equal(r.input, 0);
    assert_error_mentions(r.message, "reentrancy");
    assert_error_mentions(r.message, "XXH3");
}

/* c sits on the threshold: moving it by eps flips where(), so it must be marked constant */
static void test_constant_inputs_are_not_differentiated(void **state) {
    (void)state;
    tg_tensor *in[3] = {T64(tape, SHAPE(4), 0.5, 0.2, 0.5, 0.9), random_input(TG_F64, SHAPE(4), 9),
                        random_input(TG_F64, SHAPE(4), 10)};
    tg_gradcheck_report r;
    assert_int_equal(tg_gradcheck(where_fn, NULL, 3, in, &quiet, &r), TG_ERR_CHECK);
    assert_int_equal(r.input, 0);
    assert_error_mentions(r.message, "constant_inputs");
    tg_gradcheck_opts mask = {.constant_inputs = 1u, .quiet = true};
    assert_int_equal(tg_gradcheck(where_fn, NULL, 3, in, &mask, &r), TG_OK);
    assert_int_equal(tg_gradgradcheck(where_fn, NULL, 3, in, &mask, &r), TG_OK);
}

/* ---- f32 ---- */
static void test_f32_inputs_warn_and_use_looser_tolerances(void **state) {
    (void)state;
    tg_tensor *x = swish_input(TG_F32);
    tg_gradcheck_report r;
    assert_int_equal(tg_gradcheck(custom_fn, (void *)&swish_right, 1, &x, &quiet, &r), TG_OK);
    assert_true(r.eps == 1e-3 && r.atol == 1e-2 && r.rtol == 1e-2);
    assert_error_mentions(r.message, "warning: f32");
    assert_error_mentions(r.message, "use f64");
    assert_int_equal(tg_gradgradcheck(custom_fn, (void *)&swish_right, 1, &x, &quiet, &r), TG_OK);
    /* a wrong rule is still caught, and the warning is kept with the failure */
    assert_int_equal(tg_gradcheck(custom_fn, (void *)&swish_half, 1, &x, &quiet, &r), TG_ERR_CHECK);
    assert_int_equal(r.input_index, 3);
    assert_error_mentions(r.message, "warning: f32");
    /* explicit tolerances win */
    tg_gradcheck_opts tight = {.eps = 1e-2, .atol = 1e-4, .rtol = 1e-4, .quiet = true};
    tg_gradcheck(custom_fn, (void *)&swish_right, 1, &x, &tight, &r);
    assert_true(r.eps == 1e-2 && r.atol == 1e-4 && r.rtol == 1e-4);
}

/* ---- misuse ---- */
static tg_tensor *bad_shapes(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_matmul(t, in[0], in[0]);
}
static tg_tensor *silent_null(tg_tape *t, tg_tensor **in, void *user) {
    (void)t, (void)in, (void)user;
    return NULL;
}
static tg_tensor *foreign(tg_tape *t, tg_tensor **in, void *user) {
    (void)t, (void)in;
    return user;
}

static void test_misuse_is_an_error_not_a_crash(void **state) {
    (void)state;
    tg_tensor *x = swish_input(TG_F64);
    tg_tensor *in33[33];
    for (int i = 0; i < 33; i++) in33[i] = x;
    tg_gradcheck_report r;
    assert_int_equal(tg_gradcheck(NULL, NULL, 1, &x, &quiet, &r), TG_ERR_ARG);
    assert_error_mentions(r.message, "f is NULL");
    assert_int_equal(tg_gradcheck(identity, NULL, 0, &x, &quiet, &r), TG_ERR_ARG);
    assert_int_equal(tg_gradcheck(identity, NULL, 33, in33, &quiet, &r), TG_ERR_ARG);
    assert_int_equal(tg_gradgradcheck(identity, NULL, 32, in33, &quiet, &r), TG_ERR_ARG);
    assert_int_equal(tg_gradcheck(identity, NULL, 1, NULL, &quiet, &r), TG_ERR_ARG);
    assert_int_equal(tg_gradcheck(identity, NULL, 1, (tg_tensor *[]){NULL}, &quiet, &r), TG_ERR_ARG);
    assert_error_mentions(r.message, "input 0 is NULL");
    tg_gradcheck_opts all_constant = {.constant_inputs = 1u, .quiet = true};
    assert_int_equal(tg_gradcheck(identity, NULL, 1, &x, &all_constant, &r), TG_ERR_ARG);
    assert_error_mentions(r.message, "nothing to differentiate");
    tg_gradcheck_opts negative = {.eps = -1e-6, .quiet = true};
    assert_int_equal(tg_gradcheck(identity, NULL, 1, &x, &negative, &r), TG_ERR_ARG);
    assert_error_mentions(r.message, "eps");
    /* f's own error comes back with its status and message */
    assert_int_equal(tg_gradcheck(bad_shapes, NULL, 1, &x, &quiet, &r), TG_ERR_SHAPE);
    assert_error_mentions(r.message, "tg_matmul");
    assert_error_mentions(r.message, "f64[5]");
    assert_int_equal(tg_gradgradcheck(bad_shapes, NULL, 1, &x, &quiet, &r), TG_ERR_SHAPE);
    assert_error_mentions(r.message, "tg_matmul");
    assert_int_equal(tg_gradcheck(silent_null, NULL, 1, &x, &quiet, &r), TG_ERR_ARG);
    assert_int_equal(tg_gradcheck(foreign, x, 1, &x, &quiet, &r), TG_ERR_ARG);
    assert_error_mentions(r.message, "not on the tape");
    assert_false(r.passed);
    /* opts and report may be NULL (f64: no warning printed) */
    assert_int_equal(tg_gradcheck(identity, NULL, 1, &x, NULL, NULL), TG_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gradcheck_passes_on_correct_ops, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_gradgradcheck_passes_on_correct_ops, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_custom_op_with_the_right_backward_passes_both_orders, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_identity_passes, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_inputs_are_only_read, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_backward_is_caught_at_its_worst_element, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_fast_mode_agrees_with_the_full_check, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_gradgradcheck_catches_a_backward_rule_outside_the_graph, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_zero_grad_output_must_give_zero_gradients, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_backward_passes_must_be_reentrant, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_constant_inputs_are_not_differentiated, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_f32_inputs_warn_and_use_looser_tolerances, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_misuse_is_an_error_not_a_crash, tape_setup, tape_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
