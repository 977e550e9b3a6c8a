/* SGD against values worked out by hand from torch.optim.SGD's equations:
 *   g = grad + weight_decay * w
 *   b = g (first step), b = momentum * b + (1 - dampening) * g (later)
 *   g = nesterov ? g + momentum * b : b
 *   w = w - lr * g
 * Every case starts from w = [1, -2] with a constant grad = [0.5, 0.25], lr 0.1. */
#include "testing.h"

typedef struct run {
    tg_params *params;
    tg_tensor *w;
    tg_optim *opt;
} run;

static run start(tg_dtype dtype, tg_sgd_opts opts) {
    run r = {.params = tg_params_new()};
    r.w = tg_param(r.params, "w", dtype, SHAPE(2), TG_INIT_ZEROS, NULL);
    assert_non_null(r.w);
    tg_set(r.w, 0, 1.0);
    tg_set(r.w, 1, -2.0);
    tg_set(r.w->grad, 0, 0.5);
    tg_set(r.w->grad, 1, 0.25);
    r.opt = tg_sgd_new(r.params, opts);
    assert_non_null(r.opt);
    return r;
}

static void step(run *r) { assert_int_equal(tg_optim_step(r->opt), TG_OK); }

static void finish(run *r) {
    tg_optim_free(r->opt);
    tg_params_free(r->params);
}

static void test_plain_sgd_subtracts_lr_times_grad(void **state) {
    (void)state;
    for (int d = 0; d < 2; d++) {
        run r = start(d ? TG_F64 : TG_F32, (tg_sgd_opts){.lr = 0.1});
        step(&r);
        ASSERT_VALUES(r.w, d ? 1e-15 : 1e-6, 0.95, -2.025);
        step(&r);
        ASSERT_VALUES(r.w, d ? 1e-15 : 1e-6, 0.9, -2.05);
        ASSERT_VALUES(r.w->grad, 0, 0.5, 0.25); /* the gradient is left alone */
        finish(&r);
    }
}

static void test_weight_decay_adds_lambda_w_to_the_gradient(void **state) {
    (void)state;
    run r = start(TG_F64, (tg_sgd_opts){.lr = 0.1, .weight_decay = 0.01});
    step(&r); /* g = [0.51, 0.23] */
    ASSERT_VALUES(r.w, 1e-15, 0.949, -2.023);
    step(&r); /* g = [0.50949, 0.22977] */
    ASSERT_VALUES(r.w, 1e-15, 0.898051, -2.045977);
    finish(&r);
}

static void test_momentum_starts_from_the_gradient_then_accumulates(void **state) {
    (void)state;
    run r = start(TG_F64, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
    step(&r); /* b = [0.5, 0.25] */
    ASSERT_VALUES(r.w, 1e-15, 0.95, -2.025);
    step(&r); /* b = 0.9 b + g = [0.95, 0.475] */
    ASSERT_VALUES(r.w, 1e-15, 0.855, -2.0725);
    finish(&r);
}

static void test_dampening_scales_the_new_gradient_after_the_first_step(void **state) {
    (void)state;
    run r = start(TG_F64, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
    step(&r); /* b = g: no dampening on the first step, as in PyTorch */
    ASSERT_VALUES(r.w, 1e-15, 0.95, -2.025);
    step(&r); /* b = 0.9 b + 0.5 g = [0.7, 0.35] */
    ASSERT_VALUES(r.w, 1e-15, 0.88, -2.06);
    finish(&r);
}

static void test_nesterov_looks_ahead_by_momentum_times_b(void **state) {
    (void)state;
    run r = start(TG_F64, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .nesterov = true});
    step(&r); /* b = [0.5, 0.25]; g + 0.9 b = [0.95, 0.475] */
    ASSERT_VALUES(r.w, 1e-15, 0.905, -2.0475);
    step(&r); /* b = [0.95, 0.475]; g + 0.9 b = [1.355, 0.6775] */
    ASSERT_VALUES(r.w, 1e-15, 0.7695, -2.11525);
    finish(&r);
}

static void test_weight_decay_with_momentum(void **state) {
    (void)state;
    run r = start(TG_F64, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
    step(&r); /* g = b = [0.6, 0.05] */
    ASSERT_VALUES(r.w, 1e-15, 0.94, -2.005);
    step(&r); /* g = [0.594, 0.0495]; b = [1.134, 0.0945] */
    ASSERT_VALUES(r.w, 1e-15, 0.8266, -2.01445);
    finish(&r);
}

static void test_step_leaves_buffers_alone_and_bumps_parameter_versions(void **state) {
    (void)state;
    run r = start(TG_F64, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
    tg_tensor *buffer = tg_buffer(r.params, "running_mean", TG_F64, SHAPE(2), TG_INIT_ONES, NULL);
    uint64_t w_version = r.w->version, buffer_version = buffer->version;
    step(&r);
    assert_true(r.w->version == w_version + 1);
    assert_true(buffer->version == buffer_version);
    ASSERT_VALUES(buffer, 0, 1, 1);
    finish(&r);
}

static void test_parameters_created_after_the_optimizer_are_updated(void **state) {
    (void)state;
    run r = start(TG_F64, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
    step(&r);
    tg_tensor *late = tg_param(r.params, "late", TG_F32, SHAPE(1), TG_INIT_ONES, NULL);
    tg_set(late->grad, 0, 2.0);
    step(&r);
    ASSERT_VALUES(late, 1e-7, 0.8); /* its first step: b = g */
    ASSERT_VALUES(r.w, 1e-15, 0.855, -2.0725);
    finish(&r);
}

/* tg_sgd_new refuses opts with a message naming the option and its value */
static void assert_rejected(tg_sgd_opts opts, const char *option_and_value) {
    tg_params *p = tg_params_new();
    tg_optim *opt = tg_sgd_new(p, opts);
    if (opt) {
        print_error("options accepted: %s\n", option_and_value);
        tg_optim_free(opt);
        fail();
    }
    assert_int_equal(tg_last_status(), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "tg_sgd_new");
    assert_error_mentions(tg_last_error(), option_and_value);
    tg_params_free(p);
}

static void test_invalid_options_give_null_and_a_message_naming_option_and_value(void **state) {
    (void)state;
    assert_rejected((tg_sgd_opts){.lr = 0}, "lr 0");
    assert_rejected((tg_sgd_opts){.lr = -0.1}, "lr -0.1");
    assert_rejected((tg_sgd_opts){.lr = NAN}, "lr nan");
    assert_rejected((tg_sgd_opts){.lr = INFINITY}, "lr inf");
    assert_rejected((tg_sgd_opts){.lr = 0.1, .momentum = -0.5}, "momentum -0.5");
    assert_rejected((tg_sgd_opts){.lr = 0.1, .momentum = NAN}, "momentum nan");
    assert_rejected((tg_sgd_opts){.lr = 0.1, .momentum = INFINITY}, "momentum inf");
    assert_rejected((tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .dampening = NAN}, "dampening nan");
    assert_rejected((tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .dampening = -0.1}, "dampening -0.1");
    assert_rejected((tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .dampening = 1.5}, "dampening 1.5");
    assert_rejected((tg_sgd_opts){.lr = 0.1, .weight_decay = -1}, "weight_decay -1");
    assert_rejected((tg_sgd_opts){.lr = 0.1, .weight_decay = NAN}, "weight_decay nan");
    assert_rejected((tg_sgd_opts){.lr = 0.1, .weight_decay = INFINITY}, "weight_decay inf");
    assert_rejected((tg_sgd_opts){.lr = 0.1, .nesterov = true}, "momentum 0 must be > 0 with nesterov");
    assert_rejected((tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true},
                    "dampening 0.1 must be 0 with nesterov");
    assert_null(tg_sgd_new(NULL, (tg_sgd_opts){.lr = 0.1}));
    assert_error_mentions(tg_last_error(), "store is NULL");
    assert_int_equal(tg_optim_step(NULL), TG_ERR_ARG);
}

static void test_parameter_without_gradient_is_skipped(void **state) {
    (void)state;
    run r = start(TG_F64, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
    tg_tensor *other = tg_param(r.params, "other", TG_F64, SHAPE(1), TG_INIT_ONES, NULL);
    tg_set(other->grad, 0, 1.0);
    tg_tensor *grad = r.w->grad;
    r.w->grad = NULL; /* set-to-none between steps */
    uint64_t version = r.w->version;
    step(&r);
    ASSERT_VALUES(r.w, 0, 1, -2); /* untouched: no state, no step count, same version */
    assert_true(r.w->version == version);
    assert_int_equal(tg_optim_param_steps(r.opt, "w"), 0);
    assert_null(tg_optim_state(r.opt, "w", "momentum_buffer"));
    ASSERT_VALUES(other, 1e-15, 0.9);
    r.w->grad = grad;
    step(&r); /* w's first update: its buffer starts at its gradient */
    ASSERT_VALUES(r.w, 1e-15, 0.95, -2.025);
    assert_int_equal(tg_optim_param_steps(r.opt, "w"), 1);
    assert_int_equal(tg_optim_param_steps(r.opt, "other"), 2);
    assert_int_equal(tg_optim_steps(r.opt), 2);
    finish(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_sgd_subtracts_lr_times_grad),
        cmocka_unit_test(test_weight_decay_adds_lambda_w_to_the_gradient),
        cmocka_unit_test(test_momentum_starts_from_the_gradient_then_accumulates),
        cmocka_unit_test(test_dampening_scales_the_new_gradient_after_the_first_step),
        cmocka_unit_test(test_nesterov_looks_ahead_by_momentum_times_b),
        cmocka_unit_test(test_weight_decay_with_momentum),
        cmocka_unit_test(test_step_leaves_buffers_alone_and_bumps_parameter_versions),
        cmocka_unit_test(test_parameters_created_after_the_optimizer_are_updated),
        cmocka_unit_test(test_invalid_options_give_null_and_a_message_naming_option_and_value),
        cmocka_unit_test(test_parameter_without_gradient_is_skipped),
    };
    return cmocka_run_group_tests_name("sgd", tests, NULL, NULL);
}
