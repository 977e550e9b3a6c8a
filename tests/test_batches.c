/* Mini-batches (batch, stochastic and mini-batch gradient descent are batch
 * sizes) and learning-rate schedules (values from torch 1.13's schedulers). */
#include "testing.h"

static void test_an_epoch_visits_every_sample_once_in_shuffled_order(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(5);
    tg_batches *b = tg_batches_new(10, 4, false, &rng);
    assert_int_equal(tg_batches_per_epoch(b), 3);
    int seen[10] = {0}, sizes[3], batches = 0, in_order = 1, previous = -1;
    const int64_t *idx;
    int64_t count;
    while (tg_batches_next(b, &idx, &count)) {
        sizes[batches++] = (int)count;
        for (int64_t i = 0; i < count; i++) {
            seen[idx[i]]++;
            if (idx[i] < previous) in_order = 0;
            previous = (int)idx[i];
        }
    }
    assert_int_equal(batches, 3);
    assert_int_equal(sizes[0], 4);
    assert_int_equal(sizes[1], 4);
    assert_int_equal(sizes[2], 2);
    for (int i = 0; i < 10; i++) assert_int_equal(seen[i], 1);
    assert_false(in_order); /* shuffled (this seed) */
    assert_int_equal(tg_batches_epoch(b), 1);
    assert_true(tg_batches_next(b, &idx, &count)); /* the next epoch begins */
    tg_batches_free(b);
}

static void test_without_rng_batches_are_in_order_and_drop_last_skips_the_remainder(void **state) {
    (void)state;
    tg_batches *b = tg_batches_new(10, 4, true, NULL);
    assert_int_equal(tg_batches_per_epoch(b), 2);
    const int64_t *idx;
    int64_t count, expected = 0;
    while (tg_batches_next(b, &idx, &count)) {
        assert_int_equal(count, 4);
        for (int64_t i = 0; i < count; i++) assert_int_equal(idx[i], expected++);
    }
    assert_int_equal(expected, 8);
    tg_batches_free(b);
    assert_null(tg_batches_new(0, 4, false, NULL));
    assert_error_mentions(tg_last_error(), "tg_batches_new");
    assert_null(tg_batches_new(5, 0, false, NULL));
}

static void test_same_seed_gives_the_same_order(void **state) {
    (void)state;
    tg_rng r1 = tg_rng_new(9), r2 = tg_rng_new(9);
    tg_batches *a = tg_batches_new(50, 50, false, &r1), *b = tg_batches_new(50, 50, false, &r2);
    const int64_t *ia, *ib;
    int64_t na, nb;
    for (int epoch = 0; epoch < 3; epoch++) {
        assert_true(tg_batches_next(a, &ia, &na) && tg_batches_next(b, &ib, &nb));
        assert_int_equal(na, nb);
        assert_memory_equal(ia, ib, sizeof(int64_t) * (size_t)na);
        assert_false(tg_batches_next(a, &ia, &na) || tg_batches_next(b, &ib, &nb));
    }
    tg_batches_free(a);
    tg_batches_free(b);
}

/* Fits y = 2x - 1 with batches of `batch_size` for `epochs`; returns the final full-batch loss. */
static double fit_line(int64_t batch_size, int epochs, double lr) {
    enum { N = 64 };
    double xs[N], ys[N];
    for (int i = 0; i < N; i++) {
        xs[i] = -1 + 2.0 * i / (N - 1);
        ys[i] = 2 * xs[i] - 1;
    }
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_param(p, "w", TG_F64, SHAPE(1), TG_INIT_ZEROS, NULL);
    tg_tensor *b = tg_param(p, "b", TG_F64, SHAPE(1), TG_INIT_ZEROS, NULL);
    tg_optim *opt = tg_sgd_new(p, (tg_sgd_opts){.lr = lr});
    tg_rng rng = tg_rng_new(1);
    tg_batches *batches = tg_batches_new(N, batch_size, false, &rng);
    tg_tape *t = tg_tape_new();
    const int64_t *idx;
    int64_t count;
    for (int e = 0; e < epochs; e++) {
        while (tg_batches_next(batches, &idx, &count)) {
            tg_tensor *x = tg_index_select(t, tg_tensor_from(t, TG_F64, SHAPE(N), xs), 0, count, idx);
            tg_tensor *y = tg_index_select(t, tg_tensor_from(t, TG_F64, SHAPE(N), ys), 0, count, idx);
            tg_tensor *loss = tg_mse(t, tg_add(t, tg_mul(t, x, w), b), y);
            tg_zero_grad(p);
            assert_int_equal(tg_backward(t, loss, NULL), TG_OK);
            assert_int_equal(tg_optim_step(opt), TG_OK);
            tg_tape_reset(t);
        }
    }
    tg_tensor *x = tg_tensor_from(t, TG_F64, SHAPE(N), xs), *y = tg_tensor_from(t, TG_F64, SHAPE(N), ys);
    double loss = tg_item(tg_mse(t, tg_add(t, tg_mul(t, x, w), b), y));
    tg_tape_free(t);
    tg_batches_free(batches);
    tg_optim_free(opt);
    tg_params_free(p);
    return loss;
}

static void test_batch_stochastic_and_mini_batch_descent_all_fit_a_line(void **state) {
    (void)state;
    assert_true(fit_line(64, 300, 0.5) < 1e-6); /* batch: one step per epoch */
    assert_true(fit_line(1, 20, 0.05) < 1e-6);  /* stochastic: 64 steps per epoch */
    assert_true(fit_line(16, 60, 0.2) < 1e-6);  /* mini-batch */
}

static void test_learning_rate_schedules_match_pytorch(void **state) {
    (void)state;
    const double cosine[11] = {0.1, 0.0977975432333, 0.0914057647469, 0.0814503363532, 0.0689057647469, 0.055,
                               0.0410942352531, 0.0285496636468, 0.0185942352531, 0.0122024567667, 0.01};
    for (int s = 0; s <= 10; s++) assert_float_equal(tg_lr_cosine(0.1, 0.01, s, 10), cosine[s], 1e-12);
    assert_float_equal(tg_lr_cosine(0.1, 0.01, 11, 10), 0.01, 0);
    const double step[8] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025};
    for (int s = 0; s < 8; s++) assert_float_equal(tg_lr_step_decay(0.1, s, 3, 0.5), step[s], 1e-15);
    assert_float_equal(tg_lr_warmup(0.1, 0, 4), 0.025, 1e-15);
    assert_float_equal(tg_lr_warmup(0.1, 3, 4), 0.1, 1e-15);
    assert_float_equal(tg_lr_warmup(0.1, 9, 4), 0.1, 1e-15);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_epoch_visits_every_sample_once_in_shuffled_order),
        cmocka_unit_test(test_without_rng_batches_are_in_order_and_drop_last_skips_the_remainder),
        cmocka_unit_test(test_same_seed_gives_the_same_order),
        cmocka_unit_test(test_batch_stochastic_and_mini_batch_descent_all_fit_a_line),
        cmocka_unit_test(test_learning_rate_schedules_match_pytorch),
    };
    return cmocka_run_group_tests_name("batches", tests, NULL, NULL);
}
