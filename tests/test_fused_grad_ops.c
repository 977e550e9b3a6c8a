/* Fused backward primitives (tanh_grad, sigmoid_grad, relu_grad) and the
 * multiply-add: their values, the same bits as the ops they replace, one
 * node per backward rule, and second derivatives through them (values
 * pasted from torch 1.13, float64). */
#include "testing.h"

static void test_tanh_grad_is_g_times_one_minus_y_squared(void **state) {
    (void)state;
    tg_tensor *y = T64(tape, SHAPE(3), 0.5, -0.25, 0.0);
    tg_tensor *g = T64(tape, SHAPE(3), 2, 4, -3);
    ASSERT_VALUES(tg_tanh_grad(tape, y, g), 0, 1.5, 3.75, -3);
}

static void test_sigmoid_grad_is_g_times_y_times_one_minus_y(void **state) {
    (void)state;
    tg_tensor *y = T64(tape, SHAPE(3), 0.25, 0.5, 0.75);
    tg_tensor *g = T64(tape, SHAPE(3), 4, -2, 1);
    ASSERT_VALUES(tg_sigmoid_grad(tape, y, g), 0, 0.75, -0.5, 0.1875);
}

/* torch: relu(x).backward(g) for x = [-1, 0, 2, nan], g = [3, -4, 5, 6] gives [0, 0, 5, 6] */
static void test_relu_grad_passes_g_where_x_is_positive_or_nan_and_plus_zero_elsewhere(void **state) {
    (void)state;
    tg_tensor *x = T32(tape, SHAPE(4), -1, 0, 2, NAN);
    tg_tensor *g = T32(tape, SHAPE(4), 3, -4, 5, 6);
    tg_tensor *r = tg_relu_grad(tape, x, g);
    ASSERT_VALUES(r, 0, 0, 0, 5, 6);
    assert_false(signbit(tg_get(r, 1))); /* +0, not -4 * 0 = -0 */
}

static void test_mul_add_broadcasts_all_three_operands(void **state) {
    (void)state;
    tg_tensor *a = T64(tape, SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    tg_tensor *b = T64(tape, SHAPE(3), 10, 20, 30);
    tg_tensor *c = T64(tape, SHAPE(2, 1), 0.5, -1);
    tg_tensor *y = tg_mul_add(tape, a, b, c);
    assert_shape(y, SHAPE(2, 3));
    ASSERT_VALUES(y, 0, 10.5, 40.5, 90.5, 39, 99, 179);
    assert_null(tg_mul_add(tape, a, T64(tape, SHAPE(2), 1, 2), c));
    assert_error("tg_mul_add", "do not broadcast");
}

/* the fused ops give exactly the bits of the chains of ops they replace */
static void test_fused_ops_give_the_bits_of_the_ops_they_replace(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(7);
    tg_tensor *y = tg_uniform(tape, &rng, TG_F32, SHAPE(1000), -1, 1);
    tg_tensor *g = tg_normal(tape, &rng, TG_F32, SHAPE(1000), 0, 3);
    tg_tensor *c = tg_normal(tape, &rng, TG_F32, SHAPE(1000), 0, 3);
    tg_tensor *one_minus_y2 = tg_add_scalar(tape, tg_neg(tape, tg_square(tape, y)), 1.0);
    assert_true(tg_tensor_hash(tg_tanh_grad(tape, y, g)) == tg_tensor_hash(tg_mul(tape, g, one_minus_y2)));
    tg_tensor *y_one_minus_y = tg_mul(tape, y, tg_add_scalar(tape, tg_neg(tape, y), 1.0));
    assert_true(tg_tensor_hash(tg_sigmoid_grad(tape, y, g)) == tg_tensor_hash(tg_mul(tape, g, y_one_minus_y)));
    assert_true(tg_tensor_hash(tg_mul_add(tape, y, g, c)) == tg_tensor_hash(tg_add(tape, tg_mul(tape, y, g), c)));
}

/* with create_graph, each of these backward rules records exactly one node */
static void test_tanh_sigmoid_and_relu_backward_record_one_fused_node(void **state) {
    (void)state;
    const char *expected[3] = {"tanh_grad", "sigmoid_grad", "relu_grad"};
    for (int k = 0; k < 3; k++) {
        tg_tape_reset(tape);
        tg_tensor *x = T64(tape, SHAPE(3), -1, 0.5, 2);
        assert_int_equal(tg_requires_grad(x), TG_OK);
        tg_tensor *y = k == 0 ? tg_tanh(tape, x) : k == 1 ? tg_sigmoid(tape, x) : tg_relu(tape, x);
        tg_tensor *g = T64(tape, SHAPE(3), 1, 2, 3);
        int64_t before = tg_tape_node_count(tape);
        tg_tensor *dx;
        assert_int_equal(tg_grad(tape, 1, &y, &g, 1, &x, &dx, &(tg_grad_opts){.create_graph = true}), TG_OK);
        assert_int_equal(tg_tape_node_count(tape), before + 1);
        assert_string_equal(tg_tape_node(tape, before)->op->name, expected[k]);
    }
}

/* second derivatives go through the fused ops' own backward rules */
static void test_second_derivative_of_tanh_and_sigmoid_through_the_fused_ops(void **state) {
    (void)state;
    const double first[2][3] = {{0.629961512421, -2.0, 0.035325412427}, {0.294917899862, -0.5, 0.052496792702}};
    const double second[2][3] = {{0.959550012674, 0.0, -0.068109343714}, {0.136286621509, 0.0, -0.039981250528}};
    for (int k = 0; k < 2; k++) {
        tg_tape_reset(tape);
        tg_tensor *x = T64(tape, SHAPE(3), -1, 0, 2);
        assert_int_equal(tg_requires_grad(x), TG_OK);
        tg_tensor *y = k == 0 ? tg_tanh(tape, x) : tg_sigmoid(tape, x);
        tg_tensor *g = T64(tape, SHAPE(3), 1.5, -2, 0.5);
        tg_tensor *dx, *ddx;
        assert_int_equal(tg_grad(tape, 1, &y, &g, 1, &x, &dx, &(tg_grad_opts){.create_graph = true}), TG_OK);
        assert_values(dx, first[k], 3, 1e-11);
        tg_tensor *s = tg_sum(tape, dx, NULL, 0, false);
        assert_int_equal(tg_grad(tape, 1, &s, NULL, 1, &x, &ddx, NULL), TG_OK);
        assert_values(ddx, second[k], 3, 1e-11);
    }
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, tape_setup, tape_teardown)
    const struct CMUnitTest tests[] = {
        T(test_tanh_grad_is_g_times_one_minus_y_squared),
        T(test_sigmoid_grad_is_g_times_y_times_one_minus_y),
        T(test_relu_grad_passes_g_where_x_is_positive_or_nan_and_plus_zero_elsewhere),
        T(test_mul_add_broadcasts_all_three_operands),
        T(test_fused_ops_give_the_bits_of_the_ops_they_replace),
        T(test_tanh_sigmoid_and_relu_backward_record_one_fused_node),
        T(test_second_derivative_of_tanh_and_sigmoid_through_the_fused_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
