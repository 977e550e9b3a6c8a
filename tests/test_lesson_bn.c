/* Lesson "bn": a deep tanh MLP with batchnorm reaches the target accuracy in
 * fewer epochs, survives a learning rate the plain one does not, keeps its
 * gradients and activations alive through the layers, and its units' means
 * drift less between epochs; both first-step graphs are drawn. Seeds 1 to 5
 * in the optimised build; seed 1 under the sanitizers (the same code paths,
 * five times slower each). */
#include "scratch_dir.h"

#include <stdlib.h>

#include "testing.h"

#if defined(__SANITIZE_ADDRESS__)
#define SEEDS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SEEDS 1
#endif
#endif
#ifndef SEEDS
#define SEEDS 5
#endif

static void test_batchnorm_trains_faster_and_survives_the_higher_lr(void **state) {
    (void)state;
    tg_lesson_bn_result *r = malloc(sizeof *r);
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        tg_lesson_bn_opts o = tg_lesson_bn_defaults();
        o.seed = seed;
        assert_int_equal(tg_lesson_bn_run(&o, r), TG_OK);
        const tg_bn_run *plain = &r->runs[TG_BN_PLAIN], *bn = &r->runs[TG_BN_BATCHNORM];
        const tg_bn_run *plain_high = &r->runs[TG_BN_PLAIN_HIGH], *bn_high = &r->runs[TG_BN_BATCHNORM_HIGH];
        assert_true(!plain->batchnorm && bn->batchnorm && plain->lr == 0.02 && plain_high->lr == 0.3);
        for (int i = 0; i < TG_BN_RUNS; i++) assert_int_equal(r->runs[i].epochs_run, 10);
        /* the shared lr: both reach 90%, batchnorm in fewer epochs (seeds 1-5: 3-6 against 7-8) */
        assert_true(plain->epochs_to_target > 0 && bn->epochs_to_target > 0);
        assert_true(bn->epochs_to_target < plain->epochs_to_target);
        /* the higher lr: the plain model never gets near (best 53-67%), batchnorm reaches 90% */
        assert_int_equal(plain_high->epochs_to_target, -1);
        assert_true(plain_high->best_accuracy < 0.8);
        assert_true(bn_high->epochs_to_target > 0 && bn_high->final_accuracy > 0.9);
        /* over the run, the units of the plain model move more between epochs (1.4-2.2x) */
        double plain_drift = 0, bn_drift = 0;
        for (int k = 0; k < o.depth; k++) {
            plain_drift += tg_bn_mean_drift(plain, k);
            bn_drift += tg_bn_mean_drift(bn, k);
        }
        assert_true(bn_drift < plain_drift);
    }
    free(r);
}

/* Epoch 1 already shows what batchnorm changes inside (2 epochs for a drift). */
static void test_gradients_and_activations_fade_with_depth_only_without_batchnorm(void **state) {
    (void)state;
    tg_lesson_bn_result *r = malloc(sizeof *r);
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        tg_lesson_bn_opts o = tg_lesson_bn_defaults();
        o.seed = seed;
        o.epochs = 2;
        assert_int_equal(tg_lesson_bn_run(&o, r), TG_OK);
        const tg_bn_run *plain = &r->runs[TG_BN_PLAIN], *bn = &r->runs[TG_BN_BATCHNORM];
        int d = (int)o.depth;
        /* first layer's weight gradient against the output layer's: 0.04-0.06 plain, 0.43-0.88 batchnorm */
        assert_true(plain->grad_norm[1][0] < 0.1 * plain->grad_norm[1][d]);
        assert_true(bn->grad_norm[1][0] > 0.3 * bn->grad_norm[1][d]);
        /* each unit's spread over a batch: falls ~50x from layer 1 to 8 plain, steady with batchnorm */
        assert_true(plain->unit_std[1][d - 1] < 0.05 * plain->unit_std[1][0]);
        for (int k = 1; k < d; k++) assert_true(plain->unit_std[1][k] < plain->unit_std[1][k - 1]);
        assert_true(bn->unit_std[1][d - 1] > 0.5 * bn->unit_std[1][0]);
        /* tanh outputs of a model started near 0 are centred: means well inside (-0.5, 0.5) */
        for (int k = 0; k < d; k++) assert_true(fabs(bn->unit_mean[1][k]) < 0.5);
        /* the drift needs a previous epoch */
        assert_true(isnan(plain->drift[1][0]) && isfinite(plain->drift[2][0]));
    }
    free(r);
}

static void test_first_step_graphs_show_each_layer_with_its_gradient(void **state) {
    (void)state;
    tg_lesson_bn_opts o = tg_lesson_bn_defaults();
    o.epochs = 1;
    o.samples = 400;
    char plain[320], bn[320];
    snprintf(plain, sizeof plain, "%s", scratch_path("plain.dot"));
    snprintf(bn, sizeof bn, "%s", scratch_path("bn.dot"));
    o.graph_plain = plain;
    o.graph_batchnorm = bn;
    tg_lesson_bn_result *r = malloc(sizeof *r);
    assert_int_equal(tg_lesson_bn_run(&o, r), TG_OK);
    const char *paths[2] = {plain, bn};
    for (int i = 0; i < 2; i++) {
        static char text[1 << 17];
        FILE *in = fopen(paths[i], "r");
        assert_non_null(in);
        size_t n = fread(text, 1, sizeof text - 1, in);
        text[n] = '\0';
        fclose(in);
        assert_non_null(strstr(text, "digraph"));
        assert_non_null(strstr(text, "fc1.weight"));
        assert_non_null(strstr(text, "fc9.weight"));
        assert_non_null(strstr(text, "layer8"));
        assert_non_null(strstr(text, "grad "));
        assert_true((strstr(text, "bn1.weight") != NULL) == (i == 1)); /* batchnorm's own parameters */
    }
    free(r);
}

static void test_bad_options_are_refused(void **state) {
    (void)state;
    tg_lesson_bn_result *r = malloc(sizeof *r);
    tg_lesson_bn_opts o = tg_lesson_bn_defaults();
    o.depth = 20;
    assert_int_equal(tg_lesson_bn_run(&o, r), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "depth 20");
    o = tg_lesson_bn_defaults();
    o.batch = 1;
    assert_int_equal(tg_lesson_bn_run(&o, r), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "batchnorm needs a batch");
    o = tg_lesson_bn_defaults();
    o.momentum = 1;
    assert_int_equal(tg_lesson_bn_run(&o, r), TG_ERR_ARG);
    free(r);
}

int main(void) {
    /* The numbers do not depend on the thread count; one thread spares these
     * runs of small tensors the OpenMP barriers, slow on a busy machine. */
    tg_set_num_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchnorm_trains_faster_and_survives_the_higher_lr),
        cmocka_unit_test(test_gradients_and_activations_fade_with_depth_only_without_batchnorm),
        cmocka_unit_test_setup_teardown(test_first_step_graphs_show_each_layer_with_its_gradient, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test(test_bad_options_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
