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

static void test_peeking_shows_the_next_batch_without_dealing_it(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(5), same = tg_rng_new(5);
    tg_batches *b = tg_batches_new(10, 4, false, &rng), *twin = tg_batches_new(10, 4, false, &same);
    const int64_t *peeked, *idx, *twin_idx;
    int64_t peeked_count, count, twin_count;
    for (int epoch = 0; epoch < 2; epoch++) {
        for (int batch = 0; batch < 3; batch++) {
            assert_true(tg_batches_peek(b, &peeked, &peeked_count));
            assert_true(tg_batches_peek(b, &peeked, &peeked_count)); /* twice: still not dealt */
            assert_int_equal(tg_batches_position(b), batch);
            assert_true(tg_batches_next(b, &idx, &count));
            assert_true(tg_batches_next(twin, &twin_idx, &twin_count)); /* never peeked: same batches */
            assert_int_equal(peeked_count, batch < 2 ? 4 : 2);
            assert_int_equal(count, peeked_count);
            assert_int_equal(twin_count, count);
            for (int64_t i = 0; i < count; i++) {
                assert_int_equal(idx[i], peeked[i]);
                assert_int_equal(twin_idx[i], idx[i]);
            }
        }
        /* the epoch's end: its order is drawn only when it begins */
        assert_false(tg_batches_peek(b, &peeked, &peeked_count));
        assert_null(peeked);
        assert_int_equal(peeked_count, 0);
        assert_false(tg_batches_next(b, &idx, &count));
        assert_false(tg_batches_next(twin, &twin_idx, &twin_count));
    }
    assert_int_equal(tg_batches_epoch(b), 2);
    assert_false(tg_batches_peek(NULL, &peeked, &peeked_count));
    tg_batches_free(b);
    tg_batches_free(twin);
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

/* Deals `count` batches from b into out (concatenated indices, -1 for an epoch end). */
static int deal(tg_batches *b, int count, int64_t *out) {
    int n = 0;
    for (int k = 0; k < count; k++) {
        const int64_t *idx;
        int64_t size;
        if (!tg_batches_next(b, &idx, &size)) {
            out[n++] = -1;
            continue;
        }
        for (int64_t i = 0; i < size; i++) out[n++] = idx[i];
    }
    return n;
}

static void test_resuming_mid_epoch_deals_the_same_remaining_batches_and_next_epochs(void **state) {
    (void)state;
    enum { N = 10, BATCH = 3, BEFORE = 6, AFTER = 12 }; /* 4 batches + an epoch end per epoch */
    tg_rng rng_a = tg_rng_new(3);
    tg_batches *a = tg_batches_new(N, BATCH, false, &rng_a);
    int64_t dealt[AFTER * (BATCH + 1)], resumed[AFTER * (BATCH + 1)];
    deal(a, BEFORE, dealt); /* into the second epoch */
    assert_int_equal(tg_batches_epoch(a), 1);
    assert_int_equal(tg_batches_position(a), 1);
    tg_checkpoint *c = tg_checkpoint_new();
    assert_int_equal(tg_batches_export(a, c), TG_OK);
    tg_rng saved_rng = rng_a; /* the rng is the caller's to save */
    int n = deal(a, AFTER, dealt);

    tg_rng rng_b = tg_rng_new(99);
    tg_batches *b = tg_batches_new(N, BATCH, false, &rng_b);
    assert_int_equal(tg_batches_check_import(b, c), TG_OK);
    assert_int_equal(tg_batches_import(b, c), TG_OK);
    rng_b = saved_rng;
    assert_int_equal(tg_batches_epoch(b), 1);
    assert_int_equal(tg_batches_position(b), 1);
    assert_int_equal(deal(b, AFTER, resumed), n);
    assert_memory_equal(dealt, resumed, sizeof(int64_t) * (size_t)n);
    assert_int_equal(tg_batches_epoch(b), tg_batches_epoch(a));
    tg_batches_free(a);
    tg_batches_free(b);
    tg_checkpoint_free(c);
}

static void test_import_refuses_another_iterator_or_a_bad_order_and_changes_nothing(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(3);
    tg_batches *a = tg_batches_new(5, 2, false, &rng);
    const int64_t *idx;
    int64_t count;
    assert_true(tg_batches_next(a, &idx, &count));
    tg_checkpoint *c = tg_checkpoint_new();
    assert_int_equal(tg_batches_export(a, c), TG_OK);

    tg_batches *other = tg_batches_new(5, 2, true, NULL); /* drop_last: 2 batches per epoch, not 3 */
    assert_int_equal(tg_batches_import(other, c), TG_ERR_FORMAT);
    assert_error_mentions(tg_last_error(), "holds 5 samples in batches of 2 (3 per epoch), this iterator deals 5 in "
                                           "batches of 2 (2 per epoch)");
    assert_int_equal(tg_batches_position(other), 0);
    tg_batches_free(other);

    tg_batches *b = tg_batches_new(5, 2, false, NULL);
    const int64_t not_a_permutation[5] = {0, 1, 1, 3, 4}, position[5] = {5, 2, 3, 1, 0};
    tg_checkpoint *bad = tg_checkpoint_new();
    assert_int_equal(tg_checkpoint_add_bytes(bad, "batches/position", position, sizeof position), TG_OK);
    assert_int_equal(tg_checkpoint_add_bytes(bad, "batches/order", not_a_permutation, sizeof not_a_permutation),
                     TG_OK);
    assert_int_equal(tg_batches_check_import(b, bad), TG_ERR_FORMAT);
    assert_error_mentions(tg_last_error(), "not a permutation of 0..4 (entry 2 is 1)");
    assert_int_equal(tg_batches_import(b, bad), TG_ERR_FORMAT);
    const int64_t past_the_end[5] = {5, 2, 3, 4, 0};
    tg_checkpoint *late = tg_checkpoint_new();
    assert_int_equal(tg_checkpoint_add_bytes(late, "batches/position", past_the_end, sizeof past_the_end), TG_OK);
    assert_int_equal(tg_batches_import(b, late), TG_ERR_FORMAT);
    assert_error_mentions(tg_last_error(), "batch 4 of 3 in epoch 0 is not a position");
    tg_checkpoint *empty = tg_checkpoint_new();
    assert_int_equal(tg_batches_import(b, empty), TG_ERR_FORMAT); /* no records */
    tg_checkpoint_free(empty);
    assert_true(tg_batches_next(b, &idx, &count)); /* unchanged: in order from 0 */
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 1);
    tg_batches_free(a);
    tg_batches_free(b);
    tg_checkpoint_free(c);
    tg_checkpoint_free(bad);
    tg_checkpoint_free(late);
}

static void test_more_samples_than_memory_can_index_is_an_error(void **state) {
    (void)state;
    assert_null(tg_batches_new(1LL << 62, 1, false, NULL));
    assert_int_equal(tg_last_status(), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "tg_batches_new: 4611686018427387904 samples are more than memory");
    assert_null(tg_batches_new(INT64_MAX, 7, true, NULL));
    assert_error_mentions(tg_last_error(), "more than memory can index");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_epoch_visits_every_sample_once_in_shuffled_order),
        cmocka_unit_test(test_peeking_shows_the_next_batch_without_dealing_it),
        cmocka_unit_test(test_without_rng_batches_are_in_order_and_drop_last_skips_the_remainder),
        cmocka_unit_test(test_same_seed_gives_the_same_order),
        cmocka_unit_test(test_batch_stochastic_and_mini_batch_descent_all_fit_a_line),
        cmocka_unit_test(test_learning_rate_schedules_match_pytorch),
        cmocka_unit_test(test_resuming_mid_epoch_deals_the_same_remaining_batches_and_next_epochs),
        cmocka_unit_test(test_import_refuses_another_iterator_or_a_bad_order_and_changes_nothing),
        cmocka_unit_test(test_more_samples_than_memory_can_index_is_an_error),
    };
    return cmocka_run_group_tests_name("batches", tests, NULL, NULL);
}
