/* Reductions: sum, mean, sum_to, broadcast_to, max, min, logsumexp, var.
 * Known values, axes (negative, several, keepdim), errors, NULL propagation,
 * gradients against central differences (f64), and bitwise determinism of
 * large parallel reductions across thread counts. Expected values from
 * torch 1.13 (float64). */
#include "testing.h"

/* [[1,2,3],[4,5,6]] */
static tg_tensor *two_by_three(void) { return T64(tape, SHAPE(2, 3), 1, 2, 3, 4, 5, 6); }

/* 3 sin(i), i = 0..23, shaped [2,3,4]: distinct values, no ties */
static tg_tensor *sines(tg_dtype dtype) {
    tg_tensor *x = tg_tensor_empty(tape, dtype, SHAPE(2, 3, 4));
    for (int i = 0; i < 24; i++) tg_set(x, i, 3 * sin((double)i));
    return x;
}

/* ---- gradient against central differences ----
 * loss(x) = sum(w * f(x)) with fixed random weights w. */
typedef tg_tensor *(*op_fn)(tg_tape *t, tg_tensor *x);

static double weighted_loss(tg_tape *t, op_fn f, tg_tensor *x, tg_tensor *w) {
    return tg_item(tg_sum(t, tg_mul(t, f(t, x), w), NULL, 0, false));
}

static void check_gradient(op_fn f, tg_tensor *x) {
    tg_tape *t = x->tape;
    tg_rng rng = tg_rng_new(11);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *y = f(t, x);
    assert_non_null(y);
    tg_tensor *w = tg_uniform(t, &rng, TG_F64, y->ndim, y->shape, 0.5, 1.5);
    tg_tensor *loss = tg_sum(t, tg_mul(t, y, w), NULL, 0, false);
    assert_int_equal(tg_backward(t, loss, NULL), TG_OK);
    assert_non_null(x->grad);
    bool was = tg_tape_set_grad_enabled(t, false);
    const double eps = 1e-6;
    for (int64_t i = 0; i < x->numel; i++) {
        double v = tg_get(x, i);
        tg_set(x, i, v + eps);
        double up = weighted_loss(t, f, x, w);
        tg_set(x, i, v - eps);
        double down = weighted_loss(t, f, x, w);
        tg_set(x, i, v);
        double numeric = (up - down) / (2 * eps), analytic = tg_get(x->grad, i);
        if (!(fabs(numeric - analytic) <= 1e-6 + 1e-5 * fabs(numeric))) {
            print_error("element %lld: backward %.10g, central difference %.10g\n", (long long)i, analytic, numeric);
            fail();
        }
    }
    tg_tape_set_grad_enabled(t, was);
}

/* ---- sum, mean ---- */
static void test_sum_of_all_elements(void **state) {
    (void)state;
    tg_tensor *y = tg_sum(tape, two_by_three(), NULL, 0, false);
    assert_shape(y, 0, NULL);
    ASSERT_VALUES(y, 0, 21);
}

static void test_sum_over_one_axis_with_and_without_keepdim(void **state) {
    (void)state;
    tg_tensor *x = two_by_three();
    tg_tensor *cols = tg_sum(tape, x, (const int[]){0}, 1, false);
    assert_shape(cols, SHAPE(3));
    ASSERT_VALUES(cols, 0, 5, 7, 9);
    tg_tensor *rows = tg_sum(tape, x, (const int[]){1}, 1, true);
    assert_shape(rows, SHAPE(2, 1));
    ASSERT_VALUES(rows, 0, 6, 15);
}

static void test_sum_accepts_negative_axes(void **state) {
    (void)state;
    tg_tensor *y = tg_sum(tape, two_by_three(), (const int[]){-1}, 1, false);
    assert_shape(y, SHAPE(2));
    ASSERT_VALUES(y, 0, 6, 15);
}

static void test_sum_over_two_axes_keeps_the_middle_one(void **state) {
    (void)state;
    tg_tensor *x = tg_tensor_empty(tape, TG_F64, SHAPE(2, 3, 4));
    for (int i = 0; i < 24; i++) tg_set(x, i, i);
    tg_tensor *y = tg_sum(tape, x, (const int[]){0, 2}, 2, true);
    assert_shape(y, SHAPE(1, 3, 1));
    ASSERT_VALUES(y, 0, 60, 92, 124);
}

static void test_mean_divides_by_the_reduced_count(void **state) {
    (void)state;
    tg_tensor *x = two_by_three();
    ASSERT_VALUES(tg_mean(tape, x, NULL, 0, false), 1e-15, 3.5);
    ASSERT_VALUES(tg_mean(tape, x, (const int[]){0}, 1, false), 1e-15, 2.5, 3.5, 4.5);
}

/* sum over [0,-1] -> [3] plus mean over [1] of the transposed layout -> [3] */
static tg_tensor *sum_plus_mean(tg_tape *t, tg_tensor *x) {
    tg_tensor *s = tg_sum(t, x, (const int[]){0, -1}, 2, false);
    tg_tensor *m = tg_mean(t, tg_mul(t, x, x), (const int[]){0, 2}, 2, false);
    return tg_add(t, s, m);
}

static void test_sum_and_mean_gradients_match_central_differences(void **state) {
    (void)state;
    check_gradient(sum_plus_mean, sines(TG_F64));
}

static void test_reduction_axis_out_of_range_is_an_error_naming_the_shape(void **state) {
    (void)state;
    tg_tensor *x = two_by_three();
    assert_null(tg_sum(tape, x, (const int[]){2}, 1, false));
    assert_error_mentions(tg_tape_error(tape), "tg_sum");
    assert_error_mentions(tg_tape_error(tape), "axis 2");
    assert_error_mentions(tg_tape_error(tape), "f64[2,3]");
    tg_tape_clear_error(tape);
    assert_null(tg_max(tape, x, (const int[]){-3}, 1, false));
    assert_error_mentions(tg_tape_error(tape), "tg_max");
    assert_error_mentions(tg_tape_error(tape), "axis -3");
}

static void test_reduction_duplicate_axes_are_an_error(void **state) {
    (void)state;
    tg_tensor *x = two_by_three();
    assert_null(tg_mean(tape, x, (const int[]){1, -1}, 2, false));
    assert_error_mentions(tg_tape_error(tape), "tg_mean");
    assert_error_mentions(tg_tape_error(tape), "twice");
    tg_tape_clear_error(tape);
    assert_null(tg_logsumexp(tape, x, (const int[]){0, 0}, 2, false));
    assert_error_mentions(tg_tape_error(tape), "tg_logsumexp");
    tg_tape_clear_error(tape);
    assert_null(tg_var(tape, x, (const int[]){0, -2}, 2, false, true));
    assert_error_mentions(tg_tape_error(tape), "tg_var");
    assert_null(tg_tape_scope(tape));
}

/* a negative count used to be taken as "no axes" and reduce nothing */
static void test_a_negative_axis_count_is_an_error_for_every_reduction(void **state) {
    (void)state;
    tg_tensor *x = two_by_three();
    const int axes[] = {0, 1};
    assert_null(tg_sum(tape, x, axes, -3, false));
    assert_int_equal(tg_tape_status(tape), TG_ERR_ARG);
    assert_error("tg_sum: -3 axes is a negative count for f64[2,3]", "NULL and 0 mean every axis");
    assert_null(tg_mean(tape, x, axes, -1, true));
    assert_error("tg_mean", "negative count");
    assert_null(tg_max(tape, x, axes, -1, false));
    assert_error("tg_max", "negative count");
    assert_null(tg_min(tape, x, axes, -2, false));
    assert_error("tg_min", "negative count");
    assert_null(tg_logsumexp(tape, x, axes, -1, false));
    assert_error("tg_logsumexp", "negative count");
    assert_null(tg_var(tape, x, axes, -1, false, true));
    assert_error("tg_var", "negative count");
    assert_null(tg_sum(tape, x, NULL, 2, false));
    assert_error("tg_sum: 2 axes given but axes is NULL", "f64[2,3]");
    assert_null(tg_tape_scope(tape));
}

static void test_reductions_of_null_return_null(void **state) {
    (void)state;
    assert_null(tg_sum(tape, NULL, NULL, 0, false));
    assert_error_mentions(tg_tape_error(tape), "tg_sum");
    assert_null(tg_mean(tape, NULL, NULL, 0, false));
    assert_null(tg_max(tape, NULL, NULL, 0, false));
    assert_null(tg_min(tape, NULL, NULL, 0, false));
    assert_null(tg_logsumexp(tape, NULL, NULL, 0, false));
    assert_null(tg_var(tape, NULL, NULL, 0, false, true));
    assert_null(tg_tape_scope(tape));
    assert_null(tg_sum_to(tape, NULL, SHAPE(3)));
    assert_null(tg_broadcast_to(tape, NULL, SHAPE(3)));
}

/* ---- sum_to, broadcast_to ---- */
static void test_sum_to_sums_leading_and_stretched_axes(void **state) {
    (void)state;
    tg_tensor *x = two_by_three();
    tg_tensor *a = tg_sum_to(tape, x, SHAPE(3));
    assert_shape(a, SHAPE(3));
    ASSERT_VALUES(a, 0, 5, 7, 9);
    tg_tensor *b = tg_sum_to(tape, x, SHAPE(2, 1));
    assert_shape(b, SHAPE(2, 1));
    ASSERT_VALUES(b, 0, 6, 15);
    assert_ptr_equal(tg_sum_to(tape, x, SHAPE(2, 3)), x);
}

static void test_sum_to_a_shape_that_does_not_broadcast_is_an_error(void **state) {
    (void)state;
    assert_null(tg_sum_to(tape, two_by_three(), SHAPE(2)));
    assert_error_mentions(tg_tape_error(tape), "tg_sum_to");
    assert_error_mentions(tg_tape_error(tape), "f64[2,3]");
    assert_error_mentions(tg_tape_error(tape), "[2]");
}

static void test_broadcast_to_stretches_size_one_and_missing_axes(void **state) {
    (void)state;
    tg_tensor *y = tg_broadcast_to(tape, T64(tape, SHAPE(3), 1, 2, 3), SHAPE(2, 3));
    assert_shape(y, SHAPE(2, 3));
    ASSERT_VALUES(y, 0, 1, 2, 3, 1, 2, 3);
    tg_tensor *z = tg_broadcast_to(tape, T64(tape, SHAPE(2, 1), 7, 8), SHAPE(2, 2));
    ASSERT_VALUES(z, 0, 7, 7, 8, 8);
}

static void test_broadcast_to_an_incompatible_shape_is_an_error(void **state) {
    (void)state;
    assert_null(tg_broadcast_to(tape, T64(tape, SHAPE(3), 1, 2, 3), SHAPE(2, 4)));
    assert_error_mentions(tg_tape_error(tape), "tg_broadcast_to");
    assert_error_mentions(tg_tape_error(tape), "f64[3]");
    assert_error_mentions(tg_tape_error(tape), "[2,4]");
}

/* ---- max, min ---- */
static void test_max_and_min_known_values(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2, 3), 1, 5, 3, 4, 2, 6);
    ASSERT_VALUES(tg_max(tape, x, NULL, 0, false), 0, 6);
    ASSERT_VALUES(tg_min(tape, x, NULL, 0, false), 0, 1);
    ASSERT_VALUES(tg_max(tape, x, (const int[]){0}, 1, false), 0, 4, 5, 6);
    tg_tensor *rows = tg_min(tape, x, (const int[]){-1}, 1, true);
    assert_shape(rows, SHAPE(2, 1));
    ASSERT_VALUES(rows, 0, 1, 2);
    tg_tensor *s = sines(TG_F64);
    ASSERT_VALUES(tg_max(tape, s, (const int[]){0, 2}, 2, false), 1e-14, 2.971822067084611, 1.9709597961563672,
                  2.9680747398701453);
    ASSERT_VALUES(tg_min(tape, s, (const int[]){1}, 1, false), 1e-14, -2.2704074859237844, -2.8767728239894153,
                  -1.6320633326681093, -2.9999706196521103, -1.609718754001305, -2.8841924756386703,
                  -2.252961740315028, -2.538661212525512);
}

/* long rows, columns and blocks exercise every kernel path (lanes, tails, column blocks) */
static void test_max_and_min_agree_with_a_plain_loop_on_every_layout(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(5);
    for (int dt = 0; dt < 2; dt++) {
        tg_tensor *x = tg_uniform(tape, &rng, dt ? TG_F64 : TG_F32, SHAPE(37, 301), -5, 5);
        tg_tensor *row_max = tg_max(tape, x, (const int[]){1}, 1, false);
        tg_tensor *col_min = tg_min(tape, x, (const int[]){0}, 1, false);
        for (int r = 0; r < 37; r++) {
            double m = -INFINITY;
            for (int c = 0; c < 301; c++) m = fmax(m, tg_get(x, r * 301 + c));
            assert_true(tg_get(row_max, r) == m);
        }
        for (int c = 0; c < 301; c++) {
            double m = INFINITY;
            for (int r = 0; r < 37; r++) m = fmin(m, tg_get(x, r * 301 + c));
            assert_true(tg_get(col_min, c) == m);
        }
        tg_tensor *big = tg_uniform(tape, &rng, dt ? TG_F64 : TG_F32, SHAPE(100003), -5, 5); /* blocks */
        double lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 0; i < big->numel; i++) lo = fmin(lo, tg_get(big, i)), hi = fmax(hi, tg_get(big, i));
        assert_true(tg_item(tg_min(tape, big, NULL, 0, false)) == lo);
        assert_true(tg_item(tg_max(tape, big, NULL, 0, false)) == hi);
    }
}

static void test_max_propagates_nan_like_torch_amax(void **state) {
    (void)state;
    int64_t where[4] = {5, 200 + 100, 400 + 199, 600 + 30}; /* first lanes, middle, last block, short row */
    tg_tensor *x = tg_zeros(tape, TG_F32, SHAPE(4, 200));
    for (int i = 0; i < 4; i++) tg_set(x, where[i], NAN);
    tg_tensor *rows = tg_max(tape, x, (const int[]){1}, 1, false);
    for (int i = 0; i < 4; i++) assert_true(isnan(tg_get(rows, i)));
    tg_tensor *cols = tg_min(tape, x, (const int[]){0}, 1, false);
    assert_true(isnan(tg_get(cols, 5)) && isnan(tg_get(cols, 100)) && isnan(tg_get(cols, 199)));
    assert_true(tg_get(cols, 6) == 0);
    assert_true(isnan(tg_item(tg_min(tape, x, NULL, 0, false))));
    assert_true(isnan(tg_item(tg_max(tape, T64(tape, SHAPE(3), 1, NAN, 3), NULL, 0, false))));
}

static void test_max_ties_share_the_gradient_evenly(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2, 3), 1, 3, 3, 2, 2, 0);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *y = tg_max(tape, x, (const int[]){1}, 1, false);
    ASSERT_VALUES(y, 0, 3, 2);
    assert_int_equal(tg_backward(tape, y, &(tg_backward_opts){.grad_output = T64(tape, SHAPE(2), 1, 10)}), TG_OK);
    ASSERT_VALUES(x->grad, 1e-15, 0, 0.5, 0.5, 5, 5, 0);
}

static void test_min_ties_share_the_gradient_evenly(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(4), 2, 1, 1, 1);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    assert_int_equal(tg_backward(tape, tg_min(tape, x, NULL, 0, false), NULL), TG_OK);
    ASSERT_VALUES(x->grad, 1e-15, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3);
}

static void test_max_over_an_empty_axis_is_an_error(void **state) {
    (void)state;
    tg_tensor *x = tg_zeros(tape, TG_F64, SHAPE(0, 3));
    tg_tensor *ok = tg_max(tape, x, (const int[]){1}, 1, false);
    assert_shape(ok, SHAPE(0));
    assert_null(tg_max(tape, x, (const int[]){0}, 1, false));
    assert_error_mentions(tg_tape_error(tape), "tg_max");
    assert_error_mentions(tg_tape_error(tape), "empty");
    assert_error_mentions(tg_tape_error(tape), "f64[0,3]");
}

static tg_tensor *max_min_mix(tg_tape *t, tg_tensor *x) {
    tg_tensor *a = tg_max(t, x, (const int[]){0, -1}, 2, false);
    tg_tensor *b = tg_min(t, x, (const int[]){0, 2}, 2, true);
    tg_tensor *c = tg_max(t, x, NULL, 0, false);
    return tg_add(t, tg_add(t, a, tg_reshape(t, b, SHAPE(3))), c);
}

static void test_max_and_min_gradients_match_central_differences(void **state) {
    (void)state;
    check_gradient(max_min_mix, sines(TG_F64));
}

/* ---- logsumexp ---- */
static void test_logsumexp_known_values(void **state) {
    (void)state;
    tg_tensor *x = two_by_three();
    ASSERT_VALUES(tg_logsumexp(tape, x, (const int[]){1}, 1, false), 1e-13, 3.407605964444381, 6.407605964444381);
    ASSERT_VALUES(tg_logsumexp(tape, x, (const int[]){0}, 1, false), 1e-13, 4.048587351573742, 5.048587351573742,
                  6.048587351573742);
    ASSERT_VALUES(tg_logsumexp(tape, x, NULL, 0, false), 1e-13, 6.456193316018123);
    tg_tensor *k = tg_logsumexp(tape, sines(TG_F64), (const int[]){0, 2}, 2, true);
    assert_shape(k, SHAPE(1, 3, 1));
    ASSERT_VALUES(k, 1e-13, 4.104304989939518, 2.294546244037094, 3.9506481688928328);
}

static void test_logsumexp_does_not_overflow_on_large_inputs(void **state) {
    (void)state;
    ASSERT_VALUES(tg_logsumexp(tape, T64(tape, SHAPE(2), 1000, 1000), NULL, 0, false), 1e-12, 1000.69314718056);
    ASSERT_VALUES(tg_logsumexp(tape, T32(tape, SHAPE(2), 1000, 1000), NULL, 0, false), 1e-3, 1000.69314718056);
    ASSERT_VALUES(tg_logsumexp(tape, T64(tape, SHAPE(2), -1000, -1000), NULL, 0, false), 1e-12, -999.30685281944);
}

static void test_logsumexp_of_infinities_and_empty_axes_matches_torch(void **state) {
    (void)state;
    tg_tensor *minus = tg_logsumexp(tape, T64(tape, SHAPE(2), -INFINITY, -INFINITY), NULL, 0, false);
    assert_true(isinf(tg_item(minus)) && tg_item(minus) < 0);
    tg_tensor *plus = tg_logsumexp(tape, T64(tape, SHAPE(2), INFINITY, 1), NULL, 0, false);
    assert_true(isinf(tg_item(plus)) && tg_item(plus) > 0);
    tg_tensor *empty = tg_logsumexp(tape, tg_zeros(tape, TG_F64, SHAPE(0, 3)), (const int[]){0}, 1, false);
    assert_shape(empty, SHAPE(3));
    for (int i = 0; i < 3; i++) assert_true(isinf(tg_get(empty, i)) && tg_get(empty, i) < 0);
}

/* the blocked all-elements path (> 16384 elements, merged block results) */
static void test_logsumexp_of_a_long_vector_matches_a_plain_loop(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(3);
    tg_tensor *x = tg_uniform(tape, &rng, TG_F64, SHAPE(100003), -30, 30);
    double all = tg_item(tg_logsumexp(tape, x, NULL, 0, false));
    double m = -INFINITY, s = 0;
    for (int64_t i = 0; i < x->numel; i++) m = fmax(m, tg_get(x, i));
    for (int64_t i = 0; i < x->numel; i++) s += exp(tg_get(x, i) - m);
    assert_true(fabs(all - (m + log(s))) < 1e-12);
}

static tg_tensor *logsumexp_mix(tg_tape *t, tg_tensor *x) {
    tg_tensor *a = tg_logsumexp(t, x, (const int[]){0, -1}, 2, false);
    tg_tensor *b = tg_logsumexp(t, x, (const int[]){1}, 1, true);
    return tg_add(t, tg_reshape(t, a, SHAPE(1, 3, 1)), b);
}

static void test_logsumexp_gradient_matches_central_differences(void **state) {
    (void)state;
    check_gradient(logsumexp_mix, sines(TG_F64));
}

/* ---- var ---- */
static void test_var_unbiased_and_biased_known_values(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2, 4), 1, 2, 3, 4, 2, 4, 6, 8);
    ASSERT_VALUES(tg_var(tape, x, NULL, 0, false, true), 1e-13, 5.357142857142857);
    ASSERT_VALUES(tg_var(tape, x, (const int[]){1}, 1, false, true), 1e-13, 1.666666666666667, 6.666666666666667);
    ASSERT_VALUES(tg_var(tape, x, (const int[]){-1}, 1, false, false), 1e-13, 1.25, 5.0);
    tg_tensor *k = tg_var(tape, x, (const int[]){0}, 1, true, true);
    assert_shape(k, SHAPE(1, 4));
    ASSERT_VALUES(k, 1e-13, 0.5, 2, 4.5, 8);
    ASSERT_VALUES(tg_var(tape, sines(TG_F64), (const int[]){0, 2}, 2, false, true), 1e-13, 2.5257645331348897,
                  2.98895029745879, 5.944567875175941);
}

static void test_var_of_one_element_unbiased_is_nan(void **state) {
    (void)state;
    assert_true(isnan(tg_item(tg_var(tape, T64(tape, SHAPE(1), 3), NULL, 0, false, true))));
    ASSERT_VALUES(tg_var(tape, T64(tape, SHAPE(1), 3), NULL, 0, false, false), 0, 0);
}

static void test_var_is_a_composite_recorded_in_scope_var(void **state) {
    (void)state;
    tg_tensor *x = two_by_three();
    assert_int_equal(tg_requires_grad(x), TG_OK);
    assert_int_equal(tg_tape_push_scope(tape, "model"), TG_OK);
    int64_t before = tg_tape_node_count(tape);
    assert_non_null(tg_var(tape, x, (const int[]){1}, 1, false, true));
    int64_t after = tg_tape_node_count(tape);
    assert_true(after - before >= 3); /* several primitives, no "var" op */
    for (int64_t i = before; i < after; i++) {
        const tg_node *n = tg_tape_node(tape, i);
        assert_string_equal(n->scope, "model/var");
        assert_string_not_equal(n->op->name, "var");
    }
    assert_string_equal(tg_tape_scope(tape), "model");
    assert_int_equal(tg_tape_pop_scope(tape), TG_OK);
    assert_null(tg_tape_scope(tape));
}

static tg_tensor *var_mix(tg_tape *t, tg_tensor *x) {
    tg_tensor *a = tg_var(t, x, (const int[]){0, -1}, 2, false, true);
    tg_tensor *b = tg_var(t, x, (const int[]){1}, 1, true, false);
    return tg_add(t, tg_reshape(t, a, SHAPE(1, 3, 1)), b);
}

static void test_var_gradient_matches_central_differences(void **state) {
    (void)state;
    check_gradient(var_mix, sines(TG_F64));
}

/* ---- determinism ---- */
/* 1<<20 elements run in parallel: one thread and two give the same bits */
static void test_large_reductions_give_the_same_bits_with_one_and_two_threads(void **state) {
    (void)state;
    int threads = tg_get_num_threads();
    tg_rng rng = tg_rng_new(2024);
    tg_tensor *x = tg_uniform(tape, &rng, TG_F32, SHAPE(1 << 20), -3, 3);
    tg_tensor *m = tg_reshape(tape, x, SHAPE(1024, 1024));
    enum { N = 9 };
    uint64_t hash[2][N];
    for (int k = 0; k < 2; k++) {
        tg_set_num_threads(k + 1);
        tg_tensor *r[N] = {
            tg_sum(tape, x, NULL, 0, false),
            tg_mean(tape, m, (const int[]){0}, 1, false),
            tg_sum(tape, m, (const int[]){1}, 1, false),
            tg_logsumexp(tape, x, NULL, 0, false),
            tg_logsumexp(tape, m, (const int[]){0}, 1, false),
            tg_max(tape, x, NULL, 0, false),
            tg_var(tape, m, (const int[]){1}, 1, false, true),
            tg_softmax(tape, m, 0),
            tg_log_softmax(tape, m, 1),
        };
        for (int i = 0; i < N; i++) {
            assert_non_null(r[i]);
            hash[k][i] = tg_tensor_hash(r[i]);
        }
    }
    tg_set_num_threads(threads);
    for (int i = 0; i < N; i++) assert_true(hash[0][i] == hash[1][i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sum_of_all_elements, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_sum_over_one_axis_with_and_without_keepdim, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_sum_accepts_negative_axes, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_sum_over_two_axes_keeps_the_middle_one, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_mean_divides_by_the_reduced_count, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_sum_and_mean_gradients_match_central_differences, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_reduction_axis_out_of_range_is_an_error_naming_the_shape, tape_setup,
                                        tape_teardown),
        cmocka_unit_test_setup_teardown(test_reduction_duplicate_axes_are_an_error, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_a_negative_axis_count_is_an_error_for_every_reduction, tape_setup,
                                        tape_teardown),
        cmocka_unit_test_setup_teardown(test_reductions_of_null_return_null, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_sum_to_sums_leading_and_stretched_axes, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_sum_to_a_shape_that_does_not_broadcast_is_an_error, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_broadcast_to_stretches_size_one_and_missing_axes, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_broadcast_to_an_incompatible_shape_is_an_error, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_max_and_min_known_values, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_max_and_min_agree_with_a_plain_loop_on_every_layout, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_max_propagates_nan_like_torch_amax, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_max_ties_share_the_gradient_evenly, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_min_ties_share_the_gradient_evenly, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_max_over_an_empty_axis_is_an_error, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_max_and_min_gradients_match_central_differences, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_logsumexp_known_values, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_logsumexp_does_not_overflow_on_large_inputs, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_logsumexp_of_infinities_and_empty_axes_matches_torch, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_logsumexp_of_a_long_vector_matches_a_plain_loop, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_logsumexp_gradient_matches_central_differences, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_var_unbiased_and_biased_known_values, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_var_of_one_element_unbiased_is_nan, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_var_is_a_composite_recorded_in_scope_var, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_var_gradient_matches_central_differences, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_large_reductions_give_the_same_bits_with_one_and_two_threads, tape_setup,
                                        tape_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
