/* The tape: arena memory kept across resets, named scopes, the no-grad
 * switch, and the sticky first error. */
#include "testing.h"

static int setup(void **state) {
    *state = tg_tape_new();
    return *state ? 0 : -1;
}

static int teardown(void **state) {
    tg_tape_free(*state);
    return 0;
}

/* ---- arena ---- */

static void test_alloc_is_64_byte_aligned(void **state) {
    tg_tape *t = *state;
    for (size_t bytes = 1; bytes < 300; bytes += 37) {
        void *p = tg_tape_alloc(t, bytes);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 64, 0);
    }
}

static void test_arena_grows_by_itself_beyond_its_first_block(void **state) {
    tg_tape *t = *state;
    size_t first = tg_tape_arena_capacity(t);
    assert_true(first > 0);
    tg_tensor *big = tg_zeros(t, TG_F64, SHAPE(3 * (int64_t)first / 8)); /* 3x the first block */
    assert_non_null(big);
    assert_true(tg_tape_arena_capacity(t) >= 4 * first);
    assert_true(tg_tape_arena_used(t) >= 3 * first);
    assert_int_equal(tg_tape_status(t), TG_OK);
}

static void test_reset_forgets_nodes_but_keeps_capacity(void **state) {
    tg_tape *t = *state;
    for (int i = 0; i < 4; i++) assert_non_null(tg_ones(t, TG_F32, SHAPE(512, 512))); /* 4 MiB */
    tg_tensor *x = tg_ones(t, TG_F64, SHAPE(3));
    assert_int_equal(tg_requires_grad(x), TG_OK);
    assert_non_null(tg_exp(t, x));
    assert_int_equal(tg_tape_node_count(t), 1);
    size_t capacity = tg_tape_arena_capacity(t);
    assert_true(capacity >= (size_t)4 << 20);

    tg_tape_reset(t);
    assert_int_equal(tg_tape_arena_capacity(t), capacity);
    assert_int_equal(tg_tape_arena_used(t), 0);
    assert_int_equal(tg_tape_node_count(t), 0);
    assert_null(tg_tape_node(t, 0));

    /* the same work again fits without asking the system for memory */
    uint64_t allocations = tg_tape_system_allocations(t);
    for (int i = 0; i < 4; i++) assert_non_null(tg_ones(t, TG_F32, SHAPE(512, 512)));
    assert_int_equal(tg_tape_system_allocations(t), allocations);
    assert_int_equal(tg_tape_arena_capacity(t), capacity);
}

/* One training step of a small two-layer network: forward, backward, update. */
static void training_step(tg_tape *t, tg_params *p, tg_optim *opt, const tg_tensor *x_data) {
    tg_rng rng = tg_rng_new(3);
    tg_tensor *w1 = tg_param(p, "w1", TG_F32, SHAPE(64, 128), TG_INIT_KAIMING_UNIFORM, &rng);
    tg_tensor *w2 = tg_param(p, "w2", TG_F32, SHAPE(128, 8), TG_INIT_KAIMING_UNIFORM, &rng);
    tg_tensor *x = tg_detach(t, x_data);
    tg_tensor *h = tg_relu(t, tg_matmul(t, x, w1));
    tg_tensor *y = tg_tanh(t, tg_matmul(t, h, w2));
    tg_tensor *loss = tg_mean(t, tg_square(t, y), NULL, 0, false);
    assert_non_null(loss);
    tg_zero_grad(p);
    assert_int_equal(tg_backward(t, loss, NULL), TG_OK);
    assert_int_equal(tg_optim_step(opt), TG_OK);
    tg_tape_reset(t);
}

static void test_steady_training_loop_allocates_nothing_after_the_first_step(void **state) {
    tg_tape *t = *state;
    tg_params *p = tg_params_new();
    tg_optim *opt = tg_sgd_new(p, (tg_sgd_opts){.lr = 0.01, .momentum = 0.9});
    tg_tape *data_tape = tg_tape_new();
    tg_rng rng = tg_rng_new(11);
    tg_tensor *x_data = tg_normal(data_tape, &rng, TG_F32, SHAPE(1024, 64), 0, 1); /* 256 KiB */
    assert_non_null(opt);
    assert_non_null(x_data);

    training_step(t, p, opt, x_data);
    size_t capacity = tg_tape_arena_capacity(t);
    uint64_t allocations = tg_tape_system_allocations(t);
    assert_true(capacity > (size_t)1 << 20); /* the step outgrew the first block */
    for (int step = 1; step < 100; step++) {
        training_step(t, p, opt, x_data);
        if (tg_tape_system_allocations(t) != allocations || tg_tape_arena_capacity(t) != capacity) {
            print_error("step %d: %llu system allocations (was %llu), capacity %zu (was %zu)\n", step,
                        (unsigned long long)tg_tape_system_allocations(t), (unsigned long long)allocations,
                        tg_tape_arena_capacity(t), capacity);
            fail();
        }
    }
    tg_tape_free(data_tape);
    tg_optim_free(opt);
    tg_params_free(p);
}

/* ---- scopes ---- */

static tg_tensor *leaf(tg_tape *t) {
    tg_tensor *x = T64(t, SHAPE(2), 0.5, 1.5);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    return x;
}

static void test_scopes_nest_and_tag_every_node(void **state) {
    tg_tape *t = *state;
    tg_tensor *x = leaf(t);
    assert_null(tg_tape_scope(t));
    assert_non_null(tg_exp(t, x)); /* node 0: top level */
    assert_int_equal(tg_tape_push_scope(t, "a"), TG_OK);
    assert_string_equal(tg_tape_scope(t), "a");
    assert_non_null(tg_exp(t, x)); /* node 1: a */
    assert_int_equal(tg_tape_push_scope(t, "b"), TG_OK);
    assert_string_equal(tg_tape_scope(t), "a/b");
    assert_non_null(tg_exp(t, x)); /* node 2: a/b */
    assert_non_null(tg_neg(t, x)); /* node 3: a/b */
    assert_int_equal(tg_tape_pop_scope(t), TG_OK);
    assert_string_equal(tg_tape_scope(t), "a");
    assert_non_null(tg_exp(t, x)); /* node 4: a */
    assert_int_equal(tg_tape_pop_scope(t), TG_OK);
    assert_null(tg_tape_scope(t));
    assert_non_null(tg_exp(t, x)); /* node 5: top level */

    const char *expected[6] = {NULL, "a", "a/b", "a/b", "a", NULL};
    assert_int_equal(tg_tape_node_count(t), 6);
    for (int i = 0; i < 6; i++) {
        const tg_node *node = tg_tape_node(t, i);
        assert_non_null(node);
        assert_int_equal(node->index, i);
        if (expected[i])
            assert_string_equal(node->scope, expected[i]);
        else
            assert_null(node->scope);
    }
    assert_int_equal(tg_tape_status(t), TG_OK);
}

static void test_pop_without_push_is_an_error(void **state) {
    tg_tape *t = *state;
    assert_int_equal(tg_tape_pop_scope(t), TG_ERR_STATE);
    assert_int_equal(tg_tape_status(t), TG_ERR_STATE);
    assert_error_mentions(tg_tape_error(t), "tg_tape_pop_scope");
    assert_error_mentions(tg_tape_error(t), "no scope");
}

static void test_empty_scope_name_is_an_error(void **state) {
    tg_tape *t = *state;
    assert_int_equal(tg_tape_push_scope(t, ""), TG_ERR_ARG);
    assert_error_mentions(tg_tape_error(t), "tg_tape_push_scope");
    assert_null(tg_tape_scope(t));
}

static void test_reset_closes_open_scopes(void **state) {
    tg_tape *t = *state;
    assert_int_equal(tg_tape_push_scope(t, "layer1"), TG_OK);
    tg_tape_reset(t);
    assert_null(tg_tape_scope(t));
    assert_int_equal(tg_tape_pop_scope(t), TG_ERR_STATE);
}

/* ---- no-grad ---- */

static void test_no_grad_records_no_nodes_and_outputs_need_no_grad(void **state) {
    tg_tape *t = *state;
    tg_tensor *x = leaf(t);
    assert_true(tg_tape_grad_enabled(t));
    bool was = tg_tape_set_grad_enabled(t, false);
    assert_true(was);
    assert_false(tg_tape_grad_enabled(t));
    tg_tensor *y = tg_mul(t, x, x);
    tg_tensor *z = tg_sum(t, y, NULL, 0, false);
    assert_non_null(z);
    ASSERT_VALUES(y, 0, 0.25, 2.25); /* values are still computed */
    assert_true(tg_item(z) == 2.5);
    assert_int_equal(tg_tape_node_count(t), 0);
    assert_false(y->requires_grad);
    assert_false(z->requires_grad);
    assert_null(z->node);
    assert_false(tg_tape_set_grad_enabled(t, was));
    assert_true(tg_tape_grad_enabled(t));

    tg_tensor *w = tg_mul(t, x, x);
    assert_true(w->requires_grad);
    assert_int_equal(tg_tape_node_count(t), 1);
}

static void test_backward_through_a_no_grad_result_is_an_error(void **state) {
    tg_tape *t = *state;
    tg_tensor *x = leaf(t);
    tg_tape_set_grad_enabled(t, false);
    tg_tensor *z = tg_sum(t, tg_square(t, x), NULL, 0, false);
    tg_tape_set_grad_enabled(t, true);
    assert_int_not_equal(tg_backward(t, z, NULL), TG_OK);
    assert_null(x->grad);
}

/* ---- errors ---- */

static void test_first_error_is_sticky(void **state) {
    tg_tape *t = *state;
    tg_tensor *a = T64(t, SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    tg_tensor *b = T64(t, SHAPE(2, 2), 1, 2, 3, 4);
    assert_null(tg_matmul(t, a, b)); /* first: inner dimensions 3 vs 2 */
    assert_null(tg_add(t, a, b));    /* second: broadcasting */
    assert_int_equal(tg_tape_status(t), TG_ERR_SHAPE);
    assert_error_mentions(tg_tape_error(t), "tg_matmul");
    assert_error_mentions(tg_tape_error(t), "[2,3]");
    assert_error_mentions(tg_tape_error(t), "[2,2]");
    assert_null(strstr(tg_tape_error(t), "tg_add"));
    /* the thread's last error is the latest failure */
    assert_error_mentions(tg_last_error(), "tg_add");
}

static void test_a_chain_of_ops_is_checked_once_at_the_end(void **state) {
    tg_tape *t = *state;
    tg_tensor *a = T64(t, SHAPE(3), 1, 2, 3);
    tg_tensor *b = T64(t, SHAPE(2), 1, 2);
    tg_tensor *loss = tg_sum(t, tg_exp(t, tg_mul(t, tg_add(t, a, b), a)), NULL, 0, false);
    assert_null(loss); /* NULL propagated through mul, exp and sum */
    assert_error_mentions(tg_tape_error(t), "tg_add");
    assert_error_mentions(tg_tape_error(t), "[3]");
    assert_error_mentions(tg_tape_error(t), "[2]");
}

static void test_clear_error_forgets_the_failure(void **state) {
    tg_tape *t = *state;
    assert_int_equal(tg_tape_fail(t, TG_ERR_ARG, "tg_test: first %d", 1), TG_ERR_ARG);
    assert_int_equal(tg_tape_fail(t, TG_ERR_SHAPE, "tg_test: second"), TG_ERR_SHAPE);
    assert_string_equal(tg_tape_error(t), "tg_test: first 1");
    assert_int_equal(tg_tape_status(t), TG_ERR_ARG);
    tg_tape_clear_error(t);
    assert_int_equal(tg_tape_status(t), TG_OK);
    assert_string_equal(tg_tape_error(t), "");
    /* the next failure is kept again */
    tg_tape_fail(t, TG_ERR_SHAPE, "tg_test: third");
    assert_string_equal(tg_tape_error(t), "tg_test: third");
}

static void test_fail_may_be_given_the_last_error_as_its_message(void **state) {
    tg_tape *t = *state;
    tg_set_error(TG_ERR_SHAPE, "tg_test: shape [4,-2]");
    tg_tape_fail(t, TG_ERR_SHAPE, "%s", tg_last_error());
    assert_string_equal(tg_tape_error(t), "tg_test: shape [4,-2]");
    assert_string_equal(tg_last_error(), "tg_test: shape [4,-2]");
}

static void test_reset_clears_the_error(void **state) {
    tg_tape *t = *state;
    tg_tape_fail(t, TG_ERR_ARG, "tg_test: broken");
    tg_tape_reset(t);
    assert_int_equal(tg_tape_status(t), TG_OK);
    assert_string_equal(tg_tape_error(t), "");
}

static void test_null_tape_is_reported_not_crashed_on(void **state) {
    (void)state;
    assert_int_equal(tg_tape_status(NULL), TG_ERR_ARG);
    assert_int_equal(tg_tape_push_scope(NULL, "a"), TG_ERR_ARG);
    assert_int_equal(tg_tape_pop_scope(NULL), TG_ERR_ARG);
    assert_int_equal(tg_tape_node_count(NULL), 0);
    assert_null(tg_tape_alloc(NULL, 16));
    tg_tape_reset(NULL);
    tg_tape_free(NULL);
}

static void test_scratch_is_one_reused_buffer_that_survives_reset(void **state) {
    tg_tape *t = *(tg_tape **)state;
    unsigned char *a = tg_tape_scratch(t, 1000);
    assert_non_null(a);
    assert_int_equal((uintptr_t)a % 64, 0);
    memset(a, 7, 1000);
    assert_ptr_equal(tg_tape_scratch(t, 500), a); /* smaller: the same buffer */
    size_t capacity = tg_tape_arena_capacity(t);
    uint64_t allocations = tg_tape_system_allocations(t);
    unsigned char *b = tg_tape_scratch(t, 1 << 20); /* larger: grows once */
    assert_non_null(b);
    b[(1 << 20) - 1] = 1;
    assert_true(tg_tape_arena_capacity(t) == capacity + (1 << 20) - 1024); /* 1000 rounded up to 64s */
    assert_int_equal(tg_tape_system_allocations(t), allocations + 1);
    tg_tape_reset(t);
    capacity = tg_tape_arena_capacity(t);
    assert_ptr_equal(tg_tape_scratch(t, 1 << 20), b); /* kept across reset, no allocation */
    assert_int_equal(tg_tape_system_allocations(t), allocations + 1);
    assert_int_equal(tg_tape_arena_capacity(t), capacity);
    assert_non_null(tg_tape_scratch(t, 0));
    assert_null(tg_tape_scratch(NULL, 10));
}

/* rounding SIZE_MAX up to 64 bytes used to wrap to a tiny request */
static void test_alloc_and_scratch_of_impossible_sizes_fail_with_a_message(void **state) {
    tg_tape *t = *(tg_tape **)state;
    size_t sizes[] = {SIZE_MAX, SIZE_MAX - 63, SIZE_MAX / 2 + 1, (size_t)1 << 62};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        assert_null(tg_tape_alloc(t, sizes[i]));
        assert_int_equal(tg_tape_status(t), TG_ERR_NOMEM);
        assert_error_mentions(tg_tape_error(t), "tg_tape_alloc");
        tg_tape_clear_error(t);
        assert_null(tg_tape_scratch(t, sizes[i]));
        assert_int_equal(tg_tape_status(t), TG_ERR_NOMEM);
        assert_error_mentions(tg_tape_error(t), "tg_tape_scratch");
        tg_tape_clear_error(t);
    }
    /* the tape still works */
    void *p = tg_tape_alloc(t, 100);
    assert_non_null(p);
    memset(p, 1, 100);
    assert_non_null(tg_tape_scratch(t, 100));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alloc_is_64_byte_aligned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_grows_by_itself_beyond_its_first_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_forgets_nodes_but_keeps_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_steady_training_loop_allocates_nothing_after_the_first_step, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scopes_nest_and_tag_every_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pop_without_push_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_scope_name_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_closes_open_scopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_grad_records_no_nodes_and_outputs_need_no_grad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backward_through_a_no_grad_result_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_error_is_sticky, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_chain_of_ops_is_checked_once_at_the_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clear_error_forgets_the_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_may_be_given_the_last_error_as_its_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_clears_the_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_tape_is_reported_not_crashed_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scratch_is_one_reused_buffer_that_survives_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_and_scratch_of_impossible_sizes_fail_with_a_message, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("tape", tests, NULL, NULL);
}
