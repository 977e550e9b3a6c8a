/* The tg program's command line: numbers are parsed strictly with a message
 * naming the option (tools/options.c, shared by every subcommand), tg demo
 * reports divergence with a non-zero exit, an allocation failure says so,
 * and tg --version prints the version. The program runs as a child process. */
#define _POSIX_C_SOURCE 200809L /* popen */
#include <stdlib.h>
#include <sys/wait.h>

#include "testing.h"
#include "tools/options.h"

static void test_integers_must_be_whole_and_in_range(void **state) {
    (void)state;
    int64_t v = -1;
    assert_true(tg_parse_int("tg x", "--n", "42", 1, 100, &v));
    assert_int_equal(v, 42);
    assert_true(tg_parse_int("tg x", "--n", "-5", -10, 10, &v));
    assert_int_equal(v, -5);
    const char *bad[] = {"5x", "", " 5", "5 ", "abc", "0x10", "1e3", "3.0", "101", "0", "99999999999999999999", "--5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        assert_false(tg_parse_int("tg x", "--n", bad[i], 1, 100, &v));
        assert_int_equal(v, 7); /* untouched */
    }
    assert_false(tg_parse_int("tg x", "--n", NULL, 1, 100, &v));
}

static void test_numbers_must_be_finite_whole_and_in_range(void **state) {
    (void)state;
    double v = -1;
    assert_true(tg_parse_number("tg x", "--lr", "0.05", 1e-12, 1e6, &v));
    assert_true(v == 0.05);
    assert_true(tg_parse_number("tg x", "--lr", "1e-3", 1e-12, 1e6, &v));
    assert_true(v == 1e-3);
    assert_true(tg_parse_number("tg x", "--lr", ".5", 0, 1, &v));
    assert_true(v == 0.5);
    const char *bad[] = {"1e300", "inf", "nan", "-0.1", "0.05x", "", " 1", "1e999", "x", "1,5", "0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        assert_false(tg_parse_number("tg x", "--lr", bad[i], 1e-12, 1e6, &v));
        assert_true(v == 7);
    }
}

static void test_seeds_take_every_64_bit_value_and_nothing_else(void **state) {
    (void)state;
    uint64_t v = 0;
    assert_true(tg_parse_seed("tg x", "--seed", "18446744073709551615", &v));
    assert_true(v == UINT64_MAX);
    assert_true(tg_parse_seed("tg x", "--seed", "0", &v));
    assert_true(v == 0);
    const char *bad[] = {"-1", "abc", "18446744073709551616", "7 ", "+3", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_false(tg_parse_seed("tg x", "--seed", bad[i], &v));
}

/* ---- the program ---- */

/* Runs a shell command (stderr into the output); returns its exit status
 * and leaves what it printed in `out`. */
static int run(const char *command, char *out, size_t size) {
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    size_t len = fread(out, 1, size - 1, pipe);
    out[len] = '\0';
    int status = pclose(pipe);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* Runs `tg ARGS`. */
static int run_tg(const char *args, char *out, size_t size) {
    char command[1024];
    snprintf(command, sizeof command, "%s/tg %s 2>&1", TG_BINARY_DIR, args);
    return run(command, out, size);
}

static char output[1 << 16];

static void test_bad_numbers_stop_tg_with_a_message_naming_the_option(void **state) {
    (void)state;
    assert_int_equal(run_tg("demo --steps 5x", output, sizeof output), 2);
    assert_error_mentions(output, "tg demo: --steps expects an integer from 1 to 100000000, got '5x'");
    assert_int_equal(run_tg("demo --seed abc", output, sizeof output), 2);
    assert_error_mentions(output, "tg demo: --seed expects an integer from 0 to 18446744073709551615, got 'abc'");
    assert_int_equal(run_tg("demo --lr=1e308", output, sizeof output), 2);
    assert_error_mentions(output, "--lr expects a number from 1e-12 to 1e+06, got '1e308'");
    assert_int_equal(run_tg("bench --op matmul --threads 0", output, sizeof output), 2);
    assert_error_mentions(output, "tg bench: --threads expects an integer from 1 to 1024, got '0'");
    assert_int_equal(run_tg("bench --op matmul --time 1e300", output, sizeof output), 2);
    assert_error_mentions(output, "tg bench: --time expects a number from 0.001 to 3600, got '1e300'");
    assert_int_equal(run_tg("gradcheck --seed -1", output, sizeof output), 2);
    assert_error_mentions(output, "tg gradcheck: --seed expects an integer");
    assert_int_equal(run_tg("demo --steps", output, sizeof output), 2);
    assert_error_mentions(output, "unknown option '--steps' (or its value is missing)");
}

/* it used to print "worst relative error 0.00%" for NaN coefficients and exit 0 */
static void test_demo_reports_divergence_and_fails(void **state) {
    (void)state;
    assert_int_equal(run_tg("demo --lr 5 --steps 200", output, sizeof output), 1);
    assert_error_mentions(output, "tg demo: diverged: the loss is");
    assert_error_mentions(output, "the learning rate 5 is too large");
    assert_null(strstr(output, "worst relative error"));
    assert_int_equal(run_tg("demo --steps 40", output, sizeof output), 0);
    assert_error_mentions(output, "worst relative error");
}

static void test_version_names_the_program_and_library(void **state) {
    (void)state;
    assert_int_equal(run_tg("--version", output, sizeof output), 0);
    assert_error_mentions(output, "tg " TG_VERSION " (tapegrad " TG_VERSION);
}

/* 100 million samples need 1.6 GB; with 300 MB of address space the demo
 * cannot have them (a sanitizer build needs far more address space to start) */
static void test_demo_out_of_memory_says_so(void **state) {
    (void)state;
#ifdef TG_TESTING_SANITIZED
    skip();
#else
    char command[1024];
    snprintf(command, sizeof command, "sh -c 'ulimit -v 300000; exec %s/tg demo --samples 100000000' 2>&1",
             TG_BINARY_DIR);
    assert_int_equal(run(command, output, sizeof output), 1);
    assert_error_mentions(output, "tg demo: out of memory for 100000000 samples");
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers_must_be_whole_and_in_range),
        cmocka_unit_test(test_numbers_must_be_finite_whole_and_in_range),
        cmocka_unit_test(test_seeds_take_every_64_bit_value_and_nothing_else),
        cmocka_unit_test(test_bad_numbers_stop_tg_with_a_message_naming_the_option),
        cmocka_unit_test(test_demo_reports_divergence_and_fails),
        cmocka_unit_test(test_version_names_the_program_and_library),
        cmocka_unit_test(test_demo_out_of_memory_says_so),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
