/* A small CNN forward and backward against PyTorch 1.13 (float64): conv ->
 * batchnorm over [N,C,H,W] -> relu -> max pool -> conv -> relu -> flatten ->
 * linear -> cross-entropy. The loss, the gradient of every parameter and of
 * the input, and batchnorm's running statistics (tests/conv_reference.h). */
#include "testing.h"

#include "conv_reference.h"

/* value[i] = scale sin(a i + b) (tools/conv_reference.py: waves) */
static tg_tensor *waves(tg_dtype dtype, int ndim, const int64_t *shape, double a, double b, double scale) {
    tg_tensor *x = tg_tensor_empty(tape, dtype, ndim, shape);
    assert_non_null(x);
    for (int64_t i = 0; i < x->numel; i++) tg_set(x, i, scale * sin(a * (double)i + b));
    return x;
}

static void check_cnn(tg_dtype dt, double rtol) {
    tg_tensor *x = waves(dt, SHAPE(4, 1, 6, 6), 1.3, 0.2, 1.0);
    tg_tensor *w1 = waves(dt, SHAPE(3, 1, 3, 3), 0.7, 0.1, 0.5), *b1 = waves(dt, SHAPE(3), 0.9, 0.3, 0.2);
    tg_tensor *gamma = tg_add_scalar(tape, waves(dt, SHAPE(3), 1.1, 0.5, 0.3), 1.0);
    tg_tensor *beta = waves(dt, SHAPE(3), 0.6, 0.7, 0.2);
    tg_tensor *w2 = waves(dt, SHAPE(2, 3, 2, 2), 0.8, 0.4, 0.5), *b2 = waves(dt, SHAPE(2), 0.5, 0.9, 0.1);
    tg_tensor *W = waves(dt, SHAPE(8, 3), 0.45, 0.6, 0.6), *b = waves(dt, SHAPE(3), 1.7, 0.2, 0.1);
    tg_tensor *params[9] = {x, w1, b1, gamma, beta, w2, b2, W, b};
    for (int i = 0; i < 9; i++) assert_int_equal(tg_requires_grad(params[i]), TG_OK);
    tg_batchnorm_state bn = {gamma, beta, tg_zeros(tape, dt, SHAPE(3)), tg_ones(tape, dt, SHAPE(3)), 0.1, 1e-5, 0};

    tg_tensor *h = tg_conv2d(tape, x, w1, b1, (tg_conv2d_opts){.padding = {1, 1}});
    h = tg_max_pool2d(tape, tg_relu(tape, tg_batchnorm(tape, h, &bn, true)), (tg_pool2d_opts){.kernel = {2, 2}});
    h = tg_relu(tape, tg_conv2d(tape, h, w2, b2, (tg_conv2d_opts){0}));
    tg_tensor *logits = tg_linear(tape, tg_flatten(tape, h), W, b);
    tg_tensor *loss = tg_cross_entropy(tape, logits, 4, (const int64_t[]){0, 2, 1, 2});
    assert_non_null(loss);
    assert_relative(loss, &cnn_loss, 1, rtol, "loss");
    assert_int_equal(tg_backward(tape, loss, NULL), TG_OK);

    const double *expected[9] = {cnn_dx, cnn_dw1, cnn_db1, cnn_dgamma, cnn_dbeta, cnn_dw2, cnn_db2, cnn_dW, cnn_db};
    const char *names[9] = {"dx", "dw1", "db1", "dgamma", "dbeta", "dw2", "db2", "dW", "db"};
    for (int i = 0; i < 9; i++) assert_relative(params[i]->grad, expected[i], params[i]->numel, rtol, names[i]);
    assert_relative(bn.running_mean, cnn_running_mean, 3, rtol, "running_mean");
    assert_relative(bn.running_var, cnn_running_var, 3, rtol, "running_var");
}

static void test_a_small_cnn_with_batchnorm_matches_torch_in_f64(void **state) {
    (void)state;
    check_cnn(TG_F64, 1e-10);
}

static void test_a_small_cnn_with_batchnorm_matches_torch_in_f32(void **state) {
    (void)state;
    check_cnn(TG_F32, 1e-5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_small_cnn_with_batchnorm_matches_torch_in_f64, tape_setup,
                                        tape_teardown),
        cmocka_unit_test_setup_teardown(test_a_small_cnn_with_batchnorm_matches_torch_in_f32, tape_setup,
                                        tape_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
