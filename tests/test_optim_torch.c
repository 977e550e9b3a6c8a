/* SGD, Adam and AdamW against torch 1.13 trajectories: amsgrad, maximize,
 * Nesterov, dampening, AdamW, parameter groups (lr and weight decay per
 * group, biases without decay), a schedule over groups, and a parameter
 * without a gradient for one step. The model, the gradients and the torch
 * script that printed the expected values are in tools/torch_optim_reference.py. */
#include "testing.h"

enum { STEPS = 5, PARAMS = 3, VALUES = 12 };

/* tools/torch_optim_reference.py, torch 1.13.0a0: every parameter after 5 steps */
static const double sgd_momentum_dampening_decay_f64[12] = {0.025405470985001694, -0.6127964631850289,
    0.2039784775496092, 0.053452538466051094, 0.5380992784392166, -0.1295098632976653, -0.23485982115633178,
    -0.21227051023988988, -0.05628681459172435, -0.1295098632976653, -0.47253580238122334, 0.20461093759194213};
static const double sgd_momentum_dampening_decay_f32[12] = {0.02540542557835579, -0.612796425819397,
    0.20397847890853882, 0.05345258489251137, 0.5380992889404297, -0.12950988113880157, -0.23485985398292542,
    -0.21227051317691803, -0.05628681182861328, -0.12950988113880157, -0.47253578901290894, 0.2046109288930893};
static const double sgd_nesterov_decay_f64[12] = {0.1415957055369977, -0.7969829864189503, 0.1956653373425844,
    0.13758731134569888, 0.441061124773171, 0.05738412336109179, -0.27065321055095537, -0.11094498654784074,
    -0.2165835787453686, 0.05738412336109179, -0.5231939026357938, 0.3027799107916785};
static const double sgd_nesterov_decay_f32[12] = {0.14159569144248962, -0.7969829440116882, 0.19566534459590912,
    0.13758736848831177, 0.4410611093044281, 0.05738408491015434, -0.27065324783325195, -0.11094498634338379,
    -0.21658356487751007, 0.05738408491015434, -0.523193895816803, 0.3027799427509308};
static const double sgd_maximize_momentum_f64[12] = {-0.7421875000000001, 0.07500000000000004, 0.05000000000000002,
    0.4890625000000001, 0.7734375000000001, -0.7515624999999999, -0.540625, -0.23906249999999993, 0.2515625,
    -0.7515624999999999, -0.03749999999999995, -0.028124999999999997};
static const double sgd_maximize_momentum_f32[12] = {-0.7421875, 0.07499999552965164, 0.05000000819563866,
    0.48906248807907104, 0.7734375, -0.7515625357627869, -0.5406249761581421, -0.23906250298023224,
    0.2515624761581421, -0.7515625357627869, -0.03749999403953552, -0.02812500298023224};
static const double sgd_groups_f64[12] = {-0.0010441371749998827, -0.57393050637, 0.11369289074749998,
    0.1386812028025, 0.4733930436699999, -0.20086773104999997, -0.44921875000000006, -0.163671875,
    0.023046874999999994, -0.37734375000000003, -0.265625, 0.060937500000000006};
static const double sgd_groups_f32[12] = {-0.0010441428748890758, -0.5739305019378662, 0.11369288712739944,
    0.13868123292922974, 0.473393052816391, -0.20086769759655, -0.44921875, -0.16367186605930328,
    0.023046880960464478, -0.3773437440395355, -0.265625, 0.06093749776482582};
static const double adam_amsgrad_decay_f64[12] = {-0.21685426335213948, -0.49375280627317214, 0.20770877675999727,
    0.2339656916774322, 0.49998762805469077, -0.25571449653059114, -0.30841027913044, -0.21466941698475717,
    0.05666125913724432, -0.25571449653059114, -0.325355639892232, 0.012031846313259511};
static const double adam_amsgrad_decay_f32[12] = {-0.2168542891740799, -0.4937528371810913, 0.20770877599716187,
    0.2339657098054886, 0.4999876320362091, -0.255714476108551, -0.30841031670570374, -0.21466943621635437,
    0.05666124075651169, -0.255714476108551, -0.3253556489944458, 0.012031851336359978};
static const double adam_maximize_f64[12] = {-0.7796228062144932, 0.09684303264378766, -0.008127405198111958,
    0.5633579185994827, 0.8993916260735637, -0.7462858590803505, -0.6882789092679663, -0.184557665736127,
    0.1475535061237284, -0.7462858590803505, -0.07346151566295826, 0.08753734202777455};
static const double adam_maximize_f32[12] = {-0.7796227931976318, 0.09684301912784576, -0.008127388544380665,
    0.563357949256897, 0.8993916511535645, -0.7462858557701111, -0.68827885389328, -0.18455766141414642,
    0.14755353331565857, -0.7462858557701111, -0.07346153259277344, 0.08753735572099686};
static const double adamw_amsgrad_f64[12] = {-0.36116081733207483, -0.33522032704426696, 0.14725574886396264,
    0.31864109084787173, 0.5909805020520261, -0.371492001006664, -0.40791820295685743, -0.20130023541524145,
    0.07295555340624185, -0.371492001006664, -0.2558140538483545, 0.10855920504505047};
static const double adamw_amsgrad_f32[12] = {-0.3611608147621155, -0.3352203369140625, 0.1472557634115219,
    0.3186410665512085, 0.5909804701805115, -0.3714919686317444, -0.40791821479797363, -0.201300248503685,
    0.07295556366443634, -0.3714919686317444, -0.2558140754699707, 0.10855920612812042};
static const double adam_groups_f64[12] = {-0.23019389105946336, -0.45399449494033634, 0.18628549665707966,
    0.24163874828620285, 0.4869481655795057, -0.2837734085926239, -0.1379352475083163, -0.2309195059411543,
    0.027401719866191894, -0.007870207929810066, -0.4464225589504317, -0.08815474983500872};
static const double adam_groups_f32[12] = {-0.23019389808177948, -0.453994482755661, 0.18628546595573425,
    0.24163874983787537, 0.4869481325149536, -0.28377339243888855, -0.13793523609638214, -0.2309195101261139,
    0.027401702478528023, -0.007870137691497803, -0.4464225471019745, -0.08815476298332214};
static const double adamw_groups_f64[12] = {-0.18768975295285395, -0.46252693679986034, 0.19080073350687046,
    0.20843382423758702, 0.44637168658239307, -0.21783378548687993, -0.3117210907320335, -0.21544233426387296,
    0.05244649387627162, -0.2537141409196495, -0.3265384843370417, 0.11246265797222545};
static const double adamw_groups_f32[12] = {-0.18768978118896484, -0.46252697706222534, 0.190800741314888,
    0.20843388140201569, 0.44637173414230347, -0.21783381700515747, -0.3117210865020752, -0.21544234454631805,
    0.05244648456573486, -0.25371411442756653, -0.3265385031700134, 0.11246264725923538};

typedef struct model {
    tg_params *p;
    tg_tensor *w[PARAMS];
} model;

static model model_new(tg_dtype dtype) {
    static const char *names[PARAMS] = {"fc.weight", "fc.bias", "bn.weight"};
    model m = {.p = tg_params_new()};
    m.w[0] = tg_param(m.p, names[0], dtype, SHAPE(2, 3), TG_INIT_ZEROS, NULL);
    m.w[1] = tg_param(m.p, names[1], dtype, SHAPE(3), TG_INIT_ZEROS, NULL);
    m.w[2] = tg_param(m.p, names[2], dtype, SHAPE(3), TG_INIT_ZEROS, NULL);
    for (int j = 0; j < PARAMS; j++) {
        assert_non_null(m.w[j]);
        for (int64_t i = 0; i < m.w[j]->numel; i++) tg_set(m.w[j], i, (double)(i % 5 - 2) * 0.3 + 0.1);
    }
    return m;
}

/* The gradients of step k (exact in binary): ((7 i + 3 k + j) % 11 - 5) / 4 */
static void set_grads(model *m, int k) {
    for (int j = 0; j < PARAMS; j++)
        for (int64_t i = 0; i < m->w[j]->numel; i++)
            tg_set(m->w[j]->grad, i, (double)((7 * i + 3 * k + j) % 11 - 5) / 4);
}

typedef struct options {
    int no_grad_param, no_grad_step; /* this parameter has ->grad NULL at this step (-1: none) */
    bool halve_lr_from_step_3;       /* tg_optim_set_lr(opt, base / 2) before steps 3 and 4 */
} options;

static void run_and_compare(model *m, tg_optim *opt, options o, const double *want, double tol) {
    assert_non_null(opt);
    double base = tg_optim_lr(opt);
    for (int k = 0; k < STEPS; k++) {
        if (o.halve_lr_from_step_3 && k >= 3) assert_int_equal(tg_optim_set_lr(opt, base * 0.5), TG_OK);
        set_grads(m, k);
        tg_tensor *kept = NULL;
        if (k == o.no_grad_step) {
            kept = m->w[o.no_grad_param]->grad;
            m->w[o.no_grad_param]->grad = NULL; /* set-to-none: the step skips it */
        }
        assert_int_equal(tg_optim_step(opt), TG_OK);
        if (kept) m->w[o.no_grad_param]->grad = kept;
    }
    int v = 0;
    for (int j = 0; j < PARAMS; j++) {
        for (int64_t i = 0; i < m->w[j]->numel; i++, v++) {
            double got = tg_get(m->w[j], i), expected = want[v];
            if (!(fabs(got - expected) <= tol * fmax(fabs(expected), 0.1))) {
                print_error("%s[%lld]: got %.17g, torch %.17g (relative tolerance %g)\n", m->w[j]->name, (long long)i,
                            got, expected, tol);
                fail();
            }
        }
    }
    assert_int_equal(v, VALUES);
    tg_optim_free(opt);
    tg_params_free(m->p);
}

static const options plain = {.no_grad_param = -1, .no_grad_step = -1};
static const options skip_and_schedule = {.no_grad_param = 2, .no_grad_step = 2, .halve_lr_from_step_3 = true};

/* relative (to 0.1 for smaller values, which are differences of larger ones) */
#define F64_TOL 1e-12
#define F32_TOL 1e-6

/* Runs a case in f64 and f32: make(store) builds the optimizer. */
static void check_case(tg_optim *(*make)(tg_params *), options o, const double *want_f64, const double *want_f32) {
    model m = model_new(TG_F64);
    run_and_compare(&m, make(m.p), o, want_f64, F64_TOL);
    m = model_new(TG_F32);
    run_and_compare(&m, make(m.p), o, want_f32, F32_TOL);
}

static tg_optim *sgd_dampening(tg_params *p) {
    return tg_sgd_new(p, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .dampening = 0.3, .weight_decay = 0.01});
}
static void test_sgd_momentum_with_dampening_and_weight_decay_matches_torch(void **state) {
    (void)state;
    check_case(sgd_dampening, plain, sgd_momentum_dampening_decay_f64, sgd_momentum_dampening_decay_f32);
}

static tg_optim *sgd_nesterov(tg_params *p) {
    return tg_sgd_new(p, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.05});
}
static void test_sgd_nesterov_with_weight_decay_matches_torch(void **state) {
    (void)state;
    check_case(sgd_nesterov, plain, sgd_nesterov_decay_f64, sgd_nesterov_decay_f32);
}

static tg_optim *sgd_maximize(tg_params *p) {
    return tg_sgd_new(p, (tg_sgd_opts){.lr = 0.1, .momentum = 0.5, .maximize = true});
}
static void test_sgd_maximize_climbs_like_torch(void **state) {
    (void)state;
    check_case(sgd_maximize, plain, sgd_maximize_momentum_f64, sgd_maximize_momentum_f32);
}

/* torch: [{params: [fc.weight], weight_decay: 0.1}, {params: [fc.bias, bn.weight], lr: 0.05,
 * weight_decay: 0, momentum: 0.5}], lr 0.1, momentum 0.9 */
static tg_optim *sgd_groups(tg_params *p) {
    tg_optim *opt = tg_sgd_new(p, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
    int g = tg_optim_add_group(opt, "*.bias|bn*",
                               (tg_optim_group_opts){.lr = TG_OVERRIDE(0.05), .weight_decay = TG_OVERRIDE(0),
                                                     .momentum = TG_OVERRIDE(0.5)});
    assert_int_equal(g, 1);
    return opt;
}
static void test_sgd_groups_with_their_own_lr_decay_and_momentum_under_a_schedule_match_torch(void **state) {
    (void)state;
    check_case(sgd_groups, skip_and_schedule, sgd_groups_f64, sgd_groups_f32);
}

static tg_optim *adam_amsgrad(tg_params *p) {
    return tg_adam_new(p, (tg_adam_opts){.lr = 0.1, .beta1 = 0.9, .beta2 = 0.9, .eps = 1e-8, .weight_decay = 0.01,
                                         .amsgrad = true});
}
static void test_adam_amsgrad_with_weight_decay_matches_torch(void **state) {
    (void)state;
    check_case(adam_amsgrad, plain, adam_amsgrad_decay_f64, adam_amsgrad_decay_f32);
}

static tg_optim *adam_maximize(tg_params *p) {
    tg_adam_opts o = tg_adam_defaults();
    o.lr = 0.1;
    o.maximize = true;
    return tg_adam_new(p, o);
}
static void test_adam_maximize_climbs_like_torch(void **state) {
    (void)state;
    check_case(adam_maximize, plain, adam_maximize_f64, adam_maximize_f32);
}

static tg_optim *adamw_amsgrad(tg_params *p) {
    tg_adam_opts o = tg_adamw_defaults();
    o.lr = 0.05;
    o.beta1 = 0.8;
    o.beta2 = 0.9;
    o.weight_decay = 0.1;
    o.amsgrad = true;
    return tg_adam_new(p, o);
}
static void test_adamw_amsgrad_matches_torch(void **state) {
    (void)state;
    check_case(adamw_amsgrad, plain, adamw_amsgrad_f64, adamw_amsgrad_f32);
}

/* torch: [{params: [fc.weight], weight_decay: 0.1}, {params: [fc.bias, bn.weight], lr: 0.2,
 * betas: (0.8, 0.99), eps: 1e-3, weight_decay: 0}], lr 0.1 */
static tg_optim *adam_groups(tg_params *p) {
    tg_adam_opts o = tg_adam_defaults();
    o.lr = 0.1;
    o.weight_decay = 0.1;
    tg_optim *opt = tg_adam_new(p, o);
    assert_int_equal(tg_optim_add_group(opt, "*.bias|bn*",
                                        (tg_optim_group_opts){.lr = TG_OVERRIDE(0.2), .beta1 = TG_OVERRIDE(0.8),
                                                              .beta2 = TG_OVERRIDE(0.99), .eps = TG_OVERRIDE(1e-3),
                                                              .weight_decay = TG_OVERRIDE(0)}),
                     1);
    return opt;
}
static void test_adam_groups_with_betas_eps_and_a_skipped_parameter_under_a_schedule_match_torch(void **state) {
    (void)state;
    check_case(adam_groups, skip_and_schedule, adam_groups_f64, adam_groups_f32);
}

/* torch: AdamW([{params: [fc.weight]}, {params: [fc.bias, bn.weight], weight_decay: 0}], lr 0.1, weight_decay 0.2) */
static tg_optim *adamw_groups(tg_params *p) {
    tg_adam_opts o = tg_adamw_defaults();
    o.lr = 0.1;
    o.weight_decay = 0.2;
    tg_optim *opt = tg_adam_new(p, o);
    assert_int_equal(tg_optim_add_group(opt, "*.bias", (tg_optim_group_opts){.weight_decay = TG_OVERRIDE(0)}), 1);
    assert_int_equal(tg_optim_add_group(opt, "bn.*", (tg_optim_group_opts){.weight_decay = TG_OVERRIDE(0)}), 2);
    return opt;
}
static void test_adamw_with_biases_and_batchnorm_undecayed_matches_torch(void **state) {
    (void)state;
    check_case(adamw_groups, plain, adamw_groups_f64, adamw_groups_f32);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_momentum_with_dampening_and_weight_decay_matches_torch),
        cmocka_unit_test(test_sgd_nesterov_with_weight_decay_matches_torch),
        cmocka_unit_test(test_sgd_maximize_climbs_like_torch),
        cmocka_unit_test(test_sgd_groups_with_their_own_lr_decay_and_momentum_under_a_schedule_match_torch),
        cmocka_unit_test(test_adam_amsgrad_with_weight_decay_matches_torch),
        cmocka_unit_test(test_adam_maximize_climbs_like_torch),
        cmocka_unit_test(test_adamw_amsgrad_matches_torch),
        cmocka_unit_test(test_adam_groups_with_betas_eps_and_a_skipped_parameter_under_a_schedule_match_torch),
        cmocka_unit_test(test_adamw_with_biases_and_batchnorm_undecayed_matches_torch),
    };
    return cmocka_run_group_tests_name("optim_torch", tests, NULL, NULL);
}
