/* The `tg lesson` command as a user runs it: it lists the lessons, runs one
 * with its options and draws its picture, explains a lesson's options, and
 * refuses bad numbers, unknown options and unknown lessons by name. Runs the
 * tg program of the same build (skipped when the build has no tools). */
#include "scratch_dir.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "testing.h"
#include "tg_program.h"

static void test_without_a_name_it_lists_every_lesson(void **state) {
    (void)state;
    need_tg();
    assert_int_equal(run_tg((const char *[]){"lesson", NULL}), 0);
    const char *names[] = {"backprop", "lr", "gd", "l2", "bn"};
    for (int i = 0; i < 5; i++) assert_non_null(strstr(output(), names[i]));
    assert_non_null(strstr(output(), "tg lesson all"));
}

static void test_a_lesson_runs_with_its_options_and_draws_its_picture(void **state) {
    (void)state;
    need_tg();
    char picture[320];
    snprintf(picture, sizeof picture, "%s", scratch_path("l2.svg"));
    assert_int_equal(run_tg((const char *[]){"lesson", "l2", "--degree=5", "--seed", "3", "--plot", picture, NULL}), 0);
    assert_non_null(strstr(output(), "lesson l2: L2 regularisation"));
    assert_non_null(strstr(output(), "a degree-5 polynomial"));
    assert_non_null(strstr(output(), "<- lowest held-out error"));
    assert_non_null(strstr(output(), "ran in"));
    struct stat st;
#ifdef TG_HAVE_PLPLOT
    assert_non_null(strstr(output(), "picture: "));
    assert_int_equal(stat(picture, &st), 0);
#else
    assert_int_equal(stat(picture, &st), -1);
#endif
    /* the backprop lesson's picture is its graph: DOT text needs no library */
    char graph[320];
    snprintf(graph, sizeof graph, "%s", scratch_path("backprop.dot"));
    assert_int_equal(run_tg((const char *[]){"lesson", "backprop", "--plot", graph, NULL}), 0);
    assert_non_null(strstr(output(), "tg_gradcheck over all nine parameters at once: passed"));
    FILE *in = fopen(graph, "r");
    assert_non_null(in);
    char head[64] = "";
    assert_true(fread(head, 1, sizeof head - 1, in) > 0);
    fclose(in);
    assert_non_null(strstr(head, "digraph"));
}

static void test_help_lists_a_lessons_options_with_their_defaults(void **state) {
    (void)state;
    need_tg();
    assert_int_equal(run_tg((const char *[]){"lesson", "lr", "--help", NULL}), 0);
    assert_non_null(strstr(output(), "--curvature"));
    assert_non_null(strstr(output(), "--steps"));
    assert_non_null(strstr(output(), "(100)"));
    assert_non_null(strstr(output(), "--plot FILE"));
}

static void test_bad_numbers_unknown_options_and_lessons_are_refused(void **state) {
    (void)state;
    need_tg();
    assert_int_equal(run_tg((const char *[]){"lesson", "lr", "--steps", "5x", NULL}), 2);
    assert_non_null(strstr(output(), "--steps expects an integer from 20 to 1000000, got '5x'"));
    assert_int_equal(run_tg((const char *[]){"lesson", "lr", "--steps", "10", NULL}), 2); /* below the range */
    assert_int_equal(run_tg((const char *[]){"lesson", "lr", "--curvature", "inf", NULL}), 2);
    assert_non_null(strstr(output(), "--curvature expects a number"));
    assert_int_equal(run_tg((const char *[]){"lesson", "backprop", "--seed", "-1", NULL}), 2);
    assert_int_equal(run_tg((const char *[]){"lesson", "lr", "--steps", NULL}), 2);
    assert_non_null(strstr(output(), "--steps needs a value"));
    assert_int_equal(run_tg((const char *[]){"lesson", "lr", "--frobnicate", NULL}), 2);
    assert_non_null(strstr(output(), "unknown option '--frobnicate'"));
    assert_int_equal(run_tg((const char *[]){"lesson", "nope", NULL}), 2);
    assert_non_null(strstr(output(), "no lesson 'nope'"));
    assert_int_equal(run_tg((const char *[]){"lesson", "all", "--degree", "3", NULL}), 2);
    assert_non_null(strstr(output(), "unknown option or missing value '--degree'"));
}

static void test_a_picture_it_cannot_draw_is_refused_before_the_run(void **state) {
    (void)state;
    need_tg();
    assert_int_equal(run_tg((const char *[]){"lesson", "bn", "--plot", scratch_path("bn.txt"), NULL}), 2);
    assert_non_null(strstr(output(), "tg lesson bn: --plot"));
    assert_non_null(strstr(output(), "must end in one of .svg .png .pdf"));
    assert_null(strstr(output(), "epochs to")); /* nothing ran */
}

static void test_a_failing_lesson_prints_what_it_has_then_names_itself_and_exits_1(void **state) {
    (void)state;
    need_tg();
    assert_int_equal(run_tg((const char *[]){"lesson", "l2", "--plot", "/no/such/dir/l2.svg", NULL}), 1);
    assert_non_null(strstr(output(), "<- lowest held-out error"));
    assert_non_null(strstr(output(), "tg lesson l2: tg_plot_panels"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_without_a_name_it_lists_every_lesson, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_a_lesson_runs_with_its_options_and_draws_its_picture, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_help_lists_a_lessons_options_with_their_defaults, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_bad_numbers_unknown_options_and_lessons_are_refused, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_a_picture_it_cannot_draw_is_refused_before_the_run, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_a_failing_lesson_prints_what_it_has_then_names_itself_and_exits_1,
                                        scratch_setup, scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
