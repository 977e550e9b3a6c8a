/* Indexing ops: index_select / index_add (embedding lookup and its adjoint),
 * gather / scatter_add (torch.gather semantics). Known values (worked by hand
 * from the PyTorch definitions), repeated indices accumulating, out-of-range
 * errors naming op, value and shape, gradients against central differences
 * (f64), double backward, and bitwise determinism across thread counts. */
#include "central_difference.h"

/* gradient against central differences (tests/central_difference.h) */
static void check_gradient(cd_fn f, tg_tensor *x) { cd_check(f, NULL, 1, &x, 0); }

/* ---- index_select ---- */
static void test_index_select_picks_rows_with_repeats(void **state) {
    (void)state;
    tg_tensor *table = T64(tape, SHAPE(4, 2), 0, 1, 10, 11, 20, 21, 30, 31);
    tg_tensor *y = tg_index_select(tape, table, 0, 3, (const int64_t[]){3, 0, 3});
    assert_shape(y, SHAPE(3, 2));
    ASSERT_VALUES(y, 0, 30, 31, 0, 1, 30, 31);
    tg_tensor *none = tg_index_select(tape, table, 0, 0, NULL);
    assert_shape(none, SHAPE(0, 2));
}

static void test_index_select_along_an_inner_axis(void **state) {
    (void)state;
    /* x[i][j][k] = 6 i + 2 j + k, picking j = 2, 2, 0 */
    tg_tensor *y = tg_index_select(tape, iota(TG_F32, SHAPE(2, 3, 2)), -2, 3, (const int64_t[]){2, 2, 0});
    assert_shape(y, SHAPE(2, 3, 2));
    assert_int_equal(y->dtype, TG_F32);
    ASSERT_VALUES(y, 0, 4, 5, 4, 5, 0, 1, 10, 11, 10, 11, 6, 7);
    tg_tensor *cols = tg_index_select(tape, iota(TG_F64, SHAPE(2, 3)), 1, 2, (const int64_t[]){1, 1});
    ASSERT_VALUES(cols, 0, 1, 1, 4, 4);
}

static void test_index_select_rejects_out_of_range_indices(void **state) {
    (void)state;
    tg_tensor *table = iota(TG_F64, SHAPE(4, 2));
    assert_null(tg_index_select(tape, table, 0, 2, (const int64_t[]){0, 4}));
    assert_error("tg_index_select", "index[1] = 4 is out of range for axis 0 of f64[4,2]");
    assert_null(tg_index_select(tape, table, 1, 1, (const int64_t[]){-1}));
    assert_error("tg_index_select", "index[0] = -1 is out of range for axis 1 of f64[4,2]");
    assert_null(tg_index_select(tape, table, 0, 2, NULL));
    assert_error("tg_index_select", "index is NULL");
    assert_null(tg_index_select(tape, table, 0, -1, (const int64_t[]){0}));
    assert_error("tg_index_select", "-1 indices");
    assert_null(tg_index_select(tape, table, 2, 1, (const int64_t[]){0}));
    assert_error("tg_index_select", "axis 2 is out of range");
    assert_null(tg_index_select(tape, NULL, 0, 1, (const int64_t[]){0}));
    assert_error("tg_index_select", "NULL");
}

/* ---- index_add ---- */
static void test_index_add_accumulates_repeated_indices(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(3, 2), 1, 2, 3, 4, 5, 6);
    tg_tensor *y = tg_index_add(tape, x, 0, 4, 3, (const int64_t[]){2, 0, 2});
    assert_shape(y, SHAPE(4, 2));
    ASSERT_VALUES(y, 0, 3, 4, 0, 0, 6, 8, 0, 0);
    /* along axis 1: columns 0, 1, 2 go to 1, 1, 0 */
    tg_tensor *z = tg_index_add(tape, T64(tape, SHAPE(2, 3), 1, 2, 3, 4, 5, 6), 1, 2, 3, (const int64_t[]){1, 1, 0});
    assert_shape(z, SHAPE(2, 2));
    ASSERT_VALUES(z, 0, 3, 3, 6, 9);
    tg_tensor *empty = tg_index_add(tape, tg_tensor_empty(tape, TG_F32, SHAPE(0, 2)), 0, 3, 0, NULL);
    assert_shape(empty, SHAPE(3, 2));
    ASSERT_VALUES(empty, 0, 0, 0, 0, 0, 0, 0);
}

static void test_index_add_rejects_bad_counts_and_indices(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(3, 2));
    assert_null(tg_index_add(tape, x, 0, 4, 2, (const int64_t[]){0, 1}));
    assert_error("tg_index_add", "f64[3,2] needs 3 indices along axis 0");
    assert_null(tg_index_add(tape, x, 0, -1, 3, (const int64_t[]){0, 1, 2}));
    assert_error("tg_index_add", "size >= 0");
    assert_null(tg_index_add(tape, x, 0, 4, 3, (const int64_t[]){0, 4, 1}));
    assert_error("tg_index_add", "index[1] = 4 is out of range for axis 0 of the output f64[4,2]");
    assert_null(tg_index_add(tape, NULL, 0, 4, 3, (const int64_t[]){0, 1, 2}));
    assert_error("tg_index_add", "NULL");
}

static tg_tensor *apply_index_select(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_index_select(t, in[0], 1, 5, (const int64_t[]){2, 0, 2, 3, 2});
}
static tg_tensor *apply_index_add(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_index_add(t, in[0], 0, 3, 4, (const int64_t[]){1, 1, 0, 1});
}

static void test_index_select_and_index_add_gradients_match_central_differences(void **state) {
    (void)state;
    check_gradient(apply_index_select, iota(TG_F64, SHAPE(2, 4, 3)));
    check_gradient(apply_index_add, iota(TG_F64, SHAPE(4, 3)));
}

static void test_index_select_gradient_sums_repeated_rows(void **state) {
    (void)state;
    tg_tensor *table = iota(TG_F64, SHAPE(3, 2));
    assert_int_equal(tg_requires_grad(table), TG_OK);
    int64_t index[3] = {2, 0, 2};
    tg_tensor *y = tg_index_select(tape, table, 0, 3, index);
    index[0] = 1; /* the op kept its own copy */
    tg_tensor *g = T64(tape, SHAPE(3, 2), 1, 2, 3, 4, 5, 6);
    assert_int_equal(tg_backward(tape, y, &(tg_backward_opts){.grad_output = g}), TG_OK);
    ASSERT_VALUES(table->grad, 0, 3, 4, 0, 0, 6, 8);
}

/* grad of L = sum(w * index_select(x)) in x is index_add(w); differentiating
 * that again in w goes through index_add's backward, index_select. */
static void test_index_select_supports_double_backward(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(3, 2)), *w = T64(tape, SHAPE(2, 2), 1, 2, 3, 4);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    assert_int_equal(tg_requires_grad(w), TG_OK);
    const int64_t index[2] = {2, 2};
    tg_tensor *loss = tg_sum(tape, tg_mul(tape, tg_index_select(tape, x, 0, 2, index), w), NULL, 0, false);
    tg_tensor *gx;
    assert_int_equal(tg_grad(tape, 1, &loss, NULL, 1, &x, &gx, &(tg_grad_opts){.create_graph = true}), TG_OK);
    ASSERT_VALUES(gx, 0, 0, 0, 0, 0, 4, 6);
    tg_tensor *v = T64(tape, SHAPE(3, 2), 1, 10, 100, 1000, 5, 7);
    assert_int_equal(tg_backward(tape, gx, &(tg_backward_opts){.grad_output = v}), TG_OK);
    ASSERT_VALUES(w->grad, 0, 5, 7, 5, 7);
}

/* ---- gather ---- */
static void test_gather_matches_torch_gather_on_both_axes(void **state) {
    (void)state;
    /* torch.gather([[1,2],[3,4]], 1, [[0,0],[1,0]]) = [[1,1],[4,3]] */
    tg_tensor *x = T64(tape, SHAPE(2, 2), 1, 2, 3, 4);
    tg_tensor *y = tg_gather(tape, x, 1, SHAPE(2, 2), (const int64_t[]){0, 0, 1, 0});
    assert_shape(y, SHAPE(2, 2));
    ASSERT_VALUES(y, 0, 1, 1, 4, 3);
    /* axis 0: y[i][j] = x[index[i][j]][j] */
    tg_tensor *x3 = T64(tape, SHAPE(3, 3), 1, 2, 3, 4, 5, 6, 7, 8, 9);
    tg_tensor *rows = tg_gather(tape, x3, 0, SHAPE(2, 3), (const int64_t[]){0, 1, 2, 2, 0, 0});
    assert_shape(rows, SHAPE(2, 3));
    ASSERT_VALUES(rows, 0, 1, 5, 9, 7, 2, 3);
}

static void test_gather_with_an_index_smaller_than_x(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(3, 4)); /* x[i][j] = 4 i + j */
    ASSERT_VALUES(tg_gather(tape, x, 1, SHAPE(2, 2), (const int64_t[]){3, 0, 1, 1}), 0, 3, 0, 5, 5);
    ASSERT_VALUES(tg_gather(tape, x, 0, SHAPE(2, 2), (const int64_t[]){2, 1, 0, 2}), 0, 8, 5, 0, 9);
    /* more entries along the axis than x has is fine */
    ASSERT_VALUES(tg_gather(tape, x, 1, SHAPE(1, 6), (const int64_t[]){0, 1, 2, 3, 3, 3}), 0, 0, 1, 2, 3, 3, 3);
}

static void test_gather_along_a_middle_axis(void **state) {
    (void)state;
    /* x[i][r][k] = 6 i + 2 r + k; y[i][j][k] = x[i][index[i][j][k]][k] */
    tg_tensor *x = iota(TG_F32, SHAPE(2, 3, 2));
    tg_tensor *y = tg_gather(tape, x, 1, SHAPE(2, 2, 2), (const int64_t[]){2, 0, 1, 1, 0, 2, 2, 2});
    assert_int_equal(y->dtype, TG_F32);
    ASSERT_VALUES(y, 0, 4, 1, 2, 3, 6, 11, 10, 11);
}

static void test_gather_picks_one_label_column_per_row(void **state) {
    (void)state;
    tg_tensor *logits = iota(TG_F64, SHAPE(3, 4));
    tg_tensor *picked = tg_gather(tape, logits, 1, SHAPE(3, 1), (const int64_t[]){2, 0, 3});
    assert_shape(picked, SHAPE(3, 1));
    ASSERT_VALUES(picked, 0, 2, 4, 11);
}

static void test_gather_rejects_bad_indices_and_shapes(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(2, 4));
    assert_null(tg_gather(tape, x, 1, SHAPE(2, 1), (const int64_t[]){0, 4}));
    assert_error("tg_gather", "index value 4 (element 1 of index [2,1]) is out of range for axis 1 of f64[2,4]");
    assert_null(tg_gather(tape, x, 0, SHAPE(1, 2), (const int64_t[]){-1, 0}));
    assert_error("tg_gather", "index value -1");
    assert_null(tg_gather(tape, x, 1, SHAPE(2), (const int64_t[]){0, 1}));
    assert_error("tg_gather", "index has 1 dimensions, f64[2,4] has 2");
    assert_null(tg_gather(tape, x, 1, SHAPE(3, 1), (const int64_t[]){0, 1, 2}));
    assert_error("tg_gather", "index [3,1] is larger than f64[2,4] outside axis 1");
    assert_null(tg_gather(tape, x, 1, SHAPE(2, 1), NULL));
    assert_error("tg_gather", "index is NULL");
    assert_null(tg_gather(tape, x, 2, SHAPE(2, 1), (const int64_t[]){0, 1}));
    assert_error("tg_gather", "axis 2");
    assert_null(tg_gather(tape, NULL, 1, SHAPE(2, 1), (const int64_t[]){0, 1}));
    assert_error("tg_gather", "NULL");
}

/* ---- scatter_add ---- */
static void test_scatter_add_accumulates_repeated_indices(void **state) {
    (void)state;
    tg_tensor *src = T64(tape, SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    tg_tensor *y = tg_scatter_add(tape, src, 1, (const int64_t[]){2, 4}, (const int64_t[]){3, 0, 3, 1, 1, 2});
    assert_shape(y, SHAPE(2, 4));
    ASSERT_VALUES(y, 0, 2, 0, 0, 4, 0, 9, 6, 0);
    /* axis 0 into a larger output: y[index[i][j]][j] += src[i][j] */
    tg_tensor *s2 = T64(tape, SHAPE(2, 2), 1, 2, 3, 4);
    tg_tensor *z = tg_scatter_add(tape, s2, 0, (const int64_t[]){3, 3}, (const int64_t[]){2, 0, 2, 2});
    assert_shape(z, SHAPE(3, 3));
    ASSERT_VALUES(z, 0, 0, 2, 0, 0, 0, 0, 4, 4, 0);
}

static void test_scatter_add_rejects_bad_indices_and_shapes(void **state) {
    (void)state;
    tg_tensor *src = iota(TG_F64, SHAPE(2, 3));
    const int64_t ok[6] = {0, 1, 2, 3, 0, 1};
    assert_null(tg_scatter_add(tape, src, 1, (const int64_t[]){2, 4}, (const int64_t[]){0, 1, 2, 4, 0, 1}));
    assert_error("tg_scatter_add",
                 "index value 4 (element 3 of source f64[2,3]) is out of range for axis 1 of the output f64[2,4]");
    assert_null(tg_scatter_add(tape, src, 1, (const int64_t[]){1, 4}, ok));
    assert_error("tg_scatter_add", "source f64[2,3] is larger than the output f64[1,4] outside axis 1");
    assert_null(tg_scatter_add(tape, src, 1, (const int64_t[]){2, -4}, ok));
    assert_error("tg_scatter_add", "-4");
    assert_null(tg_scatter_add(tape, src, 1, NULL, ok));
    assert_error("tg_scatter_add", "out_shape is NULL");
    assert_null(tg_scatter_add(tape, src, 1, (const int64_t[]){2, 4}, NULL));
    assert_error("tg_scatter_add", "index is NULL");
    assert_null(tg_scatter_add(tape, NULL, 1, (const int64_t[]){2, 4}, ok));
    assert_error("tg_scatter_add", "NULL");
}

static tg_tensor *apply_gather(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_gather(t, in[0], 1, SHAPE(2, 3, 2), (const int64_t[]){0, 2, 2, 2, 3, 0, 1, 1, 1, 1, 0, 3});
}
static tg_tensor *apply_gather_rows(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_gather(t, in[0], 0, SHAPE(2, 2), (const int64_t[]){2, 1, 2, 2});
}
static tg_tensor *apply_scatter_add(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_scatter_add(t, in[0], -1, (const int64_t[]){3, 4}, (const int64_t[]){3, 3, 0, 1, 2, 1});
}
static tg_tensor *apply_scatter_add_rows(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_scatter_add(t, in[0], 0, (const int64_t[]){3, 3}, (const int64_t[]){2, 0, 2, 2});
}

static void test_gather_and_scatter_add_gradients_match_central_differences(void **state) {
    (void)state;
    check_gradient(apply_gather, iota(TG_F64, SHAPE(2, 4, 2)));
    check_gradient(apply_gather_rows, iota(TG_F64, SHAPE(3, 3)));
    check_gradient(apply_scatter_add, iota(TG_F64, SHAPE(3, 2)));
    check_gradient(apply_scatter_add_rows, iota(TG_F64, SHAPE(2, 2)));
}

static void test_gather_gradient_scatters_into_picked_columns(void **state) {
    (void)state;
    tg_tensor *x = iota(TG_F64, SHAPE(2, 3));
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *y = tg_gather(tape, x, 1, SHAPE(2, 2), (const int64_t[]){2, 2, 0, 1});
    tg_tensor *g = T64(tape, SHAPE(2, 2), 1, 2, 3, 4);
    assert_int_equal(tg_backward(tape, y, &(tg_backward_opts){.grad_output = g}), TG_OK);
    ASSERT_VALUES(x->grad, 0, 0, 0, 3, 3, 4, 0);
}

/* ---- large inputs: parallel, yet bitwise the same for any thread count and
 * equal to a serial sum in increasing index order ---- */
static void test_index_add_and_scatter_add_are_deterministic_across_threads(void **state) {
    (void)state;
    enum { N = 4096, E = 24, V = 37 };
    tg_rng rng = tg_rng_new(5);
    tg_tensor *x = tg_uniform(tape, &rng, TG_F32, SHAPE(N, E), -1.0, 1.0);
    static int64_t index[N], columns[N * E];
    for (int64_t i = 0; i < N; i++) index[i] = (i * 7919) % V;
    for (int64_t i = 0; i < N * E; i++) columns[i] = (i * 31) % 5;
    int threads = tg_get_num_threads();
    uint64_t hash_add[2], hash_scatter[2];
    for (int run = 0; run < 2; run++) {
        tg_set_num_threads(run == 0 ? 1 : 4);
        tg_tensor *added = tg_index_add(tape, x, 0, V, N, index);
        tg_tensor *scattered = tg_scatter_add(tape, tg_transpose(tape, x, 0, 1), 1, (const int64_t[]){E, 5}, columns);
        assert_non_null(added);
        assert_non_null(scattered);
        hash_add[run] = tg_tensor_hash(added);
        hash_scatter[run] = tg_tensor_hash(scattered);
        if (run == 0) {
            const float *xs = x->data;
            float reference[V][E] = {{0}};
            for (int64_t i = 0; i < N; i++)
                for (int k = 0; k < E; k++) reference[index[i]][k] += xs[i * E + k];
            assert_memory_equal(added->data, reference, sizeof reference);
        }
    }
    tg_set_num_threads(threads);
    assert_true(hash_add[0] == hash_add[1]);
    assert_true(hash_scatter[0] == hash_scatter[1]);
}

static void test_large_index_select_and_gather_agree_with_element_loops(void **state) {
    (void)state;
    enum { V = 300, E = 130, N = 500 };
    tg_tensor *table = iota(TG_F64, SHAPE(V, E));
    static int64_t index[N], picks[N * 3];
    for (int64_t i = 0; i < N; i++) index[i] = (i * 97) % V;
    for (int64_t i = 0; i < N * 3; i++) picks[i] = (i * 13) % E;
    tg_tensor *rows = tg_index_select(tape, table, 0, N, index);
    tg_tensor *picked = tg_gather(tape, table, 1, SHAPE(V, 3), picks);
    assert_non_null(rows);
    assert_non_null(picked);
    for (int64_t i = 0; i < N; i++)
        for (int64_t k = 0; k < E; k++) assert_true(tg_get(rows, i * E + k) == (double)(index[i] * E + k));
    for (int64_t i = 0; i < V; i++)
        for (int64_t j = 0; j < 3; j++) assert_true(tg_get(picked, i * 3 + j) == (double)(i * E + picks[i * 3 + j]));
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, tape_setup, tape_teardown)
    const struct CMUnitTest tests[] = {
        T(test_index_select_picks_rows_with_repeats),
        T(test_index_select_along_an_inner_axis),
        T(test_index_select_rejects_out_of_range_indices),
        T(test_index_add_accumulates_repeated_indices),
        T(test_index_add_rejects_bad_counts_and_indices),
        T(test_index_select_and_index_add_gradients_match_central_differences),
        T(test_index_select_gradient_sums_repeated_rows),
        T(test_index_select_supports_double_backward),
        T(test_gather_matches_torch_gather_on_both_axes),
        T(test_gather_with_an_index_smaller_than_x),
        T(test_gather_along_a_middle_axis),
        T(test_gather_picks_one_label_column_per_row),
        T(test_gather_rejects_bad_indices_and_shapes),
        T(test_scatter_add_accumulates_repeated_indices),
        T(test_scatter_add_rejects_bad_indices_and_shapes),
        T(test_gather_and_scatter_add_gradients_match_central_differences),
        T(test_gather_gradient_scatters_into_picked_columns),
        T(test_index_add_and_scatter_add_are_deterministic_across_threads),
        T(test_large_index_select_and_gather_agree_with_element_loops),
    };
#undef T
    return cmocka_run_group_tests_name("index", tests, NULL, NULL);
}
