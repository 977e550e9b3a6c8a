/* Adam, AdamW, the optimizer interface (learning rate, step count) and
 * gradient clipping, against torch 1.13 (float64) on three fixed gradients. */
#include "testing.h"

static const double GRADS[3][3] = {{0.5, -1.0, 2.0}, {0.1, 0.3, -0.7}, {-2.0, 0.0, 1.5}};

/* Runs three steps of opt on w = {1, -2, 0.5} and checks w after each. */
static void run_three_steps(tg_optim *(*make)(tg_params *, tg_adam_opts), tg_adam_opts opts, const double want[3][3],
                            tg_dtype dtype, double tol) {
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_param(p, "w", dtype, SHAPE(3), TG_INIT_ZEROS, NULL);
    const double start[3] = {1.0, -2.0, 0.5};
    for (int i = 0; i < 3; i++) tg_set(w, i, start[i]);
    tg_optim *opt = make(p, opts);
    assert_non_null(opt);
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 3; i++) tg_set(w->grad, i, GRADS[k][i]);
        uint64_t version = w->version;
        assert_int_equal(tg_optim_step(opt), TG_OK);
        assert_true(w->version > version);
        assert_values(w, want[k], 3, tol);
    }
    assert_int_equal(tg_optim_steps(opt), 3);
    tg_optim_free(opt);
    tg_params_free(p);
}

static void test_adam_matches_pytorch(void **state) {
    (void)state;
    const double want[3][3] = {{0.900000002, -1.900000001, 0.4000000005},
                               {0.819695906384652, -1.85721514242923, 0.361352995464391},
                               {0.866279376290936, -1.824142322851, 0.300044999439596}};
    tg_adam_opts o = tg_adam_defaults();
    o.lr = 0.1;
    run_three_steps(tg_adam_new, o, want, TG_F64, 1e-12);
    run_three_steps(tg_adam_new, o, want, TG_F32, 2e-6);
}

static void test_adam_with_betas_eps_and_l2_weight_decay_matches_pytorch(void **state) {
    (void)state;
    const double want[3][3] = {{0.900000166666389, -1.90000008333326, 0.400000048780464},
                               {0.816187813436615, -1.84444314350557, 0.364175042765648},
                               {0.864593016015663, -1.79386635262938, 0.301830167751117}};
    tg_adam_opts o = {.lr = 0.1, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1};
    run_three_steps(tg_adam_new, o, want, TG_F64, 1e-12);
}

static void test_adamw_decouples_weight_decay_like_pytorch(void **state) {
    (void)state;
    const double want[3][3] = {{0.890000002, -1.880000001, 0.3950000005},
                               {0.800795906364652, -1.81841514241923, 0.352402995459391},
                               {0.83937141720729, -1.76715817141681, 0.287570969480002}};
    tg_adam_opts o = tg_adamw_defaults();
    assert_true(o.weight_decay == 0.01 && o.decoupled_weight_decay);
    o.lr = 0.1;
    o.weight_decay = 0.1;
    run_three_steps(tg_adam_new, o, want, TG_F64, 1e-12);
}

static void test_learning_rate_can_be_read_and_changed(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_param(p, "w", TG_F64, SHAPE(1), TG_INIT_ONES, NULL);
    tg_optim *opt = tg_sgd_new(p, (tg_sgd_opts){.lr = 0.5});
    assert_true(tg_optim_lr(opt) == 0.5);
    assert_int_equal(tg_optim_set_lr(opt, 0.25), TG_OK);
    tg_set(w->grad, 0, 2.0);
    assert_int_equal(tg_optim_step(opt), TG_OK);
    ASSERT_VALUES(w, 0, 0.5); /* 1 - 0.25 * 2 */
    assert_int_equal(tg_optim_set_lr(opt, -0.1), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "learning rate -0.1");
    assert_int_equal(tg_optim_set_lr(opt, INFINITY), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "learning rate inf");
    assert_true(tg_optim_lr(opt) == 0.25);
    assert_int_equal(tg_optim_set_lr(opt, 0), TG_OK); /* a schedule may end at 0: the step changes nothing */
    assert_int_equal(tg_optim_step(opt), TG_OK);
    ASSERT_VALUES(w, 0, 0.5);
    tg_optim_free(opt);
    tg_params_free(p);
}

/* tg_adam_new refuses o with a message naming the option and its value */
static void assert_rejected(tg_adam_opts o, const char *option_and_value) {
    tg_params *p = tg_params_new();
    tg_optim *opt = tg_adam_new(p, o);
    if (opt) {
        print_error("options accepted: %s\n", option_and_value);
        tg_optim_free(opt);
        fail();
    }
    assert_int_equal(tg_last_status(), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "tg_adam_new");
    assert_error_mentions(tg_last_error(), option_and_value);
    tg_params_free(p);
}

static void test_adam_rejects_invalid_options_naming_option_and_value(void **state) {
    (void)state;
    const struct {
        const char *field, *message;
        double value;
    } cases[] = {
        {"lr", "lr 0", 0},           {"lr", "lr nan", NAN},         {"lr", "lr inf", INFINITY},
        {"lr", "lr -1", -1},         {"beta1", "beta1 1", 1},       {"beta1", "beta1 nan", NAN},
        {"beta1", "beta1 -0.1", -0.1}, {"beta2", "beta2 1.5", 1.5}, {"beta2", "beta2 nan", NAN},
        {"eps", "eps -1e-08", -1e-8}, {"eps", "eps nan", NAN},      {"eps", "eps inf", INFINITY},
        {"weight_decay", "weight_decay -0.01", -0.01}, {"weight_decay", "weight_decay nan", NAN},
        {"weight_decay", "weight_decay inf", INFINITY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int w = 0; w < 2; w++) {
            tg_adam_opts o = w ? tg_adamw_defaults() : tg_adam_defaults();
            double *field = strcmp(cases[i].field, "lr") == 0      ? &o.lr
                            : strcmp(cases[i].field, "beta1") == 0 ? &o.beta1
                            : strcmp(cases[i].field, "beta2") == 0 ? &o.beta2
                            : strcmp(cases[i].field, "eps") == 0   ? &o.eps
                                                                   : &o.weight_decay;
            *field = cases[i].value;
            assert_rejected(o, cases[i].message);
        }
    }
    assert_null(tg_adam_new(NULL, tg_adam_defaults()));
    assert_error_mentions(tg_last_error(), "store is NULL");
}

static void test_clip_grad_norm_scales_gradients_like_pytorch(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *a = tg_param(p, "a", TG_F64, SHAPE(2), TG_INIT_ZEROS, NULL);
    tg_tensor *b = tg_param(p, "b", TG_F64, SHAPE(3), TG_INIT_ZEROS, NULL);
    tg_set(a->grad, 0, 3.0);
    tg_set(a->grad, 1, 4.0);
    tg_set(b->grad, 1, 12.0);
    double norm = 0;
    assert_int_equal(tg_clip_grad_norm(p, 6.5, &norm), TG_OK);
    assert_float_equal(norm, 13.0, 1e-12);
    ASSERT_VALUES(a->grad, 1e-12, 1.49999988461539, 1.99999984615386);
    ASSERT_VALUES(b->grad, 1e-12, 0, 5.99999953846157, 0);
    /* under the limit: untouched */
    assert_int_equal(tg_clip_grad_norm(p, 100, &norm), TG_OK);
    ASSERT_VALUES(b->grad, 1e-12, 0, 5.99999953846157, 0);
    assert_int_equal(tg_clip_grad_norm(p, 0, NULL), TG_ERR_ARG);
    tg_params_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_matches_pytorch),
        cmocka_unit_test(test_adam_with_betas_eps_and_l2_weight_decay_matches_pytorch),
        cmocka_unit_test(test_adamw_decouples_weight_decay_like_pytorch),
        cmocka_unit_test(test_learning_rate_can_be_read_and_changed),
        cmocka_unit_test(test_adam_rejects_invalid_options_naming_option_and_value),
        cmocka_unit_test(test_clip_grad_norm_scales_gradients_like_pytorch),
    };
    return cmocka_run_group_tests_name("adam", tests, NULL, NULL);
}
