/* Anomaly mode (PyTorch's detect_anomaly): off, NaN flows as in IEEE
 * arithmetic; on, the first NaN or infinity in an op's output or in a
 * gradient stops the pass with a message naming the op, its scope, its
 * position on the tape, its inputs' shapes and the element, forward or
 * backward. */
#include "testing.h"

static void test_off_by_default_a_nan_flows_through(void **state) {
    (void)state;
    assert_false(tg_tape_detect_anomaly(tape));
    tg_tensor *y = tg_log(tape, T64(tape, SHAPE(3), 1, -1, 2));
    assert_non_null(y);
    assert_true(isnan(tg_get(y, 1)));
    assert_int_equal(tg_tape_status(tape), TG_OK);
}

/* a model made to produce a NaN: the log of a negative value */
static void test_log_of_a_negative_stops_the_forward_pass_naming_op_scope_position_and_shapes(void **state) {
    (void)state;
    assert_false(tg_tape_set_detect_anomaly(tape, true));
    tg_tensor *x = T64(tape, SHAPE(3), 1, -1, 2);
    tg_tape_push_scope(tape, "model");
    tg_tape_push_scope(tape, "layer1");
    tg_tensor *h = tg_mul_scalar(tape, x, 2.0); /* position 0 */
    tg_tensor *y = tg_log(tape, h);             /* position 1: log(-2) */
    tg_tape_pop_scope(tape);
    tg_tape_pop_scope(tape);
    assert_non_null(h);
    assert_null(y);
    assert_int_equal(tg_tape_status(tape), TG_ERR_CHECK);
    assert_string_equal(tg_tape_error(tape), "anomaly in the forward pass: op 'log' in scope 'model/layer1' "
                                             "(position 1 on the tape) produced NaN at element 1 of its output "
                                             "f64[3]; its inputs: f64[3]");
}

static void test_an_infinite_output_is_an_anomaly_too(void **state) {
    (void)state;
    tg_tape_set_detect_anomaly(tape, true);
    tg_tensor *a = T32(tape, SHAPE(2, 2), 1, 2, 3, 0), *b = T32(tape, SHAPE(2), 1, 0);
    assert_null(tg_div(tape, a, b)); /* 2/0 */
    assert_error("op 'div' (position 0 on the tape) produced inf at element 1 of its output f32[2,2]",
                 "its inputs: f32[2,2], f32[2]");
}

/* backward of a custom op computes 0/0: the op in its backward rule that
 * produced the NaN is named, and the node whose rule it was */
static void ratio_forward(const tg_tensor *const *in, int n, tg_tensor *out, const void *attrs) {
    (void)n, (void)attrs;
    memcpy(out->data, in[0]->data, (size_t)out->numel * sizeof(double));
}
/* d/dx = g * (x - x) / (x - x): 0/0 */
static tg_status ratio_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    tg_tensor *x = node->inputs[0], *zero = tg_sub(t, x, x);
    gi[0] = tg_div(t, tg_mul(t, g, zero), zero);
    return tg_tape_status(t);
}
static const tg_custom_op ratio_op = {.op = {"ratio", 1, ratio_backward}, .forward = ratio_forward};

static void test_zero_over_zero_in_a_custom_backward_stops_the_backward_pass(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2), 3, 4);
    tg_requires_grad(x);
    tg_tape_push_scope(tape, "block");
    tg_tensor *y = tg_custom(tape, &ratio_op, 1, &x, NULL, 0); /* position 0 */
    tg_tape_pop_scope(tape);
    tg_tensor *loss = tg_sum(tape, y, NULL, 0, false); /* position 1 */
    /* off: backward succeeds and leaves NaN */
    assert_int_equal(tg_backward(tape, loss, &(tg_backward_opts){.retain_graph = true}), TG_OK);
    assert_true(isnan(tg_get(x->grad, 0)));
    tg_tape_set_detect_anomaly(tape, true);
    assert_int_equal(tg_backward(tape, loss, NULL), TG_ERR_CHECK);
    assert_string_equal(tg_tape_error(tape),
                        "anomaly in the backward pass of op 'ratio' in scope 'block' (position 0 on the tape), "
                        "whose backward rule ran: op 'div' (position 2 on the tape) produced NaN at element 0 of "
                        "its output f64[2]; its inputs: f64[2], f64[2]");
}

/* a backward rule that writes its gradient itself, without ops */
static tg_status nan_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    (void)g;
    gi[0] = tg_tensor_empty(t, TG_F64, node->inputs[0]->ndim, node->inputs[0]->shape);
    if (gi[0])
        for (int64_t i = 0; i < gi[0]->numel; i++) tg_set(gi[0], i, i == 2 ? -INFINITY : 1.0);
    return tg_tape_status(t);
}
static const tg_custom_op nan_op = {.op = {"written", 1, nan_backward}, .forward = ratio_forward};

static void test_a_gradient_written_by_a_rule_is_checked_as_the_gradient_of_its_op(void **state) {
    (void)state;
    tg_tape_set_detect_anomaly(tape, true);
    tg_tensor *x = T64(tape, SHAPE(3), 1, 2, 3);
    tg_requires_grad(x);
    tg_tensor *loss = tg_sum(tape, tg_custom(tape, &nan_op, 1, &x, NULL, 0), NULL, 0, false);
    assert_int_equal(tg_backward(tape, loss, NULL), TG_ERR_CHECK);
    assert_string_equal(tg_tape_error(tape), "tg_backward: anomaly in the backward pass: the gradient that op "
                                             "'written' (position 0 on the tape) gave its input 0 (f64[3]) has "
                                             "-inf at element 2; the op's inputs: f64[3]");
    assert_null(x->grad); /* nothing accumulated */
}

/* sqrt at 0: the forward value is fine, the gradient 1 / (2 sqrt x) is not */
static void test_an_infinite_gradient_of_a_built_in_op_is_caught(void **state) {
    (void)state;
    tg_tape_set_detect_anomaly(tape, true);
    tg_tensor *x = T64(tape, SHAPE(2), 0, 4);
    tg_requires_grad(x);
    tg_tensor *loss = tg_sum(tape, tg_sqrt(tape, x), NULL, 0, false);
    assert_non_null(loss);
    assert_int_equal(tg_backward(tape, loss, NULL), TG_ERR_CHECK);
    assert_error("anomaly in the backward pass of op 'sqrt' (position 0 on the tape)", "produced inf at element 0");
}

/* create_graph records the backward pass: its ops are checked as they run */
static void test_create_graph_backward_is_checked_too(void **state) {
    (void)state;
    tg_tape_set_detect_anomaly(tape, true);
    tg_tensor *x = T64(tape, SHAPE(2), 0, 1);
    tg_requires_grad(x);
    tg_tensor *y = tg_sum(tape, tg_sqrt(tape, x), NULL, 0, false), *g;
    assert_int_equal(tg_grad(tape, 1, &y, NULL, 1, &x, &g, &(tg_grad_opts){.create_graph = true}), TG_ERR_CHECK);
    assert_error("anomaly in the backward pass of op 'sqrt'", "produced inf"); /* the tape keeps the first error */
}

static void test_the_setting_survives_reset_and_can_be_switched_off(void **state) {
    (void)state;
    tg_tape_set_detect_anomaly(tape, true);
    tg_tape_reset(tape);
    assert_true(tg_tape_detect_anomaly(tape));
    assert_null(tg_sqrt(tape, T64(tape, SHAPE(1), -1)));
    tg_tape_reset(tape);
    assert_true(tg_tape_set_detect_anomaly(tape, false));
    assert_non_null(tg_sqrt(tape, T64(tape, SHAPE(1), -1)));
    assert_false(tg_tape_set_detect_anomaly(NULL, true));
    assert_false(tg_tape_detect_anomaly(NULL));
}

/* finite results are untouched: the same bits with the mode on and off */
static void test_a_finite_training_step_gives_the_same_bits_on_and_off(void **state) {
    (void)state;
    uint64_t hashes[2];
    for (int on = 0; on < 2; on++) {
        tg_tape_reset(tape);
        tg_tape_set_detect_anomaly(tape, on);
        tg_rng rng = tg_rng_new(3);
        tg_tensor *x = tg_normal(tape, &rng, TG_F32, SHAPE(8, 5), 0, 1), *w = tg_normal(tape, &rng, TG_F32, SHAPE(5, 3), 0, 1);
        tg_requires_grad(w);
        tg_tensor *loss = tg_cross_entropy(tape, tg_tanh(tape, tg_matmul(tape, x, w)), 8,
                                           (const int64_t[]){0, 1, 2, 0, 1, 2, 0, 1});
        assert_int_equal(tg_backward(tape, loss, NULL), TG_OK);
        hashes[on] = tg_tensor_hash(w->grad) ^ tg_tensor_hash(loss);
    }
    assert_true(hashes[0] == hashes[1]);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, tape_setup, tape_teardown)
    const struct CMUnitTest tests[] = {
        T(test_off_by_default_a_nan_flows_through),
        T(test_log_of_a_negative_stops_the_forward_pass_naming_op_scope_position_and_shapes),
        T(test_an_infinite_output_is_an_anomaly_too),
        T(test_zero_over_zero_in_a_custom_backward_stops_the_backward_pass),
        T(test_a_gradient_written_by_a_rule_is_checked_as_the_gradient_of_its_op),
        T(test_an_infinite_gradient_of_a_built_in_op_is_caught),
        T(test_create_graph_backward_is_checked_too),
        T(test_the_setting_survives_reset_and_can_be_switched_off),
        T(test_a_finite_training_step_gives_the_same_bits_on_and_off),
    };
#undef T
    return cmocka_run_group_tests_name("anomaly mode", tests, NULL, NULL);
}
