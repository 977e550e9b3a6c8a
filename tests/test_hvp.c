/* Hessian-vector products by double backward: g = tg_grad(f, x, create_graph),
 * then Hv = tg_grad(g, x, grad_output = v), checked against Hessians derived
 * by hand:
 *   f(x) = sum(x^3) + sum(x)^2:  grad = 3 x^2 + 2 sum(x),  H = diag(6 x) + 2 (all-ones)
 *   f(x) = x^T A x:              grad = (A + A^T) x,       H = A + A^T */
#include "testing.h"

/* sum(x^3) + sum(x)^2 */
static tg_tensor *cubic(tg_tape *t, tg_tensor *x) {
    return tg_add(t, tg_sum(t, tg_pow_scalar(t, x, 3.0), NULL, 0, false),
                  tg_square(t, tg_sum(t, x, NULL, 0, false)));
}

/* x^T A x for x[n], A[n,n] */
static tg_tensor *quadratic_form(tg_tape *t, tg_tensor *A, tg_tensor *x) {
    tg_tensor *column = tg_reshape(t, x, SHAPE(-1, 1));
    return tg_sum(t, tg_mul(t, column, tg_matmul(t, A, column)), NULL, 0, false);
}

static tg_tensor *gradient_with_graph(tg_tensor *f, tg_tensor *x) {
    tg_tensor *g = NULL;
    tg_grad_opts create = {.create_graph = true};
    assert_int_equal(tg_grad(tape, 1, &f, NULL, 1, &x, &g, &create), TG_OK);
    assert_true(g->requires_grad); /* differentiable again */
    return g;
}

static void test_hvp_of_a_cubic_matches_the_hand_derived_hessian(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(3), 0.5, -1, 2);
    tg_tensor *v = T64(tape, SHAPE(3), 1, 2, -1);
    tg_requires_grad(x);
    tg_tensor *g = gradient_with_graph(cubic(tape, x), x);
    ASSERT_VALUES(g, 1e-14, 3.75, 6, 15); /* 3 x^2 + 2 * 1.5 */
    tg_tensor *hv = NULL;
    assert_int_equal(tg_grad(tape, 1, &g, &v, 1, &x, &hv, NULL), TG_OK);
    ASSERT_VALUES(hv, 1e-14, 7, -8, -8); /* 6 x v + 2 sum(v) = [3, -12, -12] + 4 */
}

static void test_hvp_by_backward_of_the_gradient_dot_v(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(3), 0.5, -1, 2);
    tg_tensor *v = T64(tape, SHAPE(3), 1, 2, -1);
    tg_requires_grad(x);
    tg_tensor *g = gradient_with_graph(cubic(tape, x), x);
    /* d/dx (g . v) = H v, accumulated into x->grad */
    assert_int_equal(tg_backward(tape, tg_sum(tape, tg_mul(tape, g, v), NULL, 0, false), NULL), TG_OK);
    ASSERT_VALUES(x->grad, 1e-14, 7, -8, -8);
}

static void test_full_hessian_from_one_hot_hvps(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(3), 0.5, -1, 2);
    tg_requires_grad(x);
    tg_tensor *g = gradient_with_graph(cubic(tape, x), x);
    const double expected[3][3] = {{5, 2, 2}, {2, -4, 2}, {2, 2, 14}}; /* diag(6x) + 2 */
    for (int i = 0; i < 3; i++) {
        tg_tensor *e = tg_zeros(tape, TG_F64, SHAPE(3));
        tg_set(e, i, 1.0);
        tg_tensor *row = NULL;
        tg_grad_opts retain = {.retain_graph = true};
        assert_int_equal(tg_grad(tape, 1, &g, &e, 1, &x, &row, &retain), TG_OK);
        assert_values(row, expected[i], 3, 1e-14);
    }
}

static void test_hvp_of_a_quadratic_form_is_a_plus_a_transpose_times_v(void **state) {
    (void)state;
    tg_tensor *A = T64(tape, SHAPE(3, 3), 1, 2, 0, -1, 3, 1, 4, 0, 2);
    tg_tensor *x = T64(tape, SHAPE(3), 1, 2, -1);
    tg_tensor *v = T64(tape, SHAPE(3), 1, -1, 2);
    tg_requires_grad(x);
    tg_tensor *f = quadratic_form(tape, A, x);
    ASSERT_VALUES(f, 1e-14, 11); /* x^T A x = x . (A x) = [1,2,-1] . [5,4,2] */
    tg_tensor *g = gradient_with_graph(f, x);
    ASSERT_VALUES(g, 1e-14, 0, 12, 2); /* (A + A^T) x, A + A^T = [[2,1,4],[1,6,1],[4,1,4]] */
    tg_tensor *hv = NULL;
    assert_int_equal(tg_grad(tape, 1, &g, &v, 1, &x, &hv, NULL), TG_OK);
    ASSERT_VALUES(hv, 1e-14, 9, -3, 11);
}

/* The Hessian of x^T A x with respect to A is zero, but the mixed second
 * derivative d/dA (grad_x . v) = v x^T + x v^T is not. */
static void test_mixed_second_derivative_of_a_quadratic_form(void **state) {
    (void)state;
    tg_tensor *A = T64(tape, SHAPE(2, 2), 1, 2, 3, 4);
    tg_tensor *x = T64(tape, SHAPE(2), 1, -2);
    tg_tensor *v = T64(tape, SHAPE(2), 3, 1);
    tg_requires_grad(A);
    tg_requires_grad(x);
    tg_tensor *g = gradient_with_graph(quadratic_form(tape, A, x), x);
    tg_tensor *dA = NULL;
    assert_int_equal(tg_grad(tape, 1, &g, &v, 1, &A, &dA, NULL), TG_OK);
    /* v x^T = [[3,-6],[1,-2]], x v^T = [[3,1],[-6,-2]] */
    ASSERT_VALUES(dA, 1e-14, 6, -5, -5, -4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hvp_of_a_cubic_matches_the_hand_derived_hessian, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_hvp_by_backward_of_the_gradient_dot_v, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_full_hessian_from_one_hot_hvps, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_hvp_of_a_quadratic_form_is_a_plus_a_transpose_times_v, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_mixed_second_derivative_of_a_quadratic_form, tape_setup, tape_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
