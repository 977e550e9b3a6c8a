/* The CNN model of tg train (train/cnn.c): its layers, shapes and names; max
 * pooling before relu gives exactly the network with relu first; dropout
 * masks come from the seed and a checkpointed step counter; it learns small
 * synthetic images with the trainer and resumes to the same bits; bad options. */
#include "scratch_dir.h"

#include <stdlib.h>

#include "testing.h"

static tg_cnn_opts fashion_opts(tg_dtype dtype, bool batchnorm, double dropout) {
    return (tg_cnn_opts){.channels = 1, .height = 28, .width = 28, .conv = {32, 64}, .n_conv = 2, .hidden = {128},
                         .n_hidden = 1, .outputs = 10, .batchnorm = batchnorm, .dropout = dropout, .dtype = dtype};
}

static void test_the_cnn_has_named_layers_of_the_right_shapes(void **state) {
    (void)state;
    tg_cnn_opts o = fashion_opts(TG_F32, true, 0.25);
    tg_model *m = tg_cnn_new(&o, 1);
    assert_non_null(m);
    assert_string_equal(m->description, "cnn 1x28x28 conv32-64 fc128-10 batchnorm dropout 0.25");
    assert_shape(tg_params_get(m->params, "conv1.weight"), SHAPE(32, 1, 3, 3));
    assert_shape(tg_params_get(m->params, "conv2.weight"), SHAPE(64, 32, 3, 3));
    assert_null(tg_params_get(m->params, "conv1.bias")); /* batchnorm's mean cancels it */
    assert_shape(tg_params_get(m->params, "bn2.running_var"), SHAPE(64));
    assert_shape(tg_params_get(m->params, "fc1.weight"), SHAPE(3136, 128)); /* 64 x 7 x 7 */
    assert_shape(tg_params_get(m->params, "fc2.weight"), SHAPE(128, 10));
    assert_int_equal(tg_params_get(m->params, "dropout.steps")->kind, TG_KIND_BUFFER);
    /* 288 + 18432 conv weights, 2 (32 + 64) batchnorm, 3136 x 128 + 128, 128 x 10 + 10 */
    assert_int_equal(tg_params_numel(m->params), 288 + 18432 + 192 + 401408 + 128 + 1280 + 10);
    /* torch's default bound 1/sqrt(fan_in): 1/3 for conv1, 1/sqrt(288) for conv2 */
    const tg_tensor *w1 = tg_params_get(m->params, "conv1.weight"), *w2 = tg_params_get(m->params, "conv2.weight");
    double max1 = 0, max2 = 0;
    for (int64_t i = 0; i < w1->numel; i++) max1 = fmax(max1, fabs(tg_get(w1, i)));
    for (int64_t i = 0; i < w2->numel; i++) max2 = fmax(max2, fabs(tg_get(w2, i)));
    assert_true(max1 <= 1.0 / 3 && max1 > 0.25 && max2 <= 1 / sqrt(288.0) && max2 > 0.05);
    tg_model_free(m);

    tg_cnn_opts plain = fashion_opts(TG_F64, false, 0);
    plain.conv[0] = 8, plain.n_conv = 1, plain.n_hidden = 0;
    m = tg_cnn_new(&plain, 1);
    assert_string_equal(m->description, "cnn 1x28x28 conv8 fc10 f64");
    assert_shape(tg_params_get(m->params, "conv1.bias"), SHAPE(8));
    assert_shape(tg_params_get(m->params, "fc1.weight"), SHAPE(8 * 14 * 14, 10));
    tg_model_free(m);
}

static void test_the_cnn_maps_images_to_logits(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(2);
    tg_cnn_opts o = fashion_opts(TG_F32, true, 0.25);
    tg_model *m = tg_cnn_new(&o, 1);
    assert_shape(m->forward(tape, m, tg_uniform(tape, &rng, TG_F32, SHAPE(4, 28, 28), 0, 1), true), SHAPE(4, 10));
    assert_shape(m->forward(tape, m, tg_uniform(tape, &rng, TG_F32, SHAPE(3, 1, 28, 28), 0, 1), false), SHAPE(3, 10));
    tg_model_free(m);
    tg_cnn_opts rgb = {.channels = 3, .height = 17, .width = 12, .conv = {4, 6, 5}, .n_conv = 3, .outputs = 2,
                       .batchnorm = true, .dtype = TG_F64}; /* 17x12 -> 8x6 -> 4x3 -> 2x1 */
    m = tg_cnn_new(&rgb, 1);
    assert_shape(tg_params_get(m->params, "fc1.weight"), SHAPE(5 * 2 * 1, 2));
    assert_shape(m->forward(tape, m, tg_uniform(tape, &rng, TG_F64, SHAPE(2, 3, 17, 12), 0, 1), true), SHAPE(2, 2));
    tg_model_free(m);
}

/* The model runs conv -> batchnorm -> max pool -> relu; the same network with
 * relu before pooling, built here from the model's own parameters, gives the
 * same logits and gradients. */
static void test_pooling_before_relu_is_the_network_with_relu_first(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(4);
    tg_cnn_opts o = {.channels = 2, .height = 9, .width = 8, .conv = {3, 4}, .n_conv = 2, .hidden = {6},
                     .n_hidden = 1, .outputs = 3, .batchnorm = true, .dtype = TG_F64};
    tg_model *m = tg_cnn_new(&o, 7);
    tg_tensor *x = tg_normal(tape, &rng, TG_F64, SHAPE(5, 2, 9, 8), 0, 1);
    const int64_t labels[5] = {0, 2, 1, 1, 0};
    tg_params *p = m->params;
    int n = tg_params_count(p);
    double *first = calloc((size_t)tg_params_numel(p), sizeof *first);
    tg_tensor *logits[2];
    for (int pass = 0; pass < 2; pass++) {
        tg_zero_grad(p);
        tg_tensor *y;
        if (pass == 0) {
            y = m->forward(tape, m, x, true);
        } else { /* by hand, relu first; the batchnorm running statistics move twice, unused here */
            tg_batchnorm_state bn[2];
            for (int k = 0; k < 2; k++) {
                char name[32];
                snprintf(name, sizeof name, "bn%d", k + 1);
                assert_int_equal(tg_batchnorm_init(&bn[k], p, name, TG_F64, o.conv[k]), TG_OK);
            }
            y = x;
            for (int k = 0; k < 2; k++) {
                char name[32];
                snprintf(name, sizeof name, "conv%d.weight", k + 1);
                y = tg_conv2d(tape, y, tg_params_get(p, name), NULL, (tg_conv2d_opts){.padding = {1, 1}});
                y = tg_max_pool2d(tape, tg_relu(tape, tg_batchnorm(tape, y, &bn[k], true)),
                                  (tg_pool2d_opts){.kernel = {2, 2}});
            }
            y = tg_relu(tape, tg_linear(tape, tg_flatten(tape, y), tg_params_get(p, "fc1.weight"),
                                        tg_params_get(p, "fc1.bias")));
            y = tg_linear(tape, y, tg_params_get(p, "fc2.weight"), tg_params_get(p, "fc2.bias"));
        }
        logits[pass] = y;
        assert_int_equal(tg_backward(tape, tg_cross_entropy(tape, y, 5, labels), NULL), TG_OK);
        int64_t at = 0;
        for (int i = 0; i < n; i++) {
            const tg_tensor *w = tg_params_at(p, i);
            if (w->kind != TG_KIND_PARAM) continue;
            for (int64_t j = 0; j < w->numel; j++, at++) {
                double g = tg_get(w->grad, j);
                if (pass == 0) first[at] = g;
                else if (fabs(g - first[at]) > 1e-12) fail_msg("%s[%lld]: %g vs %g", w->name, (long long)j, g, first[at]);
            }
        }
    }
    for (int64_t i = 0; i < logits[0]->numel; i++) assert_true(fabs(tg_get(logits[0], i) - tg_get(logits[1], i)) < 1e-12);
    free(first);
    tg_model_free(m);
}

static void test_dropout_masks_come_from_the_seed_and_a_checkpointed_step_counter(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(5);
    tg_cnn_opts o = {.channels = 1, .height = 8, .width = 8, .conv = {4}, .n_conv = 1, .hidden = {64},
                     .n_hidden = 1, .outputs = 3, .dropout = 0.5, .dtype = TG_F32};
    tg_model *a = tg_cnn_new(&o, 3), *b = tg_cnn_new(&o, 3);
    tg_tensor *x = tg_uniform(tape, &rng, TG_F32, SHAPE(6, 8, 8), -1, 1);
    tg_tensor *steps = tg_params_get(a->params, "dropout.steps");
    uint64_t first = tg_tensor_hash(a->forward(tape, a, x, true));
    assert_true(tg_item(steps) == 1);
    assert_true(tg_tensor_hash(b->forward(tape, b, x, true)) == first);      /* same seed, same step: same mask */
    uint64_t second = tg_tensor_hash(a->forward(tape, a, x, true));
    assert_true(second != first);                                            /* the next step: another mask */
    uint64_t eval = tg_tensor_hash(a->forward(tape, a, x, false));           /* evaluation: no dropout, */
    assert_true(tg_item(steps) == 2);                                        /* no step counted */
    assert_true(eval != second);
    /* a model given the counter (as a checkpoint does) draws the mask that comes next */
    tg_tensor *c = tg_params_get(b->params, "dropout.steps");
    tg_set(c, 0, 2);
    assert_true(tg_tensor_hash(a->forward(tape, a, x, true)) == tg_tensor_hash(b->forward(tape, b, x, true)));
    tg_model_free(a);
    tg_model_free(b);
}

/* 8x8 images of a bright horizontal bar, vertical bar or diagonal, in noise */
static tg_dataset *bars(int64_t n, uint64_t seed) {
    tg_rng rng = tg_rng_new(seed);
    float *pixels = malloc(sizeof *pixels * (size_t)(n * 64));
    int64_t *labels = malloc(sizeof *labels * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        int64_t label = (int64_t)tg_rng_below(&rng, 3), where = 1 + (int64_t)tg_rng_below(&rng, 6);
        labels[i] = label;
        for (int r = 0; r < 8; r++)
            for (int c = 0; c < 8; c++) {
                bool on = label == 0 ? r == where : label == 1 ? c == where : r == c;
                pixels[i * 64 + r * 8 + c] = (float)((on ? 1.0 : 0.0) + 0.3 * tg_rng_normal(&rng));
            }
    }
    tg_dataset *ds = tg_dataset_from(TG_F32, 3, (const int64_t[]){n, 8, 8}, pixels, labels, NULL, 0);
    free(pixels);
    free(labels);
    return ds;
}

static tg_model *bars_model(void) {
    tg_cnn_opts o = {.channels = 1, .height = 8, .width = 8, .conv = {8, 8}, .n_conv = 2, .hidden = {16},
                     .n_hidden = 1, .outputs = 3, .batchnorm = true, .dropout = 0.25, .dtype = TG_F32};
    return tg_cnn_new(&o, 9);
}

/* Trains 3 epochs of 300 images; with stop_at, stops there and resumes from a checkpoint. */
static uint64_t train_bars(const tg_dataset *train, const tg_dataset *test, int64_t stop_at, double *accuracy) {
    tg_model *m = bars_model();
    tg_optim *opt = tg_sgd_new(m->params, (tg_sgd_opts){.lr = 0.05, .momentum = 0.9});
    tg_fit_opts fit = {.epochs = 3, .batch_size = 32, .dtype = TG_F32, .seed = 1, .max_steps = stop_at,
                       .checkpoint_path = stop_at ? scratch_path("cnn.tg") : NULL};
    tg_trainer *tr = tg_trainer_new(m, opt, train, test, &fit);
    assert_non_null(tr);
    assert_int_equal(tg_trainer_fit(tr), TG_OK);
    if (stop_at) {
        tg_trainer_free(tr);
        tg_optim_free(opt);
        tg_model_free(m);
        m = bars_model();
        opt = tg_sgd_new(m->params, (tg_sgd_opts){.lr = 0.05, .momentum = 0.9});
        fit.max_steps = 0;
        tr = tg_trainer_new(m, opt, train, test, &fit);
        assert_int_equal(tg_trainer_resume(tr, scratch_path("cnn.tg")), TG_OK);
        assert_int_equal(tg_trainer_fit(tr), TG_OK);
    }
    const tg_history *h = tg_trainer_history(tr);
    *accuracy = h->epochs[h->n_epochs - 1].test_accuracy;
    uint64_t fingerprint = store_fingerprint(m->params);
    tg_trainer_free(tr);
    tg_optim_free(opt);
    tg_model_free(m);
    return fingerprint;
}

static void test_the_cnn_learns_bars_and_resumes_to_the_same_bits(void **state) {
    (void)state;
    tg_dataset *train = bars(300, 1), *test = bars(150, 2);
    double accuracy, resumed_accuracy;
    uint64_t unbroken = train_bars(train, test, 0, &accuracy);
    print_message("bars: test accuracy %.3f after 3 epochs\n", accuracy);
    assert_true(accuracy > 0.9);
    assert_true(train_bars(train, test, 13, &resumed_accuracy) == unbroken); /* mid-epoch: dropout and batchnorm too */
    assert_true(resumed_accuracy == accuracy);
    tg_dataset_free(train);
    tg_dataset_free(test);
}

static void test_bad_cnn_options_are_errors(void **state) {
    (void)state;
    tg_cnn_opts o = fashion_opts(TG_F32, true, 0.25);
    assert_null(tg_cnn_new(NULL, 1));
    assert_error_mentions(tg_last_error(), "tg_cnn_new: options are NULL");
    o.n_conv = 0;
    assert_null(tg_cnn_new(&o, 1));
    assert_error_mentions(tg_last_error(), "0 convolutions, 1 to 6 allowed");
    o = fashion_opts(TG_F32, true, 0.25);
    o.conv[2] = 8, o.conv[3] = 8, o.conv[4] = 8, o.n_conv = 5; /* 28 halves only 4 times */
    assert_null(tg_cnn_new(&o, 1));
    assert_error_mentions(tg_last_error(), "5 pooling blocks need images of at least 32x32, got 28x28");
    o = fashion_opts(TG_F32, true, 1.0);
    assert_null(tg_cnn_new(&o, 1));
    assert_error_mentions(tg_last_error(), "dropout 1 is outside [0, 1)");
    o = fashion_opts(TG_F32, true, 0.25);
    o.conv[1] = 0;
    assert_null(tg_cnn_new(&o, 1));
    assert_error_mentions(tg_last_error(), "convolution 2 has 0 channels");
    o = fashion_opts(TG_F32, true, 0.25);
    o.channels = 0;
    assert_null(tg_cnn_new(&o, 1));
    assert_error_mentions(tg_last_error(), "0 input channels");
}

int main(void) {
#define TEST(name) cmocka_unit_test_setup_teardown(name, tape_setup, tape_teardown)
    const struct CMUnitTest tests[] = {
        TEST(test_the_cnn_has_named_layers_of_the_right_shapes),
        TEST(test_the_cnn_maps_images_to_logits),
        TEST(test_pooling_before_relu_is_the_network_with_relu_first),
        TEST(test_dropout_masks_come_from_the_seed_and_a_checkpointed_step_counter),
        cmocka_unit_test_setup_teardown(test_the_cnn_learns_bars_and_resumes_to_the_same_bits, scratch_setup,
                                        scratch_teardown),
        TEST(test_bad_cnn_options_are_errors),
    };
#undef TEST
    return cmocka_run_group_tests(tests, NULL, NULL);
}
