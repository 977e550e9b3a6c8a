/* Lesson "l2": the fits are the exact minima of the penalised loss (checked
 * against the normal equations solved here), and for seeds 1 to 5 lambda = 0
 * overfits, the held-out error is U-shaped in lambda with its minimum inside
 * the sweep, the best lambda tames the high-order coefficients and brings the
 * fit near the true quadratic, and lambda = 10 underfits. */
#include "lesson_testing.h"

#include <stdlib.h>

/* Solves the 3x3 system a x = b by Cramer's rule. */
static void solve3(const double a[9], const double b[3], double x[3]) {
    double det = a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) +
                 a[2] * (a[3] * a[7] - a[4] * a[6]);
    for (int k = 0; k < 3; k++) {
        double m[9];
        memcpy(m, a, sizeof m);
        for (int r = 0; r < 3; r++) m[r * 3 + k] = b[r];
        x[k] = (m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                m[2] * (m[3] * m[7] - m[4] * m[6])) /
               det;
    }
}

/* The minimum of mean((c0 + c1 x + c2 x^2 - y)^2) + lambda/2 (c1^2 + c2^2):
 * (2/n) A^T A c + lambda D c = (2/n) A^T y with D = diag(0, 1, 1). */
static void ridge_by_hand(const double *x, const double *y, int n, double lambda, double c[3]) {
    double a[9] = {0}, b[3] = {0};
    for (int i = 0; i < n; i++) {
        double row[3] = {1, x[i], x[i] * x[i]};
        for (int j = 0; j < 3; j++) {
            b[j] += 2.0 / n * row[j] * y[i];
            for (int k = 0; k < 3; k++) a[j * 3 + k] += 2.0 / n * row[j] * row[k];
        }
    }
    a[4] += lambda;
    a[8] += lambda;
    solve3(a, b, c);
}

static void test_fits_are_the_exact_minima_of_the_penalised_loss(void **state) {
    (void)state;
    tg_lesson_l2_opts o = tg_lesson_l2_defaults();
    o.degree = 2;
    tg_lesson_l2_result *r = malloc(sizeof *r);
    assert_int_equal(tg_lesson_l2_run(&o, r), TG_OK);
    for (int i = 0; i < o.n_lambdas; i++) {
        double c[3];
        ridge_by_hand(r->x, r->y, (int)o.samples, o.lambdas[i], c);
        for (int k = 0; k < 3; k++) assert_near(r->fits[i].coefficients[k], c[k], 1e-10);
        assert_true(r->fits[i].gradient_norm < 1e-12);
    }
    free(r);
}

static void test_training_error_never_falls_as_lambda_grows(void **state) {
    (void)state;
    tg_lesson_l2_result *r = malloc(sizeof *r);
    tg_lesson_l2_opts o = tg_lesson_l2_defaults();
    assert_int_equal(tg_lesson_l2_run(&o, r), TG_OK);
    for (int i = 1; i < o.n_lambdas; i++) assert_true(r->fits[i].train_error >= r->fits[i - 1].train_error);
    for (int i = 0; i < o.n_lambdas; i++) assert_true(r->fits[i].gradient_norm < 1e-10); /* exact minima */
    free(r);
}

static void test_overfitting_and_the_u_of_held_out_error_for_seeds_1_to_5(void **state) {
    (void)state;
    tg_lesson_l2_result *r = malloc(sizeof *r);
    for (uint64_t seed = 1; seed <= 5; seed++) {
        tg_lesson_l2_opts o = tg_lesson_l2_defaults();
        o.seed = seed;
        assert_int_equal(tg_lesson_l2_run(&o, r), TG_OK);
        const tg_l2_fit *none = &r->fits[0], *best = &r->fits[r->best], *last = &r->fits[o.n_lambdas - 1];
        assert_true(none->lambda == 0 && last->lambda == 10);
        /* the minimum of the held-out error is inside the sweep: a U */
        assert_true(r->best > 0 && r->best < o.n_lambdas - 1);
        /* lambda = 0 overfits: lower training error, far higher held-out error, huge coefficients */
        assert_true(none->train_error < best->train_error);
        assert_true(none->held_out_error > 5 * best->held_out_error);
        assert_true(none->largest > 30 * best->largest);
        assert_true(none->largest_high > 30 * best->largest_high);
        /* the best fit is near the true quadratic: closer than the noise (sigma 0.3) */
        assert_true(best->truth_distance < 0.3);
        assert_true(best->truth_distance < none->truth_distance / 2);
        /* lambda = 10 underfits: training and held-out error both high */
        assert_true(last->held_out_error > 3 * best->held_out_error);
        assert_true(last->train_error > 3 * best->train_error);
    }
    free(r);
}

static void test_lesson_prints_its_tables_and_a_reading(void **state) {
    (void)state;
    char *text = lesson_output("l2", NULL);
    assert_non_null(strstr(text, "<- lowest held-out error"));
    assert_non_null(strstr(text, "rises on both sides: a U"));
    assert_non_null(strstr(text, "at lambda = 10 the fit underfits"));
    assert_null(strstr(text, "nan"));
    free(text);
}

static void test_bad_options_are_refused(void **state) {
    (void)state;
    tg_lesson_l2_result *r = malloc(sizeof *r);
    tg_lesson_l2_opts o = tg_lesson_l2_defaults();
    o.degree = 40;
    assert_int_equal(tg_lesson_l2_run(&o, r), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "degree 40");
    o = tg_lesson_l2_defaults();
    o.lambdas[3] = -1;
    assert_int_equal(tg_lesson_l2_run(&o, r), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "lambda -1");
    free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fits_are_the_exact_minima_of_the_penalised_loss),
        cmocka_unit_test(test_training_error_never_falls_as_lambda_grows),
        cmocka_unit_test(test_overfitting_and_the_u_of_held_out_error_for_seeds_1_to_5),
        cmocka_unit_test(test_lesson_prints_its_tables_and_a_reading),
        cmocka_unit_test(test_bad_options_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
