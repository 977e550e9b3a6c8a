/* Parameter groups: which parameter is in which group, inherited and
 * overridden options, learning rates under a schedule, and the errors.
 * (Trajectories against torch with groups: test_optim_torch.c.) */
#include "testing.h"

typedef struct model {
    tg_params *p;
    tg_tensor *weight, *bias, *bn_weight, *bn_bias, *running_mean;
} model;

/* every parameter starts at 1 with gradient 0.5 */
static model model_new(void) {
    model m = {.p = tg_params_new()};
    m.weight = tg_param(m.p, "fc1.weight", TG_F64, SHAPE(2), TG_INIT_ONES, NULL);
    m.bias = tg_param(m.p, "fc1.bias", TG_F64, SHAPE(1), TG_INIT_ONES, NULL);
    m.bn_weight = tg_param(m.p, "bn1.weight", TG_F64, SHAPE(1), TG_INIT_ONES, NULL);
    m.bn_bias = tg_param(m.p, "bn1.bias", TG_F64, SHAPE(1), TG_INIT_ONES, NULL);
    m.running_mean = tg_buffer(m.p, "bn1.running_mean", TG_F64, SHAPE(1), TG_INIT_ZEROS, NULL);
    for (int i = 0; i < tg_params_count(m.p); i++) {
        tg_tensor *x = tg_params_at(m.p, i);
        for (int64_t k = 0; x->grad && k < x->numel; k++) tg_set(x->grad, k, 0.5);
    }
    return m;
}

static void test_a_parameter_is_in_the_first_group_that_matches_else_the_default(void **state) {
    (void)state;
    model m = model_new();
    tg_optim *opt = tg_sgd_new(m.p, (tg_sgd_opts){.lr = 0.1});
    assert_int_equal(tg_optim_group_count(opt), 1);
    assert_int_equal(tg_optim_add_group(opt, "bn1.*", (tg_optim_group_opts){.lr = TG_OVERRIDE(0.2)}), 1);
    assert_int_equal(tg_optim_add_group(opt, "*.bias", (tg_optim_group_opts){.lr = TG_OVERRIDE(0.3)}), 2);
    assert_int_equal(tg_optim_group_count(opt), 3);
    assert_int_equal(tg_optim_group_of(opt, "fc1.weight"), 0);
    assert_int_equal(tg_optim_group_of(opt, "fc1.bias"), 2);
    assert_int_equal(tg_optim_group_of(opt, "bn1.weight"), 1);
    assert_int_equal(tg_optim_group_of(opt, "bn1.bias"), 1); /* bn1.* came first */
    assert_int_equal(tg_optim_step(opt), TG_OK);
    ASSERT_VALUES(m.weight, 1e-15, 0.95, 0.95); /* 1 - lr * 0.5 */
    ASSERT_VALUES(m.bias, 1e-15, 0.85);
    ASSERT_VALUES(m.bn_weight, 1e-15, 0.9);
    ASSERT_VALUES(m.bn_bias, 1e-15, 0.9);
    ASSERT_VALUES(m.running_mean, 0, 0); /* buffers are in no group and never change */
    assert_int_equal(tg_optim_group_of(opt, "bn1.running_mean"), -1);
    assert_error_mentions(tg_last_error(), "is a buffer");
    assert_int_equal(tg_optim_group_of(opt, "nope"), -1);
    assert_error_mentions(tg_last_error(), "no parameter 'nope'");
    tg_optim_free(opt);
    tg_params_free(m.p);
}

static void test_a_pattern_may_list_alternatives_and_later_parameters_join_by_the_same_rule(void **state) {
    (void)state;
    model m = model_new();
    tg_optim *opt = tg_sgd_new(m.p, (tg_sgd_opts){.lr = 0.1, .weight_decay = 0.2});
    assert_int_equal(tg_optim_add_group(opt, "*.bias|bn*", (tg_optim_group_opts){.weight_decay = TG_OVERRIDE(0)}), 1);
    assert_int_equal(tg_optim_group_of(opt, "fc1.bias"), 1);
    assert_int_equal(tg_optim_group_of(opt, "bn1.weight"), 1);
    assert_int_equal(tg_optim_group_of(opt, "fc1.weight"), 0);
    tg_tensor *late_bias = tg_param(m.p, "fc2.bias", TG_F64, SHAPE(1), TG_INIT_ONES, NULL);
    tg_tensor *late_weight = tg_param(m.p, "fc2.weight", TG_F64, SHAPE(1), TG_INIT_ONES, NULL);
    tg_set(late_bias->grad, 0, 0.5);
    tg_set(late_weight->grad, 0, 0.5);
    assert_int_equal(tg_optim_group_of(opt, "fc2.bias"), 1);
    assert_int_equal(tg_optim_step(opt), TG_OK);
    ASSERT_VALUES(late_bias, 1e-15, 0.95);   /* no decay: 1 - 0.1 * 0.5 */
    ASSERT_VALUES(late_weight, 1e-15, 0.93); /* decay: 1 - 0.1 * (0.5 + 0.2) */
    ASSERT_VALUES(m.weight, 1e-15, 0.93, 0.93);
    ASSERT_VALUES(m.bn_weight, 1e-15, 0.95);
    tg_optim_free(opt);
    tg_params_free(m.p);
}

static void test_unset_options_inherit_the_default_group(void **state) {
    (void)state;
    model m = model_new();
    tg_optim *opt = tg_sgd_new(m.p, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
    assert_int_equal(tg_optim_add_group(opt, "fc1.bias", (tg_optim_group_opts){.lr = TG_OVERRIDE(0.2)}), 1);
    assert_int_equal(tg_optim_add_group(opt, "bn1.bias", (tg_optim_group_opts){.momentum = TG_OVERRIDE(0)}), 2);
    for (int k = 0; k < 2; k++) assert_int_equal(tg_optim_step(opt), TG_OK);
    /* fc1.bias: lr 0.2, momentum 0.9 and decay 0.1 inherited:
     * g1 = 0.6, b = 0.6, w = 0.88; g2 = 0.588, b = 1.128, w = 0.88 - 0.2256 */
    ASSERT_VALUES(m.bias, 1e-15, 0.6544);
    /* bn1.bias: no momentum, lr 0.1: w = 1 - 0.06 = 0.94, then 0.94 - 0.1 * 0.594 */
    ASSERT_VALUES(m.bn_bias, 1e-15, 0.8806);
    assert_non_null(tg_optim_state(opt, "fc1.bias", "momentum_buffer"));
    assert_null(tg_optim_state(opt, "bn1.bias", "momentum_buffer")); /* a group without momentum keeps none */
    assert_error_mentions(tg_last_error(), "no momentum_buffer yet");
    tg_optim_free(opt);
    tg_params_free(m.p);
}

static void test_set_lr_scales_every_group_relative_to_its_own_base_lr(void **state) {
    (void)state;
    model m = model_new();
    tg_optim *opt = tg_adam_new(m.p, (tg_adam_opts){.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999});
    assert_int_equal(tg_optim_add_group(opt, "*.bias", (tg_optim_group_opts){.lr = TG_OVERRIDE(0.04)}), 1);
    assert_int_equal(tg_optim_add_group(opt, "bn1.weight", (tg_optim_group_opts){.eps = TG_OVERRIDE(1e-6)}), 2);
    assert_int_equal(tg_optim_set_lr(opt, 0.05), TG_OK); /* a scheduler's factor 0.5 */
    assert_float_equal(tg_optim_lr(opt), 0.05, 0);
    assert_float_equal(tg_optim_group_lr(opt, 0), 0.05, 0);
    assert_float_equal(tg_optim_group_lr(opt, 1), 0.02, 1e-17);
    assert_float_equal(tg_optim_group_lr(opt, 2), 0.05, 1e-17); /* inherited base lr 0.1 */
    /* a group added mid-schedule starts at the schedule's current factor */
    assert_int_equal(tg_optim_add_group(opt, "nothing", (tg_optim_group_opts){.lr = TG_OVERRIDE(0.3)}), 3);
    assert_float_equal(tg_optim_group_lr(opt, 3), 0.15, 1e-16);
    /* one group by hand, until the schedule speaks again */
    assert_int_equal(tg_optim_set_group_lr(opt, 1, 0.5), TG_OK);
    assert_float_equal(tg_optim_group_lr(opt, 1), 0.5, 0);
    assert_int_equal(tg_optim_set_lr(opt, 0.1), TG_OK);
    assert_float_equal(tg_optim_group_lr(opt, 1), 0.04, 1e-17);
    assert_int_equal(tg_optim_set_lr(opt, 0), TG_OK);
    assert_float_equal(tg_optim_group_lr(opt, 1), 0, 0);
    /* the lr each group steps with: Adam's first step moves by lr (m / sqrt(v) = 1) */
    assert_int_equal(tg_optim_set_lr(opt, 0.1), TG_OK);
    assert_int_equal(tg_optim_step(opt), TG_OK);
    ASSERT_VALUES(m.weight, 1e-9, 0.9, 0.9);
    ASSERT_VALUES(m.bias, 1e-9, 0.96);
    ASSERT_VALUES(m.bn_weight, 1e-6, 0.9);
    tg_optim_free(opt);
    tg_params_free(m.p);
}

static void test_group_lr_accessors_reject_bad_groups_and_values(void **state) {
    (void)state;
    model m = model_new();
    tg_optim *opt = tg_sgd_new(m.p, (tg_sgd_opts){.lr = 0.1});
    assert_float_equal(tg_optim_group_lr(opt, 1), -1, 0);
    assert_error_mentions(tg_last_error(), "group 1 does not exist (the optimizer has 1)");
    assert_int_equal(tg_optim_set_group_lr(opt, -1, 0.1), TG_ERR_ARG);
    assert_int_equal(tg_optim_set_group_lr(opt, 0, NAN), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "learning rate nan");
    assert_int_equal(tg_optim_set_group_lr(opt, 0, -2), TG_ERR_ARG);
    assert_int_equal(tg_optim_set_lr(opt, NAN), TG_ERR_ARG);
    assert_float_equal(tg_optim_lr(opt), 0.1, 0);
    assert_int_equal(tg_optim_set_lr(NULL, 0.1), TG_ERR_ARG);
    tg_optim_free(opt);
    tg_params_free(m.p);
}

/* tg_optim_add_group refuses, leaves the groups as they were, and says why */
static void assert_group_rejected(tg_optim *opt, const char *pattern, tg_optim_group_opts o, const char *why) {
    int before = tg_optim_group_count(opt);
    assert_int_equal(tg_optim_add_group(opt, pattern, o), -1);
    assert_int_equal(tg_last_status(), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "tg_optim_add_group");
    assert_error_mentions(tg_last_error(), why);
    assert_int_equal(tg_optim_group_count(opt), before);
}

static void test_invalid_groups_are_errors_naming_the_group_option_and_value(void **state) {
    (void)state;
    model m = model_new();
    tg_optim *sgd = tg_sgd_new(m.p, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .nesterov = true});
    assert_group_rejected(sgd, "*.bias", (tg_optim_group_opts){.lr = TG_OVERRIDE(NAN)}, "group '*.bias': lr nan");
    assert_group_rejected(sgd, "*.bias", (tg_optim_group_opts){.lr = TG_OVERRIDE(0)}, "lr 0 must be");
    assert_group_rejected(sgd, "*.bias", (tg_optim_group_opts){.lr = TG_OVERRIDE(INFINITY)}, "lr inf");
    assert_group_rejected(sgd, "*.bias", (tg_optim_group_opts){.weight_decay = TG_OVERRIDE(-1)}, "weight_decay -1");
    assert_group_rejected(sgd, "*.bias", (tg_optim_group_opts){.weight_decay = TG_OVERRIDE(NAN)},
                          "weight_decay nan");
    assert_group_rejected(sgd, "*.bias", (tg_optim_group_opts){.momentum = TG_OVERRIDE(-0.5)}, "momentum -0.5");
    assert_group_rejected(sgd, "*.bias", (tg_optim_group_opts){.momentum = TG_OVERRIDE(0)},
                          "momentum 0 must be > 0 with nesterov");
    assert_group_rejected(sgd, "*.bias", (tg_optim_group_opts){.dampening = TG_OVERRIDE(0.5)},
                          "dampening 0.5 must be 0 with nesterov");
    assert_group_rejected(sgd, "*.bias", (tg_optim_group_opts){.beta1 = TG_OVERRIDE(0.5)},
                          "beta1 is not an option of tg_sgd");
    assert_group_rejected(sgd, "*.bias", (tg_optim_group_opts){.eps = TG_OVERRIDE(1e-3)},
                          "eps is not an option of tg_sgd");
    assert_group_rejected(sgd, "", (tg_optim_group_opts){0}, "pattern is NULL or empty");
    assert_group_rejected(sgd, NULL, (tg_optim_group_opts){0}, "pattern is NULL or empty");
    assert_group_rejected(sgd, "a||b", (tg_optim_group_opts){0}, "'a||b' has an empty part");
    assert_group_rejected(sgd, "a|", (tg_optim_group_opts){0}, "has an empty part");
    tg_optim *adam = tg_adam_new(m.p, tg_adamw_defaults());
    assert_group_rejected(adam, "bn*", (tg_optim_group_opts){.momentum = TG_OVERRIDE(0.9)},
                          "momentum is not an option of tg_adamw");
    assert_group_rejected(adam, "bn*", (tg_optim_group_opts){.beta1 = TG_OVERRIDE(1)}, "group 'bn*': beta1 1");
    assert_group_rejected(adam, "bn*", (tg_optim_group_opts){.beta2 = TG_OVERRIDE(NAN)}, "beta2 nan");
    assert_group_rejected(adam, "bn*", (tg_optim_group_opts){.eps = TG_OVERRIDE(-1)}, "eps -1");
    assert_int_equal(tg_optim_add_group(NULL, "x", (tg_optim_group_opts){0}), -1);
    assert_error_mentions(tg_last_error(), "optimizer is NULL");
    /* the optimizers still work, every parameter in the default group */
    assert_int_equal(tg_optim_group_of(sgd, "fc1.bias"), 0);
    assert_int_equal(tg_optim_step(sgd), TG_OK);
    tg_optim_free(sgd);
    tg_optim_free(adam);
    tg_params_free(m.p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_parameter_is_in_the_first_group_that_matches_else_the_default),
        cmocka_unit_test(test_a_pattern_may_list_alternatives_and_later_parameters_join_by_the_same_rule),
        cmocka_unit_test(test_unset_options_inherit_the_default_group),
        cmocka_unit_test(test_set_lr_scales_every_group_relative_to_its_own_base_lr),
        cmocka_unit_test(test_group_lr_accessors_reject_bad_groups_and_values),
        cmocka_unit_test(test_invalid_groups_are_errors_naming_the_group_option_and_value),
    };
    return cmocka_run_group_tests_name("optim_groups", tests, NULL, NULL);
}
