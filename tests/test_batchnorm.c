/* Batch normalization (a composite of primitives) matches PyTorch's
 * BatchNorm2d: forward, gradients, running statistics, evaluation mode.
 * Expected values from torch 1.13 (float64). */
#include "testing.h"

#include "ops/nn.h"

static const double X[24] = {2.25, 1.56419386524, 1.15679489294, 1.04651087849, 1.02146418905, 0.833991082021,
                             0.428342607872, -0.00806006279144, -0.216939799129, -0.106622313058, 0.163678923059,
                             0.330242808657, 0.267304578614, 0.102683348309, 0.100265808414, 0.417390018463,
                             0.960189520519, 1.46989372772, 1.76074040844, 1.89076462538, 2.10844156656,
                             2.62423960334, 3.41711664042, 4.25386612125};

typedef struct {
    tg_params *p;
    tg_tape *t;
    tg_batchnorm_state bn;
    tg_tensor *x;
} fixture;

static int setup(void **state) {
    static fixture f;
    f.p = tg_params_new();
    f.t = tg_tape_new();
    assert_int_equal(tg_batchnorm_init(&f.bn, f.p, "bn", TG_F64, 3), TG_OK);
    const double w[3] = {1.0, 0.5, -2.0}, b[3] = {0.1, 0.2, 0.3};
    for (int c = 0; c < 3; c++) {
        tg_set(f.bn.gamma, c, w[c]);
        tg_set(f.bn.beta, c, b[c]);
    }
    f.x = tg_tensor_from(f.t, TG_F64, SHAPE(2, 3, 2, 2), X);
    *state = &f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    tg_tape_free(f->t);
    tg_params_free(f->p);
    return 0;
}

static void test_batchnorm_init_creates_named_parameters_and_buffers(void **state) {
    fixture *f = *state;
    assert_ptr_equal(tg_params_get(f->p, "bn.weight"), f->bn.gamma);
    assert_ptr_equal(tg_params_get(f->p, "bn.bias"), f->bn.beta);
    assert_int_equal(tg_params_get(f->p, "bn.running_mean")->kind, TG_KIND_BUFFER);
    assert_int_equal(tg_params_get(f->p, "bn.running_var")->kind, TG_KIND_BUFFER);
    ASSERT_VALUES(f->bn.running_mean, 0, 0, 0, 0);
    ASSERT_VALUES(f->bn.running_var, 0, 1, 1, 1);
    assert_true(f->bn.momentum == 0.1 && f->bn.eps == 1e-5);
}

static void test_batchnorm_training_matches_pytorch(void **state) {
    fixture *f = *state;
    assert_int_equal(tg_requires_grad(f->x), TG_OK);
    tg_tensor *y = tg_batchnorm(f->t, f->x, &f->bn, true);
    ASSERT_VALUES(y, 1e-9, 2.00302548182, 1.06197209395, 0.502945039996, 0.351614889738, 0.180895120725,
                  0.026524076925, -0.307499183071, -0.666846381483, 2.48039414326, 2.34591850374, 2.01642466839,
                  1.81338536941, -0.717600871362, -0.943491773529, -0.946809087261, -0.511655773351,
                  0.130439699736, 0.550145607119, 0.7896375876, 0.896703472449, -0.354216736885, -0.982968110134,
                  -1.94947532874, -2.96946250904);
    double g[24];
    for (int i = 0; i < 24; i++) g[i] = cos((double)i);
    tg_tensor *gout = tg_tensor_from(f->t, TG_F64, SHAPE(2, 3, 2, 2), g);
    assert_int_equal(tg_backward(f->t, y, &(tg_backward_opts){.grad_output = gout}), TG_OK);
    ASSERT_VALUES(f->x->grad, 1e-9, 0.930188199644, 0.410882105821, -0.83531705127, -1.60481212485, -0.720429741482,
                  0.0431727188784, 0.582479370286, 0.393535608993, -0.29817977899, 0.630952506126, 0.53291746488,
                  -0.501578282393, 1.03823343537, 1.15225539592, 0.0950917303776, -1.18652169101, -0.973446922012,
                  -0.389154908729, 0.393874809067, 0.669969065, -1.06070784174, 0.0849572251616, 0.606312834233,
                  0.0053258727205);
    ASSERT_VALUES(f->bn.gamma->grad, 1e-9, 0.690680817729, -0.258149031382, -0.406179441551);
    ASSERT_VALUES(f->bn.beta->grad, 1e-9, 1.26251301825, 1.76028961365, -3.56371717192);
}

static void test_batchnorm_running_statistics_use_momentum_and_unbiased_variance(void **state) {
    fixture *f = *state;
    assert_non_null(tg_batchnorm(f->t, f->x, &f->bn, true));
    ASSERT_VALUES(f->bn.running_mean, 1e-10, 0.0863142923808, 0.104466576227, 0.157175294389);
    ASSERT_VALUES(f->bn.running_var, 1e-10, 0.960695707192, 0.942137275291, 1.20764637444);
    assert_non_null(tg_batchnorm(f->t, tg_mul_scalar(f->t, f->x, 0.5), &f->bn, true));
    ASSERT_VALUES(f->bn.running_mean, 1e-10, 0.120840009333, 0.146253206718, 0.220045412144);
    ASSERT_VALUES(f->bn.running_var, 1e-10, 0.879800063271, 0.858457866584, 1.16379333061);
    assert_int_equal(f->bn.num_batches_tracked, 2);

    tg_tensor *y = tg_batchnorm(f->t, f->x, &f->bn, false);
    ASSERT_VALUES(y, 1e-9, 2.36993715788, 1.6387864528, 1.20445081369, 1.08687496998, 0.672303040216,
                  0.571134156147, 0.352228073536, 0.116725649236, 1.11013414581, 0.905614724924, 0.404498770918,
                  0.09570321514, 0.256148607705, 0.0806428452058, 0.078065460856, 0.416157493023, 0.639236485045,
                  0.914295701086, 1.07124959485, 1.14141648513, -3.20092901554, -4.15717556841, -5.62710348497,
                  -7.17836725414);
    assert_int_equal(f->bn.num_batches_tracked, 2); /* evaluation leaves the statistics alone */
}

static void test_batchnorm_is_recorded_in_its_own_scope(void **state) {
    fixture *f = *state;
    assert_int_equal(tg_tape_push_scope(f->t, "block"), TG_OK);
    assert_non_null(tg_batchnorm(f->t, f->x, &f->bn, true));
    assert_int_equal(tg_tape_pop_scope(f->t), TG_OK);
    int64_t n = tg_tape_node_count(f->t);
    assert_true(n > 5);
    for (int64_t i = 0; i < n; i++) assert_string_equal(tg_tape_node(f->t, i)->scope, "block/batchnorm");
    assert_null(tg_tape_scope(f->t));
}

static void test_batchnorm_rejects_wrong_channels_and_single_values(void **state) {
    fixture *f = *state;
    tg_tensor *x4 = tg_zeros(f->t, TG_F64, SHAPE(2, 4));
    assert_null(tg_batchnorm(f->t, x4, &f->bn, true));
    assert_error_mentions(tg_tape_error(f->t), "tg_batchnorm");
    assert_error_mentions(tg_tape_error(f->t), "f64[2,4]");
    tg_tape_clear_error(f->t);
    tg_tensor *one = tg_zeros(f->t, TG_F64, SHAPE(1, 3));
    assert_null(tg_batchnorm(f->t, one, &f->bn, true));
    assert_error_mentions(tg_tape_error(f->t), "more than one value per channel");
    tg_tape_clear_error(f->t);
    assert_non_null(tg_batchnorm(f->t, one, &f->bn, false)); /* evaluation is fine */
    assert_null(tg_batchnorm(f->t, NULL, &f->bn, true));
    tg_batchnorm_state empty = {0};
    tg_tape_clear_error(f->t);
    assert_null(tg_batchnorm(f->t, f->x, &empty, true));
    assert_error_mentions(tg_tape_error(f->t), "tg_batchnorm_init");
}

/* it used to create weight, bias and running_mean, then fail with
 * TG_ERR_ARG on the conflicting running_var */
static void test_batchnorm_init_over_a_conflicting_tensor_fails_before_creating_any(void **state) {
    fixture *f = *state;
    assert_non_null(tg_buffer(f->p, "bn2.running_var", TG_F64, SHAPE(4), TG_INIT_ONES, NULL));
    int count = tg_params_count(f->p);
    tg_batchnorm_state bn = {0};
    assert_int_equal(tg_batchnorm_init(&bn, f->p, "bn2", TG_F64, 3), TG_ERR_SHAPE);
    assert_error_mentions(tg_last_error(), "tg_batchnorm_init: 'bn2.running_var' exists as buffer f64[4]");
    assert_error_mentions(tg_last_error(), "needs a buffer f64[3]");
    assert_int_equal(tg_params_count(f->p), count);
    assert_null(tg_params_get(f->p, "bn2.weight"));
    assert_null(bn.gamma);
    /* a parameter where a buffer belongs, and another dtype */
    assert_int_equal(tg_batchnorm_init(&bn, f->p, "bn", TG_F32, 3), TG_ERR_SHAPE);
    assert_error_mentions(tg_last_error(), "'bn.weight' exists as parameter f64[3]");
    assert_non_null(tg_param(f->p, "bn3.running_mean", TG_F64, SHAPE(3), TG_INIT_ZEROS, NULL));
    assert_int_equal(tg_batchnorm_init(&bn, f->p, "bn3", TG_F64, 3), TG_ERR_SHAPE);
    assert_error_mentions(tg_last_error(), "'bn3.running_mean' exists as parameter");
    assert_int_equal(tg_params_count(f->p), count + 1);
    /* the same again finds the existing four */
    assert_int_equal(tg_batchnorm_init(&bn, f->p, "bn", TG_F64, 3), TG_OK);
    assert_ptr_equal(bn.gamma, f->bn.gamma);
    assert_ptr_equal(bn.running_var, f->bn.running_var);
}

static void test_batchnorm_init_argument_errors_create_nothing(void **state) {
    fixture *f = *state;
    tg_batchnorm_state bn;
    int count = tg_params_count(f->p);
    assert_int_equal(tg_batchnorm_init(&bn, f->p, "bn4", TG_F64, 0), TG_ERR_SHAPE);
    assert_error_mentions(tg_last_error(), "0 channels");
    assert_int_equal(tg_batchnorm_init(&bn, f->p, "", TG_F64, 3), TG_ERR_ARG);
    assert_int_equal(tg_batchnorm_init(&bn, f->p, "bn4", (tg_dtype)7, 3), TG_ERR_DTYPE);
    char long_name[300];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(tg_batchnorm_init(&bn, f->p, long_name, TG_F64, 3), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "is longer than");
    assert_int_equal(tg_params_count(f->p), count);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batchnorm_init_creates_named_parameters_and_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batchnorm_training_matches_pytorch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batchnorm_running_statistics_use_momentum_and_unbiased_variance, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batchnorm_is_recorded_in_its_own_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batchnorm_rejects_wrong_channels_and_single_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batchnorm_init_over_a_conflicting_tensor_fails_before_creating_any, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batchnorm_init_argument_errors_create_nothing, setup, teardown),
    };
    return cmocka_run_group_tests_name("batchnorm", tests, NULL, NULL);
}
