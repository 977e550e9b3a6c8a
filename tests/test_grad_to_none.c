/* Set-to-none gradients: tg_set_grad_to_none makes ->grad NULL, the next
 * backward pass writes the gradient (not added to anything), parameters it
 * does not reach keep NULL and optimizers skip them; tg_params_parallel
 * visits every gradient element once, in one region. */
#include "testing.h"

/* loss = sum(w * c) for w [3]: dL/dw = c */
static tg_tensor *weighted_sum(tg_tape *t, tg_tensor *w) {
    return tg_sum(t, tg_mul(t, w, T64(t, SHAPE(3), 2, -1, 0.5)), NULL, 0, false);
}

static void test_set_grad_to_none_makes_every_trainable_grad_null(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_param(p, "w", TG_F64, SHAPE(3), TG_INIT_ONES, NULL);
    tg_tensor *r = tg_buffer(p, "running", TG_F64, SHAPE(3), TG_INIT_ONES, NULL);
    assert_non_null(w->grad);
    tg_set_grad_to_none(p);
    assert_null(w->grad);
    assert_null(r->grad); /* buffers never had one */
    tg_set_grad_to_none(NULL);
    tg_params_free(p);
}

static void test_backward_after_set_to_none_writes_the_gradient_instead_of_adding(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_param(p, "w", TG_F64, SHAPE(3), TG_INIT_ONES, NULL);
    tg_tape *t = tg_tape_new();
    tg_tensor *storage = w->grad;
    for (int i = 0; i < 3; i++) tg_set(w->grad, i, 100.0); /* stale values that must not survive */
    tg_set_grad_to_none(p);
    assert_int_equal(tg_backward(t, weighted_sum(t, w), NULL), TG_OK);
    assert_ptr_equal(w->grad, storage); /* the parameter's own memory, no allocation */
    ASSERT_VALUES(w->grad, 0, 2, -1, 0.5);
    /* without clearing, a second pass accumulates as usual */
    tg_tape_reset(t);
    assert_int_equal(tg_backward(t, weighted_sum(t, w), NULL), TG_OK);
    ASSERT_VALUES(w->grad, 0, 4, -2, 1);
    tg_tape_free(t);
    tg_params_free(p);
}

static void test_a_parameter_backward_does_not_reach_keeps_a_null_grad_and_sgd_skips_it(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *used = tg_param(p, "used", TG_F64, SHAPE(3), TG_INIT_ONES, NULL);
    tg_tensor *unused = tg_param(p, "unused", TG_F64, SHAPE(3), TG_INIT_ONES, NULL);
    tg_optim *opt = tg_sgd_new(p, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .weight_decay = 0.5});
    tg_tape *t = tg_tape_new();
    tg_set_grad_to_none(p);
    assert_int_equal(tg_backward(t, weighted_sum(t, used), NULL), TG_OK);
    assert_null(unused->grad);
    uint64_t version = unused->version;
    assert_int_equal(tg_optim_step(opt), TG_OK);
    ASSERT_VALUES(unused, 0, 1, 1, 1); /* zeros would have decayed it to 0.95 */
    assert_int_equal(unused->version, version);
    /* used: w -= 0.1 * (c + 0.5 w) = 1 - 0.1 * (2.5, -0.5, 1) */
    ASSERT_VALUES(used, 1e-15, 0.75, 1.05, 0.9);
    tg_tape_free(t);
    tg_optim_free(opt);
    tg_params_free(p);
}

static void test_zero_grad_after_set_to_none_gives_zeros_again(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_param(p, "w", TG_F32, SHAPE(2), TG_INIT_ONES, NULL);
    tg_set(w->grad, 0, 5.0);
    tg_set_grad_to_none(p);
    tg_zero_grad(p);
    assert_non_null(w->grad);
    ASSERT_VALUES(w->grad, 0, 0, 0);
    tg_params_free(p);
}

static void test_clip_grad_norm_skips_null_gradients(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *a = tg_param(p, "a", TG_F64, SHAPE(2), TG_INIT_ZEROS, NULL);
    tg_tensor *b = tg_param(p, "b", TG_F64, SHAPE(2), TG_INIT_ZEROS, NULL);
    tg_set(a->grad, 0, 3.0);
    tg_set(a->grad, 1, 4.0);
    b->grad = NULL;
    double norm;
    assert_int_equal(tg_clip_grad_norm(p, 1.0, &norm), TG_OK);
    assert_true(norm == 5.0);
    ASSERT_VALUES(a->grad, 1e-6, 0.6, 0.8);
    assert_null(b->grad);
    tg_params_free(p);
}

/* a steady loop with set-to-none: the tape allocates nothing after step 1 */
static void test_set_to_none_training_loop_allocates_nothing_after_the_first_step(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_rng rng = tg_rng_new(5);
    tg_tensor *w = tg_param(p, "w", TG_F32, SHAPE(64, 32), TG_INIT_KAIMING_UNIFORM, &rng);
    tg_optim *opt = tg_sgd_new(p, (tg_sgd_opts){.lr = 0.01, .momentum = 0.9});
    tg_tape *t = tg_tape_new();
    size_t capacity = 0;
    uint64_t allocations = 0;
    for (int step = 0; step < 20; step++) {
        tg_tensor *x = tg_normal(t, &rng, TG_F32, SHAPE(128, 64), 0, 1);
        tg_tensor *loss = tg_mean(t, tg_square(t, tg_tanh(t, tg_matmul(t, x, w))), NULL, 0, false);
        tg_set_grad_to_none(p);
        assert_int_equal(tg_backward(t, loss, NULL), TG_OK);
        assert_int_equal(tg_optim_step(opt), TG_OK);
        tg_tape_reset(t);
        if (step == 0) {
            capacity = tg_tape_arena_capacity(t);
            allocations = tg_tape_system_allocations(t);
        }
    }
    assert_int_equal(tg_tape_arena_capacity(t), capacity);
    assert_int_equal(tg_tape_system_allocations(t), allocations);
    tg_tape_free(t);
    tg_optim_free(opt);
    tg_params_free(p);
}

/* counts visits per element of every parameter (a parallel region writes
 * disjoint ranges: each element belongs to exactly one piece) */
static void count_piece(void *context, int index, tg_tensor *param, int64_t begin, int64_t end) {
    (void)context; /* no cmocka asserts here: this runs on worker threads */
    float *seen = param->grad->data;
    for (int64_t k = begin; k < end; k++) seen[k] += 1.0f + (float)index;
}

static void test_params_parallel_visits_every_gradient_element_once(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    tg_set_num_threads(2);
    tg_params *p = tg_params_new();
    const int64_t sizes[4] = {5, 40000, 3, 70001}; /* above TG_PARALLEL_MIN in all: one region */
    for (int i = 0; i < 4; i++) {
        char name[8] = {'p', (char)('0' + i), 0};
        assert_non_null(tg_param(p, name, TG_F32, 1, &sizes[i], TG_INIT_ZEROS, NULL));
    }
    assert_non_null(tg_buffer(p, "buffer", TG_F32, SHAPE(10), TG_INIT_ZEROS, NULL));
    tg_params_at(p, 2)->grad = NULL; /* skipped */
    tg_params_parallel(p, count_piece, NULL);
    for (int i = 0; i < 4; i++) {
        const tg_tensor *g = tg_params_at(p, i)->grad;
        if (i == 2) {
            assert_null(g);
            continue;
        }
        for (int64_t k = 0; k < g->numel; k++) assert_true(tg_get(g, k) == 1.0 + i);
    }
    tg_params_free(p);
    tg_set_num_threads(threads);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_grad_to_none_makes_every_trainable_grad_null),
        cmocka_unit_test(test_backward_after_set_to_none_writes_the_gradient_instead_of_adding),
        cmocka_unit_test(test_a_parameter_backward_does_not_reach_keeps_a_null_grad_and_sgd_skips_it),
        cmocka_unit_test(test_zero_grad_after_set_to_none_gives_zeros_again),
        cmocka_unit_test(test_clip_grad_norm_skips_null_gradients),
        cmocka_unit_test(test_set_to_none_training_loop_allocates_nothing_after_the_first_step),
        cmocka_unit_test(test_params_parallel_visits_every_gradient_element_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
