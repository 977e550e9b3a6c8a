/* softmax and log_softmax along any axis: known values (torch 1.13, float64),
 * rows summing to one, no overflow on huge inputs, log_softmax = log(softmax),
 * first and second derivatives against central differences, errors. */
#include "testing.h"

/* 3 sin(i), i = 0..23, shaped [2,3,4] */
static tg_tensor *sines(void) {
    tg_tensor *x = tg_tensor_empty(tape, TG_F64, SHAPE(2, 3, 4));
    for (int i = 0; i < 24; i++) tg_set(x, i, 3 * sin((double)i));
    return x;
}

/* Asserts a and b agree within tol everywhere. */
static void assert_close(const tg_tensor *a, const tg_tensor *b, double tol) {
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->numel, b->numel);
    for (int64_t i = 0; i < a->numel; i++) {
        double x = tg_get(a, i), y = tg_get(b, i);
        if (!(fabs(x - y) <= tol)) {
            print_error("element %lld: %.12g vs %.12g (tol %g)\n", (long long)i, x, y, tol);
            fail();
        }
    }
}

/* ---- forward ---- */
static void test_softmax_known_values(void **state) {
    (void)state;
    tg_tensor *y = tg_softmax(tape, T64(tape, SHAPE(3), 1, 2, 3), 0);
    ASSERT_VALUES(y, 1e-15, 0.090030573170380, 0.244728471054798, 0.665240955774822);
    tg_tensor *cols = tg_softmax(tape, T64(tape, SHAPE(2, 3), 1, 5, 3, 4, 2, 6), 0);
    ASSERT_VALUES(cols, 1e-15, 0.047425873177567, 0.952574126822433, 0.047425873177567, 0.952574126822433,
                  0.047425873177567, 0.952574126822433);
}

static void test_softmax_along_a_middle_axis_matches_torch(void **state) {
    (void)state;
    tg_tensor *y = tg_softmax(tape, sines(), 1);
    assert_shape(y, SHAPE(2, 3, 4));
    ASSERT_VALUES(y, 1e-14, 0.048643576845786816, 0.7810564169523228, 0.9605744375507002, 0.1744354761122953,
                  0.005023426578244722, 0.0035235239311557304, 0.027150425077393583, 0.8198772884597594,
                  0.9463329965759684, 0.21542005911652162, 0.012275137371906353, 0.00568723542794531,
                  0.012426201305391757, 0.22200873746494748, 0.9476431771158155, 0.8103192962322904,
                  0.02620148414330516, 0.003518459152228708, 0.005099763818466795, 0.18058407727344217,
                  0.961372314551303, 0.7744728033828238, 0.047257059065717845, 0.00909662649426757);
}

static void test_log_softmax_along_the_first_axis_matches_torch(void **state) {
    (void)state;
    tg_tensor *y = tg_log_softmax(tape, sines(), 0);
    ASSERT_VALUES(y, 1e-14, -0.18227475534296655, -0.24884761997468885, -0.8225314244002734, -1.7239555168097684,
                  -1.625793619595191, -0.6894442361233578, -0.21752362700659308, -0.19755624554287385,
                  -0.5850821679834006, -1.5203303081802857, -1.7884867855476598, -0.95017010595425,
                  -1.7919935093442714, -1.5127594639184556, -0.5786016377927071, -0.19645202051801963,
                  -0.21909608366660246, -0.6968638877726129, -1.6322388727248434, -1.718884412710384,
                  -0.8143211556706629, -0.24671884829738724, -0.18297738075076223, -0.4888606988276519);
}

static void test_softmax_rows_sum_to_one(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(1);
    for (int dt = 0; dt < 2; dt++) {
        tg_dtype dtype = dt ? TG_F64 : TG_F32;
        tg_tensor *x = tg_uniform(tape, &rng, dtype, SHAPE(4, 37, 300), -8, 8);
        for (int axis = -1; axis < 3; axis++) {
            tg_tensor *sums = tg_sum(tape, tg_softmax(tape, x, axis), (const int[]){axis}, 1, false);
            assert_non_null(sums);
            for (int64_t i = 0; i < sums->numel; i++) assert_true(fabs(tg_get(sums, i) - 1) < (dt ? 1e-13 : 1e-5));
        }
    }
}

static void test_softmax_of_huge_inputs_does_not_overflow(void **state) {
    (void)state;
    tg_tensor *inputs[2] = {T32(tape, SHAPE(3), 1000, 1001, 1002), T64(tape, SHAPE(3), 1000, 1001, 1002)};
    for (int dt = 0; dt < 2; dt++) {
        tg_tensor *x = inputs[dt];
        ASSERT_VALUES(tg_softmax(tape, x, -1), 1e-6, 0.090030573170380, 0.244728471054798, 0.665240955774822);
        ASSERT_VALUES(tg_log_softmax(tape, x, -1), 1e-5, -2.407605964444381, -1.407605964444380,
                      -0.407605964444380);
        tg_tensor *neg = tg_mul_scalar(tape, x, -1);
        ASSERT_VALUES(tg_softmax(tape, neg, 0), 1e-6, 0.665240955774822, 0.244728471054798, 0.090030573170380);
    }
}

static void test_softmax_gives_zero_weight_to_minus_infinity(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(3), -INFINITY, 0, 0);
    ASSERT_VALUES(tg_softmax(tape, x, 0), 0, 0, 0.5, 0.5);
    tg_tensor *y = tg_log_softmax(tape, x, 0);
    assert_true(isinf(tg_get(y, 0)) && tg_get(y, 0) < 0);
    assert_true(fabs(tg_get(y, 1) + log(2.0)) < 1e-15);
}

/* every kernel path (lanes, tails, column blocks) on f32 and f64 */
static void test_log_softmax_equals_log_of_softmax(void **state) {
    (void)state;
    tg_rng rng = tg_rng_new(9);
    tg_tensor *x = tg_uniform(tape, &rng, TG_F64, SHAPE(7, 300, 3), -20, 20);
    tg_tensor *x32 = tg_tensor_empty(tape, TG_F32, SHAPE(7, 300, 3));
    assert_int_equal(tg_tensor_copy_values(x32, x), TG_OK);
    for (int axis = 0; axis < 3; axis++) {
        tg_tensor *direct = tg_log_softmax(tape, x, axis);
        assert_close(direct, tg_log(tape, tg_softmax(tape, x, axis)), 1e-12);
        assert_close(tg_log_softmax(tape, x32, axis), direct, 2e-5);
        assert_close(tg_softmax(tape, x32, axis), tg_exp(tape, direct), 1e-6);
    }
}

static void test_softmax_of_an_empty_tensor_is_empty(void **state) {
    (void)state;
    assert_shape(tg_softmax(tape, tg_zeros(tape, TG_F64, SHAPE(0, 3)), 1), SHAPE(0, 3));
    assert_shape(tg_log_softmax(tape, tg_zeros(tape, TG_F32, SHAPE(2, 0)), 1), SHAPE(2, 0));
}

/* ---- errors ---- */
static void test_softmax_axis_out_of_range_is_an_error(void **state) {
    (void)state;
    tg_tensor *x = tg_zeros(tape, TG_F64, SHAPE(2, 3));
    assert_null(tg_softmax(tape, x, 2));
    assert_error_mentions(tg_tape_error(tape), "tg_softmax");
    assert_error_mentions(tg_tape_error(tape), "axis 2");
    assert_error_mentions(tg_tape_error(tape), "f64[2,3]");
    tg_tape_clear_error(tape);
    assert_null(tg_log_softmax(tape, x, -3));
    assert_error_mentions(tg_tape_error(tape), "tg_log_softmax");
    assert_error_mentions(tg_tape_error(tape), "axis -3");
}

static void test_softmax_of_a_scalar_is_an_error(void **state) {
    (void)state;
    assert_null(tg_softmax(tape, tg_scalar(tape, TG_F32, 1), 0));
    assert_error_mentions(tg_tape_error(tape), "tg_softmax");
    assert_error_mentions(tg_tape_error(tape), "f32[]");
}

static void test_softmax_of_null_returns_null(void **state) {
    (void)state;
    assert_null(tg_softmax(tape, NULL, 0));
    assert_error_mentions(tg_tape_error(tape), "tg_softmax");
    assert_null(tg_log_softmax(tape, NULL, 0));
}

/* ---- gradients ---- */
typedef struct {
    bool log_form;
    int axis;
} variant;

static tg_tensor *apply(tg_tape *t, tg_tensor *x, const variant *v) {
    return v->log_form ? tg_log_softmax(t, x, v->axis) : tg_softmax(t, x, v->axis);
}

/* loss(x) = sum(w * f(x)) */
static double loss_value(tg_tape *t, tg_tensor *x, tg_tensor *w, const variant *v) {
    return tg_item(tg_sum(t, tg_mul(t, apply(t, x, v), w), NULL, 0, false));
}

/* dloss/dx by tg_grad; recorded (create_graph) when `record` */
static tg_tensor *loss_gradient(tg_tape *t, tg_tensor *x, tg_tensor *w, const variant *v, bool record) {
    tg_tensor *loss = tg_sum(t, tg_mul(t, apply(t, x, v), w), NULL, 0, false);
    tg_tensor *grad = NULL;
    tg_grad_opts opts = {.create_graph = record};
    assert_int_equal(tg_grad(t, 1, &loss, NULL, 1, &x, &grad, &opts), TG_OK);
    return grad;
}

static void check_first_derivative(const variant *v, int ndim, const int64_t *shape) {
    tg_rng rng = tg_rng_new(17);
    tg_tensor *x = tg_uniform(tape, &rng, TG_F64, ndim, shape, -2, 2);
    tg_tensor *w = tg_uniform(tape, &rng, TG_F64, ndim, shape, -1, 1);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *grad = loss_gradient(tape, x, w, v, false);
    const double eps = 1e-6;
    for (int64_t i = 0; i < x->numel; i++) {
        double keep = tg_get(x, i);
        tg_set(x, i, keep + eps);
        double up = loss_value(tape, x, w, v);
        tg_set(x, i, keep - eps);
        double down = loss_value(tape, x, w, v);
        tg_set(x, i, keep);
        double numeric = (up - down) / (2 * eps);
        assert_true(fabs(numeric - tg_get(grad, i)) <= 1e-7 + 1e-5 * fabs(numeric));
    }
}

static void test_softmax_gradient_matches_central_differences(void **state) {
    (void)state;
    check_first_derivative(&(variant){false, -1}, SHAPE(3, 5));
    check_first_derivative(&(variant){false, 1}, SHAPE(2, 3, 4));
    check_first_derivative(&(variant){false, 0}, SHAPE(2, 3, 4));
}

static void test_log_softmax_gradient_matches_central_differences(void **state) {
    (void)state;
    check_first_derivative(&(variant){true, -1}, SHAPE(3, 5));
    check_first_derivative(&(variant){true, 1}, SHAPE(2, 3, 4));
    check_first_derivative(&(variant){true, 0}, SHAPE(2, 3, 4));
}

/* d/dx (u . dloss/dx): the backward rules are tg ops, so they differentiate again */
static void check_second_derivative(const variant *v) {
    tg_rng rng = tg_rng_new(23);
    tg_tensor *x = tg_uniform(tape, &rng, TG_F64, SHAPE(2, 3, 4), -2, 2);
    tg_tensor *w = tg_uniform(tape, &rng, TG_F64, SHAPE(2, 3, 4), -1, 1);
    tg_tensor *u = tg_uniform(tape, &rng, TG_F64, SHAPE(2, 3, 4), -1, 1);
    assert_int_equal(tg_requires_grad(x), TG_OK);
    tg_tensor *g = loss_gradient(tape, x, w, v, true);
    tg_tensor *directional = tg_sum(tape, tg_mul(tape, g, u), NULL, 0, false);
    tg_tensor *hess_u = NULL;
    assert_int_equal(tg_grad(tape, 1, &directional, NULL, 1, &x, &hess_u, NULL), TG_OK);
    const double eps = 1e-6;
    for (int64_t i = 0; i < x->numel; i++) {
        double keep = tg_get(x, i), side[2];
        for (int s = 0; s < 2; s++) {
            tg_set(x, i, keep + (s ? -eps : eps));
            side[s] = tg_item(tg_sum(tape, tg_mul(tape, loss_gradient(tape, x, w, v, false), u), NULL, 0, false));
        }
        tg_set(x, i, keep);
        double numeric = (side[0] - side[1]) / (2 * eps);
        assert_true(fabs(numeric - tg_get(hess_u, i)) <= 1e-6 + 1e-5 * fabs(numeric));
    }
}

static void test_softmax_second_derivative_matches_central_differences(void **state) {
    (void)state;
    check_second_derivative(&(variant){false, 1});
    check_second_derivative(&(variant){true, -1});
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_softmax_known_values, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_softmax_along_a_middle_axis_matches_torch, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_log_softmax_along_the_first_axis_matches_torch, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_softmax_rows_sum_to_one, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_softmax_of_huge_inputs_does_not_overflow, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_softmax_gives_zero_weight_to_minus_infinity, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_log_softmax_equals_log_of_softmax, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_softmax_of_an_empty_tensor_is_empty, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_softmax_axis_out_of_range_is_an_error, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_softmax_of_a_scalar_is_an_error, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_softmax_of_null_returns_null, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_softmax_gradient_matches_central_differences, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_log_softmax_gradient_matches_central_differences, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_softmax_second_derivative_matches_central_differences, tape_setup, tape_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
