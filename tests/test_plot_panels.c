/* Named series on panels (tg_plot_panels): a picture is written whole in the
 * format its name asks for, and bad requests are refused by name without
 * leaving a file behind; built without PLplot, the answer says so. */
#include "scratch_dir.h"

#include <sys/stat.h>

#include "testing.h"

#ifdef TG_HAVE_PLPLOT
/* LeakSanitizer: PLplot's cairo drivers load fonts through fontconfig and
 * pango, which keep their caches for the process; tapegrad's allocations
 * are still checked. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:libfontconfig.so\nleak:libpango\nleak:libcairo.so\nleak:libltdl.so\nleak:libglib-2.0.so\n"
           "leak:libgobject-2.0.so\n";
}
#endif

static const double xs[4] = {1, 2, 3, 4}, ys[4] = {1, 0.5, 0.25, 0.125}, negative[4] = {-1, -2, 0, -3};

static tg_plot_panel one_panel(const tg_plot_series *series, int n) {
    return (tg_plot_panel){.title = "t", .x_label = "x", .y_label = "y", .series = series, .n_series = n};
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_panels_are_drawn_into_the_named_file(void **state) {
    (void)state;
    tg_plot_series s[2] = {{"halves", xs, ys, 4, TG_PLOT_LINE_POINTS, 0},
                           {"dashed", xs, xs, 4, TG_PLOT_DASHED, 3}};
    tg_plot_panel panels[2] = {one_panel(s, 2), one_panel(s, 1)};
    panels[1].log_y = true;
    panels[1].legend = TG_LEGEND_BOTTOM_LEFT;
    const char *path = scratch_path("two.svg");
#ifdef TG_HAVE_PLPLOT
    assert_int_equal(tg_plot_panels(path, 2, panels), TG_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 1000);
    assert_int_equal(st.st_mode & 0777, 0644);
    FILE *in = fopen(path, "r");
    char head[512] = "";
    assert_true(fread(head, 1, sizeof head - 1, in) > 0);
    fclose(in);
    assert_non_null(strstr(head, "<svg"));
    assert_non_null(strstr(head, "1400")); /* two panels of 700 */
    assert_int_equal(tg_plot_panels(scratch_path("one.png"), 1, panels), TG_OK);
    assert_true(exists(scratch_path("one.png")));
#else
    assert_int_equal(tg_plot_panels(path, 2, panels), TG_ERR_UNSUPPORTED);
    assert_error_mentions(tg_last_error(), "PLplot");
    assert_false(exists(path));
#endif
}

static void test_bad_requests_are_refused_and_leave_no_file(void **state) {
    (void)state;
    tg_plot_series good = {"a", xs, ys, 4, TG_PLOT_LINE, 0};
    tg_plot_panel panel = one_panel(&good, 1);
    const char *path = scratch_path("bad.svg");
    assert_int_equal(tg_plot_panels(scratch_path("bad.txt"), 1, &panel), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), ".svg, .png or .pdf");
    assert_int_equal(tg_plot_panels(path, 0, &panel), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "0 panels");
    assert_int_equal(tg_plot_panels(path, TG_PLOT_MAX_PANELS + 1, &panel), TG_ERR_ARG);
    tg_plot_series null_data = {"b", xs, NULL, 4, TG_PLOT_LINE, 0};
    panel = one_panel(&null_data, 1);
    assert_int_equal(tg_plot_panels(path, 1, &panel), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "series 1 ('b')");
    tg_plot_series bad_colour = {"c", xs, ys, 4, TG_PLOT_LINE, TG_PLOT_COLORS + 1};
    panel = one_panel(&bad_colour, 1);
    assert_int_equal(tg_plot_panels(path, 1, &panel), TG_ERR_ARG);
    /* on a log axis, values <= 0 cannot be drawn: nothing left to draw is an error */
    tg_plot_series below_zero = {"d", xs, negative, 4, TG_PLOT_LINE, 0};
    panel = one_panel(&below_zero, 1);
    panel.log_y = true;
    assert_int_equal(tg_plot_panels(path, 1, &panel), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "no point to draw");
    panel.log_y = false;
    panel.n_series = 0;
    assert_int_equal(tg_plot_panels(path, 1, &panel), TG_ERR_ARG);
    assert_int_equal(tg_plot_panels(NULL, 1, &panel), TG_ERR_ARG);
    assert_false(exists(path));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_panels_are_drawn_into_the_named_file, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests_are_refused_and_leave_no_file, scratch_setup,
                                        scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
