/* Fusion: pointwise chains (and the sums that end them) computed in one pass,
 * recorded as one node; the same bits as the ops one by one (values and
 * gradients), whatever the thread count; pending values, scopes, errors. */
#include "testing.h"

#include "ops/reduce_pass.h" /* tg_row_sum_feed: the streaming sum fused passes use */

/* relu(x * a + b) for x [rows, cols], a [cols], b [rows, 1], on t */
static tg_tensor *affine_relu(tg_tape *t, tg_tensor *x, tg_tensor *a, tg_tensor *b) {
    return tg_relu(t, tg_add(t, tg_mul(t, x, a), b));
}

typedef struct {
    uint64_t y, gx, ga, gb;
} affine_hashes;

/* values and gradients of affine_relu (inputs from a fixed seed), in a
 * fusion scope or not, with fusion on or off */
static affine_hashes run_affine(bool scope, bool fusion_on, tg_dtype dtype) {
    tg_set_fusion_min(fusion_on ? 0 : TG_FUSION_OFF);
    tg_tape *t = tg_tape_new();
    tg_rng rng = tg_rng_new(3);
    tg_tensor *x = tg_normal(t, &rng, dtype, SHAPE(67, 301), 0, 1);
    tg_tensor *a = tg_normal(t, &rng, dtype, SHAPE(301), 0, 1);
    tg_tensor *b = tg_normal(t, &rng, dtype, SHAPE(67, 1), 0, 1);
    tg_tensor *g = tg_normal(t, &rng, dtype, SHAPE(67, 301), 0, 1);
    tg_tensor *in[3] = {x, a, b};
    for (int i = 0; i < 3; i++) assert_int_equal(tg_requires_grad(in[i]), TG_OK);
    if (scope) assert_int_equal(tg_fuse_begin(t), TG_OK);
    tg_tensor *y = affine_relu(t, x, a, b);
    if (scope) assert_int_equal(tg_fuse_end(t, 1, &y), TG_OK);
    assert_false(tg_is_pending(y));
    assert_int_equal(tg_backward(t, y, &(tg_backward_opts){.grad_output = g}), TG_OK);
    affine_hashes h = {tg_tensor_hash(y), tg_tensor_hash(x->grad), tg_tensor_hash(a->grad), tg_tensor_hash(b->grad)};
    tg_tape_free(t);
    tg_set_fusion_min(0);
    return h;
}

static void test_a_fused_chain_gives_the_bits_of_the_ops_one_by_one(void **state) {
    (void)state;
    for (int d = 0; d < 2; d++) {
        tg_dtype dtype = d ? TG_F64 : TG_F32;
        affine_hashes unfused = run_affine(false, false, dtype), fused = run_affine(true, true, dtype);
        assert_true(fused.y == unfused.y);
        assert_true(fused.gx == unfused.gx); /* backward passes run fused as well */
        assert_true(fused.ga == unfused.ga);
        assert_true(fused.gb == unfused.gb);
    }
}

static void test_inside_a_scope_values_wait_until_the_scope_ends(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2, 2), 1, -2, 3, -4);
    tg_tensor *a = T64(tape, SHAPE(2), 10, 100);
    assert_int_equal(tg_fuse_begin(tape), TG_OK);
    tg_tensor *u = tg_mul(tape, x, a);
    tg_tensor *y = tg_relu(tape, tg_add_scalar(tape, u, 1.0));
    assert_true(tg_is_pending(u) && tg_is_pending(y));
    assert_null(y->data);
    assert_shape(y, SHAPE(2, 2));
    assert_int_equal(tg_tape_node_count(tape), 0); /* nothing recorded yet */
    assert_int_equal(tg_fuse_end(tape, 1, &y), TG_OK);
    ASSERT_VALUES(y, 0, 11, 0, 31, 0);
    assert_true(tg_is_pending(u)); /* an intermediate: computed inside the pass, never stored */
    assert_int_equal(tg_tape_node_count(tape), 1);
}

static void test_a_fused_pass_is_recorded_as_one_node_listing_its_steps(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(3), 1, -2, 3);
    tg_tensor *a = T64(tape, SHAPE(3), 0.5, 0.5, 0.5);
    tg_tensor *b = T64(tape, SHAPE(1), -1);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    assert_int_equal(tg_fuse_begin(tape), TG_OK);
    tg_tensor *y = tg_relu(tape, tg_add(tape, tg_mul(tape, x, a), b));
    assert_int_equal(tg_fuse_end(tape, 1, &y), TG_OK);
    ASSERT_VALUES(y, 0, 0, 0, 0.5);
    assert_int_equal(tg_tape_node_count(tape), 1);
    const tg_node *node = tg_tape_node(tape, 0);
    assert_string_equal(node->op->name, "fused");
    assert_int_equal(node->n_inputs, 3); /* x, a, b: what the pass reads */
    char text[64];
    node->op->describe(node, text, sizeof text);
    assert_string_equal(text, "mul add relu");
    /* its backward runs the steps' rules: d/dx = a where the pre-activation is positive */
    tg_tensor *gx;
    assert_int_equal(tg_grad(tape, 1, &y, (tg_tensor *[]){T64(tape, SHAPE(3), 1, 1, 1)}, 1, &x, &gx, NULL), TG_OK);
    ASSERT_VALUES(gx, 0, 0, 0, 0.5);
}

/* sum patterns: every element, rows (last axis), columns (first axis) of a
 * pending expression, against the unfused sums, at 1 and 2 threads */
static uint64_t fused_sums_hash(bool fusion_on, int threads) {
    tg_set_fusion_min(fusion_on ? 0 : TG_FUSION_OFF);
    int was = tg_get_num_threads();
    tg_set_num_threads(threads);
    tg_tape *t = tg_tape_new();
    tg_rng rng = tg_rng_new(9);
    tg_tensor *x = tg_normal(t, &rng, TG_F32, SHAPE(301, 700), 0, 1);
    tg_tensor *c = tg_normal(t, &rng, TG_F32, SHAPE(700), 0, 1);
    assert_int_equal(tg_fuse_begin(t), TG_OK);
    tg_tensor *e = tg_square(t, tg_sub(t, x, c));
    tg_tensor *sums[4] = {tg_sum(t, e, NULL, 0, false), tg_mean(t, e, (const int[]){1}, 1, false),
                          tg_sum(t, e, (const int[]){0}, 1, true), tg_mul(t, e, c)};
    assert_int_equal(tg_fuse_end(t, 4, sums), TG_OK);
    uint64_t h = 0;
    for (int i = 0; i < 4; i++) h = h * 31 + tg_tensor_hash(sums[i]);
    tg_tape_free(t);
    tg_set_num_threads(was);
    tg_set_fusion_min(0);
    return h;
}

static void test_fused_sums_give_the_bits_of_tg_sum_for_any_thread_count(void **state) {
    (void)state;
    uint64_t reference = fused_sums_hash(false, 1);
    assert_true(fused_sums_hash(true, 1) == reference);
    assert_true(fused_sums_hash(true, 2) == reference);
    assert_true(fused_sums_hash(false, 2) == reference);
}

/* Rows shorter than half a chunk share chunks (a [C] vector read from a
 * repeated copy): y = square((x - c) * s + b) for x, b [N, C], c [C], s a
 * scalar, with y, its column sums, row sums and total, and the gradients of
 * x and c; hashed, for fusion on or off at 1 or 2 threads. */
static uint64_t short_rows_hash(bool fusion_on, int threads, tg_dtype dtype, int64_t N, int64_t C) {
    tg_set_fusion_min(fusion_on ? 0 : TG_FUSION_OFF);
    int was = tg_get_num_threads();
    tg_set_num_threads(threads);
    tg_tape *t = tg_tape_new();
    tg_rng rng = tg_rng_new((uint64_t)(N * 1000 + C));
    tg_tensor *x = tg_normal(t, &rng, dtype, SHAPE(N, C), 0, 1), *b = tg_normal(t, &rng, dtype, SHAPE(N, C), 0, 1);
    tg_tensor *c = tg_normal(t, &rng, dtype, SHAPE(C), 0, 1), *s = tg_normal(t, &rng, dtype, SHAPE(1), 0, 1);
    tg_tensor *g = tg_normal(t, &rng, dtype, SHAPE(N, C), 0, 1);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    assert_int_equal(tg_requires_grad(c), TG_OK);
    assert_int_equal(tg_fuse_begin(t), TG_OK);
    tg_tensor *y = tg_square(t, tg_add(t, tg_mul(t, tg_sub(t, x, c), s), b));
    tg_tensor *out[4] = {y, tg_sum(t, y, (const int[]){0}, 1, false), tg_sum(t, y, (const int[]){1}, 1, false),
                         tg_sum(t, y, NULL, 0, false)};
    assert_int_equal(tg_fuse_end(t, 4, out), TG_OK);
    assert_int_equal(tg_backward(t, y, &(tg_backward_opts){.grad_output = g}), TG_OK);
    uint64_t h = 0;
    for (int i = 0; i < 4; i++) h = h * 31 + tg_tensor_hash(out[i]);
    h = h * 31 + tg_tensor_hash(x->grad);
    h = h * 31 + tg_tensor_hash(c->grad);
    tg_tape_free(t);
    tg_set_num_threads(was);
    tg_set_fusion_min(0);
    return h;
}

static void test_short_rows_several_to_a_chunk_give_the_bits_of_the_ops_one_by_one(void **state) {
    (void)state;
    static const int64_t shapes[][2] = {{67, 3}, {5, 10}, {300, 100}, {700, 100}, {129, 256}, {300, 256}, {1, 200}, {70, 257}, {2000, 64}};
    for (int d = 0; d < 2; d++)
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            tg_dtype dtype = d ? TG_F64 : TG_F32;
            int64_t N = shapes[k][0], C = shapes[k][1];
            uint64_t reference = short_rows_hash(false, 1, dtype, N, C);
            assert_true(short_rows_hash(true, 1, dtype, N, C) == reference);
            assert_true(short_rows_hash(true, 2, dtype, N, C) == reference);
        }
}

/* a row sum fed in pieces of any sizes has the bits of the whole-row sum */
static void test_a_row_sum_fed_in_pieces_equals_the_whole_row_sum(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(21);
    tg_tensor *x = tg_normal(tape, &rng, TG_F32, SHAPE(1000), 0, 10);
    tg_tensor *d = tg_normal(tape, &rng, TG_F64, SHAPE(1000), 0, 10);
    const int64_t pieces[] = {1, 7, 31, 32, 33, 100, 5, 64, 0, 727};
    tg_row_sum_state sf, sd;
    tg_row_sum_start(&sf);
    tg_row_sum_start(&sd);
    for (int64_t k = 0, at = 0; k < 10; at += pieces[k++]) {
        tg_row_sum_feed_f32(&sf, (const float *)x->data + at, pieces[k]);
        tg_row_sum_feed_f64(&sd, (const double *)d->data + at, pieces[k]);
    }
    assert_true(tg_row_sum_finish(&sf) == tg_row_sum_f32(x->data, 1000));
    assert_true(tg_row_sum_finish(&sd) == tg_row_sum_f64(d->data, 1000));
}

/* batchnorm (a composite that fuses by itself): fused and unfused give the
 * same output, running statistics and gradients */
static uint64_t batchnorm_hash(bool fusion_on) {
    tg_set_fusion_min(fusion_on ? 0 : TG_FUSION_OFF);
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng = tg_rng_new(4);
    tg_batchnorm_state bn;
    assert_int_equal(tg_batchnorm_init(&bn, p, "bn", TG_F32, 100), TG_OK);
    tg_tensor *x = tg_param(p, "x", TG_F32, SHAPE(64, 100), TG_INIT_NORMAL, &rng);
    tg_tensor *g = tg_normal(t, &rng, TG_F32, SHAPE(64, 100), 0, 1);
    tg_tensor *y = tg_batchnorm(t, x, &bn, true);
    assert_int_equal(tg_backward(t, y, &(tg_backward_opts){.grad_output = g}), TG_OK);
    const tg_tensor *parts[6] = {y, bn.running_mean, bn.running_var, x->grad, bn.gamma->grad, bn.beta->grad};
    uint64_t h = 0;
    for (int i = 0; i < 6; i++) h = h * 31 + tg_tensor_hash(parts[i]);
    tg_tape_free(t);
    tg_params_free(p);
    tg_set_fusion_min(0);
    return h;
}

static void test_batchnorm_fused_and_unfused_give_the_same_bits(void **state) {
    (void)state;
    assert_true(batchnorm_hash(true) == batchnorm_hash(false));
}

/* one pass sums x - s and its squares (two nodes, s = x's first values),
 * small ops make the statistics, one pass makes the output */
static void test_batchnorm_reads_x_once_for_its_statistics_and_once_for_its_output(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_batchnorm_state bn;
    assert_int_equal(tg_batchnorm_init(&bn, p, "bn", TG_F64, 3), TG_OK);
    tg_tensor *x = T64(tape, SHAPE(2, 3), 1, 2, 3, 4, 6, 9);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    assert_non_null(tg_batchnorm(tape, x, &bn, true));
    /* besides the reshapes of gamma and beta (views): the statistics, the
     * variance, the mean, a = gamma / sqrt(var + eps), y = (x - mean) a + beta */
    const char *expected[] = {"sub mean", "sub square mean", "square sub", "add", "add_scalar rsqrt mul",
                              "sub mul add"};
    assert_int_equal(tg_tape_node_count(tape), 8);
    for (int i = 0, k = 0; i < 8; i++) {
        const tg_node *node = tg_tape_node(tape, i);
        char text[64] = "";
        if (strcmp(node->op->name, "fused") == 0) node->op->describe(node, text, sizeof text);
        if (strcmp(node->op->name, "reshape") != 0) assert_string_equal(text[0] ? text : node->op->name, expected[k++]);
    }
    tg_params_free(p);
}

/* A value read by the expressions of two outputs of one pass (d = x - c,
 * mean(d) and mean(d^2) summed together) is stored: its gradient goes back
 * summed over both, as op by op, not in two shares */
static uint64_t shared_value_grad_hash(bool fusion_on) {
    tg_set_fusion_min(fusion_on ? 0 : TG_FUSION_OFF);
    tg_tape *t = tg_tape_new();
    tg_rng rng = tg_rng_new(9);
    tg_tensor *x = tg_normal(t, &rng, TG_F32, SHAPE(37, 50), 0, 1);
    tg_tensor *c = tg_normal(t, &rng, TG_F32, SHAPE(50), 0, 1);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_fuse_begin(t);
    tg_tensor *d = tg_sub(t, x, c);
    int axis = 0;
    tg_tensor *m1 = tg_mean(t, d, &axis, 1, true), *m2 = tg_mean(t, tg_square(t, d), &axis, 1, true);
    tg_tensor *y = tg_mul(t, tg_sub(t, x, m1), m2);
    tg_fuse_end(t, 1, &y);
    tg_tensor *g = tg_normal(t, &rng, TG_F32, SHAPE(37, 50), 0, 1);
    assert_int_equal(tg_backward(t, y, &(tg_backward_opts){.grad_output = g}), TG_OK);
    uint64_t h = tg_tensor_hash(y) * 31 + tg_tensor_hash(x->grad);
    tg_tape_free(t);
    tg_set_fusion_min(0);
    return h;
}

static void test_a_value_two_outputs_read_sends_its_gradient_back_once(void **state) {
    (void)state;
    assert_true(shared_value_grad_hash(true) == shared_value_grad_hash(false));
}

/* second derivatives through fused nodes: the backward of a fused pass is
 * itself fused and recorded (create_graph) */
static tg_tensor *fused_cubic(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    tg_fuse_begin(t);
    tg_tensor *y = tg_sum(t, tg_mul(t, tg_tanh(t, tg_mul(t, in[0], in[1])), tg_square(t, in[0])), NULL, 0, false);
    tg_fuse_end(t, 1, &y);
    return y;
}

static void test_gradcheck_first_and_second_order_through_fused_passes(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(5);
    tg_tensor *x = tg_uniform(tape, &rng, TG_F64, SHAPE(3, 4), -1, 1);
    tg_tensor *w = tg_uniform(tape, &rng, TG_F64, SHAPE(4), -1, 1);
    tg_gradcheck_report report;
    assert_int_equal(tg_gradcheck(fused_cubic, NULL, 2, (tg_tensor *[]){x, w}, NULL, &report), TG_OK);
    assert_int_equal(tg_gradgradcheck(fused_cubic, NULL, 2, (tg_tensor *[]){x, w}, NULL, &report), TG_OK);
}

static void test_a_non_pointwise_op_computes_its_pending_input(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2, 2), 1, 2, 3, 4);
    assert_int_equal(tg_fuse_begin(tape), TG_OK);
    tg_tensor *h = tg_mul_scalar(tape, x, 2.0);
    assert_true(tg_is_pending(h));
    tg_tensor *y = tg_matmul(tape, h, x); /* [[2,4],[6,8]] @ [[1,2],[3,4]] */
    assert_false(tg_is_pending(h));
    ASSERT_VALUES(y, 0, 14, 20, 30, 44);
    assert_int_equal(tg_fuse_end(tape, 0, NULL), TG_OK);
}

static void test_changing_a_tensor_a_pending_value_reads_is_an_error(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2), 1, 2);
    assert_int_equal(tg_fuse_begin(tape), TG_OK);
    tg_tensor *y = tg_exp(tape, x);
    tg_set(x, 0, 5.0);
    tg_tensor_bump_version(x);
    assert_int_equal(tg_fuse_end(tape, 1, &y), TG_ERR_STATE);
    assert_error("exp", "modified in place");
}

static void test_scopes_nest_and_the_outermost_end_computes(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2), 1, 2);
    assert_int_equal(tg_fuse_begin(tape), TG_OK);
    assert_int_equal(tg_fuse_begin(tape), TG_OK);
    tg_tensor *y = tg_square(tape, x);
    assert_int_equal(tg_fuse_end(tape, 1, &y), TG_OK);
    assert_true(tg_is_pending(y)); /* the outer scope is still open */
    tg_tensor *z = tg_add_scalar(tape, y, 1.0);
    assert_int_equal(tg_fuse_end(tape, 1, &z), TG_OK);
    ASSERT_VALUES(z, 0, 2, 5);
    assert_int_equal(tg_fuse_end(tape, 0, NULL), TG_ERR_STATE);
    assert_error("tg_fuse_end", "no fusion scope");
}

/* a broadcast operand is read in place with stride 0: the arena grows by the
 * result alone, no [rows, cols] copy of the [cols] operand */
static void test_a_fused_broadcast_copies_nothing(void **state) {
    (void)state;
    tg_tensor *x = tg_zeros(tape, TG_F64, SHAPE(256, 512));
    tg_tensor *a = tg_ones(tape, TG_F64, SHAPE(512));
    size_t before = tg_tape_arena_used(tape), result = 256 * 512 * sizeof(double);
    assert_int_equal(tg_fuse_begin(tape), TG_OK);
    tg_tensor *y = tg_mul(tape, tg_add(tape, x, tg_broadcast_to(tape, a, SHAPE(256, 512))), a);
    assert_int_equal(tg_fuse_end(tape, 1, &y), TG_OK);
    assert_true(tg_tape_arena_used(tape) - before < result + result / 8);
    assert_true(tg_get(y, 256 * 512 - 1) == 1.0);
}

/* the engine writes a pending gradient straight into a parameter's gradient */
static void test_backward_writes_fused_gradients_into_the_parameters(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_param(p, "w", TG_F64, SHAPE(3), TG_INIT_ONES, NULL);
    tg_tensor *c = T64(tape, SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    /* loss = sum((c * w)^2): d/dw_j = 2 w_j sum_i c_ij^2 */
    tg_tensor *loss = tg_sum(tape, tg_square(tape, tg_mul(tape, c, w)), NULL, 0, false);
    assert_int_equal(tg_backward(tape, loss, NULL), TG_OK);
    ASSERT_VALUES(w->grad, 1e-12, 34, 58, 90);
    tg_params_free(p);
}

/* every registered op, with every pointwise op of every size fused: first
 * and second derivatives through fused passes and fused backward passes */
static void test_every_registry_entry_passes_gradcheck_with_every_size_fused(void **state) {
    (void)state;
    int failed = 0;
    for (int k = 0; k < tg_registry_count(); k++) {
        const tg_op_spec *spec = tg_registry_at(k);
        tg_spec_check r;
        tg_status st = tg_gradcheck_spec(spec, TG_F64, NULL, &r);
        if (st) {
            failed++;
            print_message("FAIL %s: %s %s\n", spec->name, r.first.passed ? "" : r.first.message,
                          r.second.passed ? "" : r.second.message);
        }
    }
    assert_int_equal(failed, 0);
}

int main(void) {
    tg_set_fusion_min(0); /* small tensors fused too, to see every case */
#define T(name) cmocka_unit_test_setup_teardown(name, tape_setup, tape_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_fused_chain_gives_the_bits_of_the_ops_one_by_one),
        T(test_inside_a_scope_values_wait_until_the_scope_ends),
        T(test_a_fused_pass_is_recorded_as_one_node_listing_its_steps),
        cmocka_unit_test(test_fused_sums_give_the_bits_of_tg_sum_for_any_thread_count),
        cmocka_unit_test(test_short_rows_several_to_a_chunk_give_the_bits_of_the_ops_one_by_one),
        T(test_a_row_sum_fed_in_pieces_equals_the_whole_row_sum),
        cmocka_unit_test(test_batchnorm_fused_and_unfused_give_the_same_bits),
        cmocka_unit_test(test_a_value_two_outputs_read_sends_its_gradient_back_once),
        T(test_batchnorm_reads_x_once_for_its_statistics_and_once_for_its_output),
        T(test_gradcheck_first_and_second_order_through_fused_passes),
        T(test_a_non_pointwise_op_computes_its_pending_input),
        T(test_changing_a_tensor_a_pending_value_reads_is_an_error),
        T(test_scopes_nest_and_the_outermost_end_computes),
        T(test_a_fused_broadcast_copies_nothing),
        T(test_backward_writes_fused_gradients_into_the_parameters),
        cmocka_unit_test(test_every_registry_entry_passes_gradcheck_with_every_size_fused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
