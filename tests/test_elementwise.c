/* Elementwise binary ops (ops/elementwise.h): forward on known values in f32
 * and f64, NumPy broadcasting, gradients against central differences in f64,
 * large tensors against the serial definition and across thread counts.
 * Expected values from numpy 1.x (float64). */
#include "central_difference.h"

static int setup(void **state) {
    *state = tg_tape_new();
    return 0;
}
static int teardown(void **state) {
    tg_tape_free(*state);
    return 0;
}

static const tg_dtype dtypes[2] = {TG_F32, TG_F64};
static double tol_of(tg_dtype dt) { return dt == TG_F32 ? 1e-6 : 1e-14; }

/* A = [[0.5,-1.25,2],[3,-0.75,1.5]] (f[2,3]),  B = [2,-0.5,0.25] (f[3]) */
#define A_VALUES 0.5, -1.25, 2.0, 3.0, -0.75, 1.5
#define B_VALUES 2.0, -0.5, 0.25

typedef tg_tensor *(*binary_fn)(tg_tape *, tg_tensor *, tg_tensor *);

static void check_binary(tg_tape *t, binary_fn fn, const double *expected) {
    for (int d = 0; d < 2; d++) {
        tg_tensor *a = TENSOR(t, dtypes[d], SHAPE(2, 3), A_VALUES), *b = TENSOR(t, dtypes[d], SHAPE(3), B_VALUES);
        tg_tensor *y = fn(t, a, b);
        assert_shape(y, SHAPE(2, 3));
        assert_int_equal(y->dtype, dtypes[d]);
        assert_values(y, expected, 6, tol_of(dtypes[d]) * 10);
    }
}

static void test_add_sub_mul_div_broadcast_a_row(void **state) {
    check_binary(*state, tg_add, (const double[]){2.5, -1.75, 2.25, 5.0, -1.25, 1.75});
    check_binary(*state, tg_sub, (const double[]){-1.5, -0.75, 1.75, 1.0, -0.25, 1.25});
    check_binary(*state, tg_mul, (const double[]){1.0, 0.625, 0.5, 6.0, 0.375, 0.375});
    check_binary(*state, tg_div, (const double[]){0.25, 2.5, 8.0, 1.5, 1.5, 6.0});
}

static void test_maximum_and_minimum_pick_elementwise(void **state) {
    check_binary(*state, tg_maximum, (const double[]){2.0, -0.5, 2.0, 3.0, -0.5, 1.5});
    check_binary(*state, tg_minimum, (const double[]){0.5, -1.25, 0.25, 2.0, -0.75, 0.25});
}

static void test_pow_of_positive_bases(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        tg_tensor *a = TENSOR(t, dtypes[d], SHAPE(2, 3), 0.5, 1.25, 2.0, 3.0, 0.75, 1.5);
        tg_tensor *e = TENSOR(t, dtypes[d], SHAPE(3), 2.0, -0.5, 1.5);
        ASSERT_VALUES(tg_pow(t, a, e), tol_of(dtypes[d]) * 10, 0.25, 0.8944271909999159, 2.8284271247461903, 9.0,
                      1.1547005383792515, 1.8371173070873834);
    }
}

static void test_comparisons_give_one_where_true(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        tg_tensor *q = TENSOR(t, dtypes[d], SHAPE(2, 3), 2.0, -0.5, 0.0, 1.0, -0.5, 0.25);
        tg_tensor *r = TENSOR(t, dtypes[d], SHAPE(3), 2.0, -1.0, 0.25);
        ASSERT_VALUES(tg_gt(t, q, r), 0, 0, 1, 0, 0, 1, 0);
        ASSERT_VALUES(tg_ge(t, q, r), 0, 1, 1, 0, 0, 1, 1);
        ASSERT_VALUES(tg_eq(t, q, r), 0, 1, 0, 0, 0, 0, 1);
        ASSERT_VALUES(tg_gt_scalar(t, q, 0.25), 0, 1, 0, 0, 1, 0, 0);
    }
}

static void test_where_selects_by_condition_with_broadcasting(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        tg_tensor *c = TENSOR(t, dtypes[d], SHAPE(2, 3), 1, 0, 1, 0, 0, 1);
        tg_tensor *a = TENSOR(t, dtypes[d], SHAPE(2, 3), A_VALUES), *b = TENSOR(t, dtypes[d], SHAPE(3), B_VALUES);
        ASSERT_VALUES(tg_where(t, c, a, b), 0, 0.5, -0.5, 2.0, 2.0, -0.5, 1.5);
        /* a [2,1] condition picks whole rows */
        tg_tensor *rows = TENSOR(t, dtypes[d], SHAPE(2, 1), 0, 1);
        tg_tensor *y = tg_where(t, rows, a, b);
        assert_shape(y, SHAPE(2, 3));
        ASSERT_VALUES(y, 0, 2.0, -0.5, 0.25, 3.0, -0.75, 1.5);
    }
}

static void test_ops_with_a_scalar_constant(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        double tol = tol_of(dtypes[d]) * 10;
        tg_tensor *a = TENSOR(t, dtypes[d], SHAPE(2, 3), A_VALUES);
        ASSERT_VALUES(tg_add_scalar(t, a, 0.75), tol, 1.25, -0.5, 2.75, 3.75, 0.0, 2.25);
        ASSERT_VALUES(tg_mul_scalar(t, a, -1.5), tol, -0.75, 1.875, -3.0, -4.5, 1.125, -2.25);
        ASSERT_VALUES(tg_gt_scalar(t, a, 1.0), 0, 0, 0, 1, 1, 0, 1);
        tg_tensor *p = TENSOR(t, dtypes[d], SHAPE(2, 3), 0.5, 1.25, 2.0, 3.0, 0.75, 1.5);
        ASSERT_VALUES(tg_pow_scalar(t, p, 2.5), tol * 10, 0.1767766952966369, 1.7469281074217107, 5.656854249492381,
                      15.588457268119896, 0.48713928962874675, 2.7556759606310752);
        ASSERT_VALUES(tg_pow_scalar(t, a, 2.0), tol, 0.25, 1.5625, 4, 9, 0.5625, 2.25);
        /* 2 and 3 are products: x x x exactly (of the type's roundings), also negative x */
        tg_tensor *cube = tg_pow_scalar(t, a, 3.0);
        for (int64_t i = 0; i < a->numel; i++) {
            double x = tg_get(a, i);
            double product = dtypes[d] == TG_F32 ? (double)((float)x * (float)x * (float)x) : x * x * x;
            assert_true(tg_get(cube, i) == product);
        }
    }
}

static void test_broadcast_column_times_row_is_an_outer_product(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        tg_tensor *col = TENSOR(t, dtypes[d], SHAPE(2, 1), 1.5, -2.0), *row = TENSOR(t, dtypes[d], SHAPE(1, 3), 0.5, -1, 3);
        tg_tensor *y = tg_mul(t, col, row);
        assert_shape(y, SHAPE(2, 3));
        ASSERT_VALUES(y, 0, 0.75, -1.5, 4.5, -1.0, 2.0, -6.0);
        assert_shape(tg_add(t, row, col), SHAPE(2, 3)); /* symmetric */
    }
}

static void test_broadcast_a_zero_dim_scalar_on_either_side(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        tg_tensor *s = tg_scalar(t, dtypes[d], 2.5), *a = TENSOR(t, dtypes[d], SHAPE(2, 3), A_VALUES);
        tg_tensor *y = tg_sub(t, s, a);
        assert_shape(y, SHAPE(2, 3));
        ASSERT_VALUES(y, 0, 2.0, 3.75, 0.5, -0.5, 3.25, 1.0);
        ASSERT_VALUES(tg_div(t, a, s), 1e-7, 0.2, -0.5, 0.8, 1.2, -0.3, 0.6);
        tg_tensor *ss = tg_mul(t, s, s);
        assert_int_equal(ss->ndim, 0);
        ASSERT_VALUES(ss, 0, 6.25);
    }
}

static void test_broadcast_three_d_with_two_d(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        tg_tensor *x = tg_tensor_empty(t, dtypes[d], SHAPE(4, 1, 3));
        for (int i = 0; i < 12; i++) tg_set(x, i, 0.5 * i - 2.0);
        tg_tensor *y = TENSOR(t, dtypes[d], SHAPE(2, 3), 1.0, -1.0, 0.5, 2.0, 0.0, -3.0);
        tg_tensor *z = tg_add(t, x, y);
        assert_shape(z, SHAPE(4, 2, 3));
        ASSERT_VALUES(z, 0, -1.0, -2.5, -0.5, 0.0, -1.5, -4.0, 0.5, -1.0, 1.0, 1.5, 0.0, -2.5, 2.0, 0.5, 2.5, 3.0, 1.5,
                      -1.0, 3.5, 2.0, 4.0, 4.5, 3.0, 0.5);
        assert_shape(tg_add(t, y, x), SHAPE(4, 2, 3));
    }
}

static void test_maximum_and_minimum_split_the_gradient_at_ties(void **state) {
    tg_tape *t = *state;
    /* torch: maximum([1,2,3], [1,1,4]) -> grads [0.5,1,0], [0.5,0,1] */
    for (int is_max = 0; is_max < 2; is_max++) {
        tg_tape_reset(t);
        tg_tensor *a = T64(t, SHAPE(3), 1, 2, 3), *b = T64(t, SHAPE(3), 1, 1, 4);
        tg_requires_grad(a);
        tg_requires_grad(b);
        tg_tensor *y = is_max ? tg_maximum(t, a, b) : tg_minimum(t, a, b);
        assert_int_equal(tg_backward(t, y, &(tg_backward_opts){.grad_output = tg_ones(t, TG_F64, SHAPE(3))}), TG_OK);
        if (is_max) {
            ASSERT_VALUES(a->grad, 0, 0.5, 1, 0);
            ASSERT_VALUES(b->grad, 0, 0.5, 0, 1);
        } else {
            ASSERT_VALUES(a->grad, 0, 0.5, 0, 1);
            ASSERT_VALUES(b->grad, 0, 0.5, 1, 0);
        }
    }
}

/* PyTorch: maximum/minimum return the NaN whichever side it is on */
static void test_maximum_and_minimum_propagate_nan_from_either_side(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        tg_tensor *a = TENSOR(t, dtypes[d], SHAPE(3), NAN, 1, 2), *b = TENSOR(t, dtypes[d], SHAPE(3), 1, NAN, 3);
        for (int is_max = 0; is_max < 2; is_max++) {
            tg_tensor *y = is_max ? tg_maximum(t, a, b) : tg_minimum(t, a, b);
            assert_true(isnan(tg_get(y, 0)));
            assert_true(isnan(tg_get(y, 1)));
            assert_true(tg_get(y, 2) == (is_max ? 3 : 2));
        }
    }
}

/* PyTorch: d x^0 / dx = 0 everywhere, also at x = 0 (not 0 * 0^-1 = NaN) */
static void test_zero_exponent_has_zero_gradient_at_zero(void **state) {
    tg_tape *t = *state;
    tg_tensor *x = T64(t, SHAPE(2), 0, 2);
    tg_requires_grad(x);
    tg_tensor *y = tg_pow_scalar(t, x, 0.0);
    ASSERT_VALUES(y, 0, 1, 1);
    assert_int_equal(tg_backward(t, y, &(tg_backward_opts){.grad_output = tg_ones(t, TG_F64, SHAPE(2))}), TG_OK);
    ASSERT_VALUES(x->grad, 0, 0, 0);

    tg_tape_reset(t);
    x = T64(t, SHAPE(3), 0, 2, 0);
    tg_tensor *e = T64(t, SHAPE(3), 0, 0, 2);
    tg_requires_grad(x);
    y = tg_pow(t, x, e);
    ASSERT_VALUES(y, 0, 1, 1, 0);
    assert_int_equal(tg_backward(t, y, &(tg_backward_opts){.grad_output = tg_ones(t, TG_F64, SHAPE(3))}), TG_OK);
    ASSERT_VALUES(x->grad, 0, 0, 0, 0);
}

static void test_where_sends_no_gradient_to_the_condition(void **state) {
    tg_tape *t = *state;
    tg_tensor *c = T64(t, SHAPE(3), 1, 0, 1), *a = T64(t, SHAPE(3), 1, 2, 3), *b = T64(t, SHAPE(1), 5);
    tg_requires_grad(c);
    tg_requires_grad(a);
    tg_requires_grad(b);
    tg_tensor *y = tg_where(t, c, a, b);
    assert_int_equal(tg_backward(t, y, &(tg_backward_opts){.grad_output = T64(t, SHAPE(3), 1, 10, 100)}), TG_OK);
    assert_null(c->grad);
    ASSERT_VALUES(a->grad, 0, 1, 0, 100);
    ASSERT_VALUES(b->grad, 0, 10);
}

/* ---- gradients against central differences ---- */

static tg_tensor *call_binary(tg_tape *t, tg_tensor **in, void *user) { return ((binary_fn)user)(t, in[0], in[1]); }

/* input pairs covering the broadcasting cases; values away from 0 and ties */
static void check_binary_gradients(binary_fn fn, double low, bool positive_a) {
    tg_tape *t = tg_tape_new();
    tg_rng rng = tg_rng_new(7);
    const struct {
        int nda, ndb;
        int64_t sa[3], sb[3];
    } cases[] = {
        {2, 2, {2, 3}, {2, 3}}, {2, 1, {2, 3}, {3}},    {1, 2, {3}, {2, 3}},       {2, 2, {2, 1}, {1, 3}},
        {0, 2, {0}, {2, 3}},    {2, 0, {2, 3}, {0}},    {3, 2, {4, 1, 3}, {2, 3}}, {2, 3, {2, 3}, {4, 1, 3}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tg_tape_reset(t);
        tg_tensor *in[2];
        in[0] = positive_a ? tg_sample_uniform(t, &rng, TG_F64, cases[c].nda, cases[c].sa, 0.5, 2.0)
                           : tg_sample_signed(t, &rng, TG_F64, cases[c].nda, cases[c].sa, low, 2.0);
        in[1] = tg_sample_signed(t, &rng, TG_F64, cases[c].ndb, cases[c].sb, low, 2.0);
        cd_check(call_binary, (void *)fn, 2, in, 0);
    }
    tg_tape_free(t);
}

static void test_add_sub_mul_div_gradients_match_central_differences(void **state) {
    (void)state;
    check_binary_gradients(tg_add, 0.1, false);
    check_binary_gradients(tg_sub, 0.1, false);
    check_binary_gradients(tg_mul, 0.1, false);
    check_binary_gradients(tg_div, 0.5, false);
}

static void test_pow_gradients_match_central_differences(void **state) {
    (void)state;
    check_binary_gradients(tg_pow, 0.2, true);
}

static void test_comparison_gradients_are_zero(void **state) {
    (void)state;
    check_binary_gradients(tg_gt, 0.1, false);
    check_binary_gradients(tg_ge, 0.1, false);
    check_binary_gradients(tg_eq, 0.1, false);
}

/* max/min: b = a + offset with |offset| in [0.2, 0.8], so no ties */
static void check_select_gradients(binary_fn fn) {
    tg_tape *t = tg_tape_new();
    tg_rng rng = tg_rng_new(11);
    tg_tensor *a = tg_sample_signed(t, &rng, TG_F64, SHAPE(2, 3), 0.1, 1.0);
    tg_tensor *in[2] = {a, tg_add(t, a, tg_sample_signed(t, &rng, TG_F64, SHAPE(2, 3), 0.2, 0.8))};
    cd_check(call_binary, (void *)fn, 2, in, 0);
    /* broadcast: [2,3] against [3] drawn apart from every row */
    in[0] = T64(t, SHAPE(2, 3), 0.1, -1.2, 2.0, 1.4, 0.3, -0.7);
    in[1] = T64(t, SHAPE(3), 0.9, -0.2, 0.4);
    cd_check(call_binary, (void *)fn, 2, in, 0);
    tg_tape_free(t);
}

static void test_maximum_minimum_gradients_match_central_differences(void **state) {
    (void)state;
    check_select_gradients(tg_maximum);
    check_select_gradients(tg_minimum);
}

static tg_tensor *call_where(tg_tape *t, tg_tensor **in, void *user) {
    (void)user;
    return tg_where(t, in[0], in[1], in[2]);
}

static void test_where_gradients_match_central_differences(void **state) {
    tg_tape *t = *state;
    tg_tensor *in[3] = {T64(t, SHAPE(2, 3), 1, 0, 0, 1, 1, 0), T64(t, SHAPE(2, 3), A_VALUES), T64(t, SHAPE(3), B_VALUES)};
    cd_check(call_where, NULL, 3, in, 1u);
    in[0] = T64(t, SHAPE(2, 1), 0, 1);
    in[1] = T64(t, SHAPE(3), B_VALUES);
    in[2] = T64(t, SHAPE(2, 3), A_VALUES);
    cd_check(call_where, NULL, 3, in, 1u);
}

typedef struct {
    tg_tensor *(*fn)(tg_tape *, tg_tensor *, double);
    double s;
} scalar_call;
static tg_tensor *call_scalar(tg_tape *t, tg_tensor **in, void *user) {
    const scalar_call *c = user;
    return c->fn(t, in[0], c->s);
}

static void test_scalar_op_gradients_match_central_differences(void **state) {
    tg_tape *t = *state;
    tg_tensor *x = T64(t, SHAPE(2, 3), A_VALUES), *pos = T64(t, SHAPE(2, 3), 0.5, 1.25, 2.0, 3.0, 0.75, 1.5);
    const scalar_call calls[] = {{tg_add_scalar, 0.75}, {tg_mul_scalar, -1.5}, {tg_pow_scalar, 2.0},
                                 {tg_pow_scalar, 3.0},  {tg_gt_scalar, 0.0}};
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) cd_check(call_scalar, (void *)&calls[i], 1, &x, 0);
    const scalar_call on_positive[] = {{tg_pow_scalar, 2.5}, {tg_pow_scalar, -0.5}, {tg_pow_scalar, 0.0}};
    for (size_t i = 0; i < 3; i++) cd_check(call_scalar, (void *)&on_positive[i], 1, &pos, 0);
}

/* d/d in_j of d(sum w f)/d in_wrt, for each op, each input, with broadcasting */
static void test_binary_second_derivatives_match_central_differences(void **state) {
    tg_tape *t = *state;
    const binary_fn ops[] = {tg_add, tg_sub, tg_mul, tg_div, tg_pow, tg_maximum, tg_minimum};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        for (int wrt = 0; wrt < 2; wrt++) {
            tg_tape_reset(t);
            tg_tensor *in[2] = {T64(t, SHAPE(2, 3), 0.6, 1.3, 2.0, 0.9, 1.7, 0.4), T64(t, SHAPE(3), 1.1, -0.7, 1.5)};
            cd_derivative d = {call_binary, (void *)ops[i], 2, wrt, 0};
            cd_check(cd_first_derivative, &d, 2, in, 0);
        }
}

static void test_second_derivatives_of_mul_and_div(void **state) {
    tg_tape *t = *state;
    /* d2/dx2 (x / (x*x)) = d2/dx2 1/x = 2/x^3 */
    tg_tensor *x = T64(t, SHAPE(3), 0.5, 2, -1);
    tg_requires_grad(x);
    tg_tensor *y = tg_div(t, x, tg_mul(t, x, x)), *g, *g2;
    assert_int_equal(tg_grad(t, 1, &y, (tg_tensor *[]){tg_ones(t, TG_F64, SHAPE(3))}, 1, &x, &g,
                             &(tg_grad_opts){.create_graph = true}),
                     TG_OK);
    ASSERT_VALUES(g, 1e-12, -4, -0.25, -1); /* -1/x^2 */
    assert_int_equal(tg_grad(t, 1, &g, (tg_tensor *[]){tg_ones(t, TG_F64, SHAPE(3))}, 1, &x, &g2, NULL), TG_OK);
    ASSERT_VALUES(g2, 1e-10, 16, 0.25, -2);
}

/* ---- large tensors: serial definition and thread-count determinism ---- */

enum { BIG = 1 << 17 };

static double serial_binary(int op, double a, double b, tg_dtype dt) {
    if (dt == TG_F32) {
        float x = (float)a, y = (float)b;
        switch (op) {
        case 0: return x + y;
        case 1: return x - y;
        case 2: return x * y;
        case 3: return x / y;
        case 4: return x > y ? x : y;
        default: return powf(x, y);
        }
    }
    switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a / b;
    case 4: return a > b ? a : b;
    default: return pow(a, b);
    }
}
static const binary_fn big_ops[6] = {tg_add, tg_sub, tg_mul, tg_div, tg_maximum, tg_pow};

static void test_large_broadcasts_match_the_serial_definition(void **state) {
    tg_tape *t = *state;
    tg_rng rng = tg_rng_new(3);
    /* a's shape, b's shape; out [R, C] with R*C = BIG or more */
    const struct {
        int64_t sa[2], sb[2];
    } cases[] = {{{512, 256}, {512, 256}}, {{512, 256}, {1, 256}}, {{256, 512}, {256, 1}},
                 {{4, 40000}, {4, 1}},     {{1, 40000}, {4, 40000}}};
    for (int d = 0; d < 2; d++) {
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            tg_tape_reset(t);
            tg_tensor *a = tg_sample_uniform(t, &rng, dtypes[d], 2, cases[c].sa, 0.5, 2.0);
            tg_tensor *b = tg_sample_uniform(t, &rng, dtypes[d], 2, cases[c].sb, 0.5, 2.0);
            int64_t R = cases[c].sa[0] > cases[c].sb[0] ? cases[c].sa[0] : cases[c].sb[0];
            int64_t C = cases[c].sa[1] > cases[c].sb[1] ? cases[c].sa[1] : cases[c].sb[1];
            assert_true(R * C >= BIG);
            for (int op = 0; op < 6; op++) {
                tg_tensor *y = big_ops[op](t, a, b);
                assert_shape(y, 2, (int64_t[]){R, C});
                for (int64_t i = 0; i < R; i++) {
                    for (int64_t j = 0; j < C; j++) {
                        int64_t ia = (cases[c].sa[0] == 1 ? 0 : i) * cases[c].sa[1] + (cases[c].sa[1] == 1 ? 0 : j);
                        int64_t ib = (cases[c].sb[0] == 1 ? 0 : i) * cases[c].sb[1] + (cases[c].sb[1] == 1 ? 0 : j);
                        double want = serial_binary(op, tg_get(a, ia), tg_get(b, ib), dtypes[d]);
                        double got = tg_get(y, i * C + j);
                        if (got != want) {
                            print_error("op %d case %zu dtype %d at [%lld,%lld]: %.17g != %.17g\n", op, c, d,
                                        (long long)i, (long long)j, got, want);
                            fail();
                        }
                    }
                }
            }
        }
    }
}

static void test_large_results_are_bit_identical_with_one_and_two_threads(void **state) {
    tg_tape *t = *state;
    int threads_before = tg_get_num_threads();
    for (int d = 0; d < 2; d++) {
        uint64_t hashes[2][8];
        for (int run = 0; run < 2; run++) {
            tg_set_num_threads(run + 1);
            tg_tape_reset(t);
            tg_rng rng = tg_rng_new(5);
            tg_tensor *x = tg_sample_uniform(t, &rng, dtypes[d], SHAPE(512, 256), 0.5, 2.0);
            tg_tensor *bias = tg_sample_uniform(t, &rng, dtypes[d], SHAPE(256), 0.5, 2.0);
            tg_requires_grad(x);
            tg_requires_grad(bias);
            int k = 0;
            for (int op = 0; op < 6; op++) hashes[run][k++] = tg_tensor_hash(big_ops[op](t, x, bias));
            /* backward of a broadcast: bias->grad sums 512 rows */
            tg_tensor *y = tg_mul(t, tg_add(t, x, bias), x);
            tg_tensor *g = tg_sample_uniform(t, &rng, dtypes[d], SHAPE(512, 256), -1.0, 1.0);
            assert_int_equal(tg_backward(t, y, &(tg_backward_opts){.grad_output = g}), TG_OK);
            hashes[run][k++] = tg_tensor_hash(bias->grad);
            hashes[run][k++] = tg_tensor_hash(x->grad);
        }
        for (int k = 0; k < 8; k++) assert_true(hashes[0][k] == hashes[1][k]);
    }
    tg_set_num_threads(threads_before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_add_sub_mul_div_broadcast_a_row),
        T(test_maximum_and_minimum_pick_elementwise),
        T(test_pow_of_positive_bases),
        T(test_comparisons_give_one_where_true),
        T(test_where_selects_by_condition_with_broadcasting),
        T(test_ops_with_a_scalar_constant),
        T(test_broadcast_column_times_row_is_an_outer_product),
        T(test_broadcast_a_zero_dim_scalar_on_either_side),
        T(test_broadcast_three_d_with_two_d),
        T(test_maximum_and_minimum_split_the_gradient_at_ties),
        T(test_maximum_and_minimum_propagate_nan_from_either_side),
        T(test_zero_exponent_has_zero_gradient_at_zero),
        T(test_where_sends_no_gradient_to_the_condition),
        T(test_add_sub_mul_div_gradients_match_central_differences),
        T(test_pow_gradients_match_central_differences),
        T(test_comparison_gradients_are_zero),
        T(test_maximum_minimum_gradients_match_central_differences),
        T(test_where_gradients_match_central_differences),
        T(test_scalar_op_gradients_match_central_differences),
        T(test_binary_second_derivatives_match_central_differences),
        T(test_second_derivatives_of_mul_and_div),
        T(test_large_broadcasts_match_the_serial_definition),
        T(test_large_results_are_bit_identical_with_one_and_two_threads),
#undef T
    };
    return cmocka_run_group_tests_name("elementwise", tests, NULL, NULL);
}
