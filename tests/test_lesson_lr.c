/* Lesson "lr": on f(x) = a/2 x^2 gradient descent lands in the regime theory
 * gives on either side of 1/a and 2/a, with the factor |1 - lr a| per step;
 * on x^4 - 3x^2 + x the learning rate decides which minimum it ends in; on
 * the small model too small, right, too large and far too large show up as
 * such for seeds 1 to 5; divergence is reported as a step, not as NaNs. */
#include "lesson_testing.h"

#include <stdlib.h>

static tg_descent_run run_quadratic(double a, double lr_times_a, int64_t steps) {
    tg_lesson_lr_opts o = tg_lesson_lr_defaults();
    o.curvature = a;
    o.steps = steps;
    o.n_rates = 1;
    o.rates[0] = lr_times_a;
    o.n_nonconvex_rates = 0;
    o.n_model_rates = 0;
    tg_lesson_lr_result *r = malloc(sizeof *r);
    assert_non_null(r);
    assert_int_equal(tg_lesson_lr_run(&o, r), TG_OK);
    tg_descent_run d = r->quadratic[0];
    free(r);
    return d;
}

static void test_quadratic_regimes_change_exactly_at_1_over_a_and_2_over_a(void **state) {
    (void)state;
    const double curvatures[] = {0.5, 1, 4};
    for (int c = 0; c < 3; c++) {
        double a = curvatures[c];
        tg_descent_run d = run_quadratic(a, 0.99, 100);
        assert_near(d.lr, 0.99 / a, 1e-15);
        assert_int_equal(d.regime, TG_DESCENT_MONOTONE);
        assert_int_equal(d.sign_changes, 0);
        d = run_quadratic(a, 1.01, 100);
        assert_int_equal(d.regime, TG_DESCENT_OSCILLATING);
        assert_int_equal(d.sign_changes, 100); /* every step */
        d = run_quadratic(a, 1.99, 100);
        assert_int_equal(d.regime, TG_DESCENT_OSCILLATING);
        assert_true(fabs(d.x_end) < 1); /* |x| shrinks, slowly: 0.99^100 = 0.37 */
        assert_near(fabs(d.x_end), pow(0.99, 100), 1e-9);
        d = run_quadratic(a, 2.01, 100);
        assert_int_equal(d.regime, TG_DESCENT_DIVERGING);
        assert_near(fabs(d.x_end), pow(1.01, 100), 1e-9);
    }
}

static void test_measured_factor_per_step_is_one_minus_lr_times_a(void **state) {
    (void)state;
    const double multiples[] = {0.01, 0.3, 0.5, 1.5, 1.9, 2.5};
    for (int i = 0; i < 6; i++) {
        tg_descent_run d = run_quadratic(2, multiples[i], 100);
        assert_near(d.rate, fabs(1 - multiples[i]), 1e-12);
    }
}

static void test_lr_of_1_over_a_reaches_the_minimum_in_one_step(void **state) {
    (void)state;
    tg_descent_run d = run_quadratic(4, 1, 100);
    assert_int_equal(d.steps_to_tolerance, 1);
    assert_true(d.x_end == 0);
    assert_true(d.rate == 0);
    assert_int_equal(d.regime, TG_DESCENT_MONOTONE);
}

static void test_lr_of_2_over_a_bounces_between_x0_and_minus_x0(void **state) {
    (void)state;
    tg_descent_run d = run_quadratic(1, 2, 100);
    assert_int_equal(d.regime, TG_DESCENT_CYCLING);
    assert_int_equal(d.steps_to_tolerance, -1);
    assert_true(d.x_end == 1); /* an even number of sign changes */
    assert_true(d.trace[1] == -1 && d.trace[2] == 1);
}

static void test_too_small_lr_is_still_far_after_the_steps(void **state) {
    (void)state;
    tg_descent_run d = run_quadratic(1, 0.01, 100);
    assert_int_equal(d.steps_to_tolerance, -1);
    assert_near(d.loss_end, 0.5 * pow(0.99, 200), 1e-12); /* f = a/2 (0.99^100)^2 */
}

/* |x| = 1.5^k passes the bound 1e6 (1 + |x0|) = 2e6 at k = 36 (1.5^35 = 1.46e6, 1.5^36 = 2.19e6) */
static void test_far_too_large_lr_stops_at_the_step_it_diverged(void **state) {
    (void)state;
    tg_descent_run d = run_quadratic(1, 2.5, 100);
    assert_int_equal(d.regime, TG_DESCENT_DIVERGED);
    assert_int_equal(d.diverged_at, 36);
    assert_int_equal(d.steps_run, 36);
    assert_int_equal(d.steps_to_tolerance, -1);
}

/* roots of f'(x) = 4x^3 - 6x + 1 with f'' = 12x^2 - 6 > 0 (numpy.roots) */
static void test_minima_of_the_non_convex_function_come_from_the_engine(void **state) {
    (void)state;
    tg_lesson_lr_opts o = tg_lesson_lr_defaults();
    o.n_rates = o.n_model_rates = 0;
    tg_lesson_lr_result *r = malloc(sizeof *r);
    assert_int_equal(tg_lesson_lr_run(&o, r), TG_OK);
    assert_int_equal(r->n_minima, 2);
    assert_near(r->minima[0], -1.3008395659415772, 1e-12);
    assert_near(r->minimum_value[0], -3.51390503893479, 1e-12);
    assert_near(r->minimum_curvature[0], 14.306202915828855, 1e-9);
    assert_near(r->minima[1], 1.130901122629986, 1e-12);
    assert_near(r->minimum_curvature[1], 9.347248189989156, 1e-9);
    free(r);
}

/* From x0 = 2 (right basin): the limits 2/f'' are 0.1398 (left, sharp) and 0.2140 (right, flat). */
static void test_the_learning_rate_decides_where_descent_ends(void **state) {
    (void)state;
    tg_lesson_lr_opts o = tg_lesson_lr_defaults();
    o.n_rates = o.n_model_rates = 0;
    tg_lesson_lr_result *r = malloc(sizeof *r);
    assert_int_equal(tg_lesson_lr_run(&o, r), TG_OK);
    const tg_descent_run *d = r->nonconvex; /* 0.002 0.05 0.1 0.15 0.18 0.2 */
    double left = r->minima[0], right = r->minima[1];
    assert_true(d[0].minimum == right && d[0].steps_to_tolerance == -1);  /* too small: not there yet */
    assert_true(d[1].minimum == right && d[1].steps_to_tolerance > 0);   /* the nearest minimum */
    assert_true(d[2].minimum == left && d[2].steps_to_tolerance > 0);    /* over the barrier */
    assert_true(d[3].lr > 2 / r->minimum_curvature[0]);
    assert_true(d[3].minimum == left && d[3].regime == TG_DESCENT_CYCLING); /* cannot settle in the sharp one */
    assert_true(d[4].lr > 2 / r->minimum_curvature[0] && d[4].lr < 2 / r->minimum_curvature[1]);
    assert_true(d[4].minimum == right && d[4].steps_to_tolerance > 0);   /* ends in the flat one */
    assert_int_equal(d[5].regime, TG_DESCENT_DIVERGED);
    assert_true(d[5].diverged_at > 0 && d[5].diverged_at < 10);
    free(r);
}

static void test_model_regimes_hold_for_seeds_1_to_5(void **state) {
    (void)state;
    tg_lesson_lr_opts o = tg_lesson_lr_defaults();
    o.n_rates = o.n_nonconvex_rates = 0;
    tg_lesson_lr_result *r = malloc(sizeof *r);
    for (uint64_t seed = 1; seed <= 5; seed++) {
        o.seed = seed;
        assert_int_equal(tg_lesson_lr_run(&o, r), TG_OK);
        const tg_lr_model_run *m = r->model; /* 0.003 0.1 0.2 1 */
        /* too small: smooth, far from the target (more than 10x the loss of lr 0.1) */
        assert_int_equal(m[0].steps_to_target, -1);
        assert_int_equal(m[0].loss_increases, 0);
        assert_true(m[0].final_loss > 10 * m[1].final_loss);
        /* about right: smooth and at the target */
        assert_int_equal(m[1].loss_increases, 0);
        assert_true(m[1].steps_to_target > 0 && m[1].final_loss <= o.model_target);
        /* too large: the loss rises at many steps, but stays finite */
        assert_int_equal(m[2].diverged_at, 0);
        assert_true(m[2].loss_increases >= 5);
        assert_true(m[2].final_loss > m[1].final_loss);
        /* far too large: stopped at the step it diverged */
        assert_true(m[3].diverged_at > 0 && m[3].diverged_at <= 10);
        assert_int_equal(m[3].steps_run, m[3].diverged_at);
    }
    free(r);
}

static void test_lesson_prints_its_table_and_a_reading_without_nans(void **state) {
    (void)state;
    char *text = lesson_output("lr", NULL);
    assert_non_null(strstr(text, "diverged at step 36"));            /* the table, quadratic lr 2.5 */
    assert_non_null(strstr(text, "x* = -1.3008"));                    /* the minima */
    assert_non_null(strstr(text, "lr 2 = 2/a bounces between 1 and -1")); /* the reading */
    assert_null(strstr(text, "nan"));
    assert_null(strstr(text, "inf"));
    free(text);
}

static void test_bad_options_are_refused_with_their_values(void **state) {
    (void)state;
    tg_lesson_lr_result *r = malloc(sizeof *r);
    tg_lesson_lr_opts o = tg_lesson_lr_defaults();
    o.curvature = 0;
    assert_int_equal(tg_lesson_lr_run(&o, r), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "curvature 0");
    o = tg_lesson_lr_defaults();
    o.steps = 5;
    assert_int_equal(tg_lesson_lr_run(&o, r), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "steps 5");
    o = tg_lesson_lr_defaults();
    o.rates[2] = -1;
    assert_int_equal(tg_lesson_lr_run(&o, r), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "learning rate -1");
    assert_int_equal(tg_lesson_lr_run(NULL, r), TG_ERR_ARG);
    free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quadratic_regimes_change_exactly_at_1_over_a_and_2_over_a),
        cmocka_unit_test(test_measured_factor_per_step_is_one_minus_lr_times_a),
        cmocka_unit_test(test_lr_of_1_over_a_reaches_the_minimum_in_one_step),
        cmocka_unit_test(test_lr_of_2_over_a_bounces_between_x0_and_minus_x0),
        cmocka_unit_test(test_too_small_lr_is_still_far_after_the_steps),
        cmocka_unit_test(test_far_too_large_lr_stops_at_the_step_it_diverged),
        cmocka_unit_test(test_minima_of_the_non_convex_function_come_from_the_engine),
        cmocka_unit_test(test_the_learning_rate_decides_where_descent_ends),
        cmocka_unit_test(test_model_regimes_hold_for_seeds_1_to_5),
        cmocka_unit_test(test_lesson_prints_its_table_and_a_reading_without_nans),
        cmocka_unit_test(test_bad_options_are_refused_with_their_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
