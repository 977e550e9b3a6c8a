/* The step itself: every element of every parameter updated exactly once
 * when the work is split over threads, and the same bits for any thread count. */
#include "testing.h"

/* Sizes around the parallel threshold and across the thread split. */
static tg_params *model_new(tg_dtype dtype) {
    static const int64_t sizes[] = {TG_PARALLEL_MIN + 3, 5, 2 * TG_PARALLEL_MIN - 1, 1, 777};
    tg_params *p = tg_params_new();
    tg_rng rng = tg_rng_new(11);
    for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
        char name[16];
        snprintf(name, sizeof name, "p%zu", j);
        tg_tensor *x = tg_param(p, name, dtype, 1, &sizes[j], TG_INIT_UNIFORM, &rng);
        assert_non_null(x);
        for (int64_t i = 0; i < x->numel; i++) tg_set(x->grad, i, tg_rng_normal(&rng));
    }
    return p;
}

static void test_plain_sgd_updates_every_element_once_across_the_thread_split(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    tg_set_num_threads(2);
    tg_params *p = model_new(TG_F32), *before = model_new(TG_F32);
    tg_optim *opt = tg_sgd_new(p, (tg_sgd_opts){.lr = 0.25});
    assert_int_equal(tg_optim_step(opt), TG_OK);
    for (int j = 0; j < tg_params_count(p); j++) {
        const tg_tensor *x = tg_params_at(p, j), *x0 = tg_params_at(before, j);
        const float *w = x->data, *w0 = x0->data, *g = x->grad->data;
        for (int64_t i = 0; i < x->numel; i++) {
            float want = w0[i] - 0.25f * g[i];
            if (w[i] != want) {
                print_error("%s[%lld]: %.9g, want %.9g\n", x->name, (long long)i, w[i], want);
                fail();
            }
        }
    }
    tg_optim_free(opt);
    tg_params_free(p);
    tg_params_free(before);
    tg_set_num_threads(threads);
}

/* hash of every parameter after 3 steps of make() on `threads` threads */
static uint64_t run(tg_optim *(*make)(tg_params *), tg_dtype dtype, int threads) {
    int saved = tg_get_num_threads();
    tg_set_num_threads(threads);
    tg_params *p = model_new(dtype);
    tg_optim *opt = make(p);
    for (int k = 0; k < 3; k++) assert_int_equal(tg_optim_step(opt), TG_OK);
    uint64_t h = 0;
    for (int j = 0; j < tg_params_count(p); j++) h = h * 31 + tg_tensor_hash(tg_params_at(p, j));
    tg_optim_free(opt);
    tg_params_free(p);
    tg_set_num_threads(saved);
    return h;
}

static tg_optim *nesterov(tg_params *p) {
    return tg_sgd_new(p, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-3});
}
static tg_optim *adam_amsgrad(tg_params *p) {
    tg_adam_opts o = tg_adam_defaults();
    o.amsgrad = true;
    o.weight_decay = 1e-2;
    return tg_adam_new(p, o);
}

static void test_steps_give_the_same_bits_on_one_and_two_threads(void **state) {
    (void)state;
    for (int d = 0; d < 2; d++) {
        tg_dtype dtype = d ? TG_F64 : TG_F32;
        assert_true(run(nesterov, dtype, 1) == run(nesterov, dtype, 2));
        assert_true(run(adam_amsgrad, dtype, 1) == run(adam_amsgrad, dtype, 2));
        assert_true(run(nesterov, dtype, 2) != run(adam_amsgrad, dtype, 2)); /* the hashes can tell */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_sgd_updates_every_element_once_across_the_thread_split),
        cmocka_unit_test(test_steps_give_the_same_bits_on_one_and_two_threads),
    };
    return cmocka_run_group_tests_name("optim_step", tests, NULL, NULL);
}
