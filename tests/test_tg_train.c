/* The `tg train` command as a user runs it: a stopped and resumed run ends
 * with the same model as an unbroken one, Ctrl-C saves the run and exits
 * with 130, settings that would change a saved run are refused, bad numbers
 * are refused. Runs the tg program of the same build (skipped when the build
 * has no tools). */
#include "scratch_dir.h" /* kill, waitpid too */

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testing.h"
#include "tg_program.h"

static uint64_t model_fingerprint(const char *path) {
    tg_params *p = tg_params_new();
    assert_int_equal(tg_params_load(p, path), TG_OK);
    uint64_t h = store_fingerprint(p);
    tg_params_free(p);
    return h;
}

#define SPIRAL "train", "--data", "spiral", "--samples", "400", "--hidden", "16,16", "--batch", "32", "--threads", "1"

static void test_stop_and_resume_ends_with_the_same_model(void **state) {
    (void)state;
    need_tg();
    char whole[320], part[320];
    snprintf(whole, sizeof whole, "%s", scratch_path("whole.tg"));
    snprintf(part, sizeof part, "%s", scratch_path("part.tg"));
    assert_int_equal(run_tg((const char *[]){SPIRAL, "--epochs", "3", "--save", whole, NULL}), 0);
    assert_non_null(strstr(output(), "epoch 3/3"));
    /* 10 steps an epoch: stop in the middle of the second */
    assert_int_equal(run_tg((const char *[]){SPIRAL, "--epochs", "3", "--max-steps", "14", "--save", part, NULL}), 0);
    assert_non_null(strstr(output(), "stopped after 14 steps (epoch 2 of 3)"));
    assert_non_null(strstr(output(), "tg train --resume"));
    assert_true(model_fingerprint(part) != model_fingerprint(whole));
    /* the settings come from the checkpoint */
    assert_int_equal(run_tg((const char *[]){"train", "--resume", part, "--threads", "1", "--save", part, NULL}), 0);
    assert_non_null(strstr(output(), "resumed from"));
    assert_non_null(strstr(output(), "after 1 epochs (14 steps)"));
    assert_true(model_fingerprint(part) == model_fingerprint(whole));
}

static void test_resume_refuses_settings_that_change_the_run(void **state) {
    (void)state;
    need_tg();
    char path[320];
    snprintf(path, sizeof path, "%s", scratch_path("run.tg"));
    assert_int_equal(run_tg((const char *[]){SPIRAL, "--epochs", "1", "--save", path, NULL}), 0);
    assert_int_equal(run_tg((const char *[]){"train", "--resume", path, "--hidden", "32", NULL}), 2);
    assert_non_null(strstr(output(), "--hidden differs from the run saved in"));
    assert_int_equal(run_tg((const char *[]){"train", "--resume", path, "--lr", "0.5", NULL}), 2);
    assert_non_null(strstr(output(), "--lr differs"));
    /* more epochs continue it */
    assert_int_equal(run_tg((const char *[]){"train", "--resume", path, "--epochs", "2", "--threads", "1", NULL}), 0);
    assert_non_null(strstr(output(), "epoch 2/2"));
}

static void test_bad_numbers_and_unknown_options_are_refused(void **state) {
    (void)state;
    need_tg();
    assert_int_equal(run_tg((const char *[]){"train", "--epochs", "5x", NULL}), 2);
    assert_non_null(strstr(output(), "--epochs expects an integer from 1 to 1000000, got '5x'"));
    assert_int_equal(run_tg((const char *[]){"train", "--lr", "nan", NULL}), 2);
    assert_non_null(strstr(output(), "--lr expects a number"));
    assert_int_equal(run_tg((const char *[]){"train", "--batch", "0", NULL}), 2);
    assert_int_equal(run_tg((const char *[]){"train", "--frobnicate", NULL}), 2);
    assert_non_null(strstr(output(), "unknown option '--frobnicate'"));
    assert_int_equal(run_tg((const char *[]){"train", "--data", "/no/such/file.csv", NULL}), 1);
    assert_non_null(strstr(output(), "/no/such/file.csv"));
}

static void test_ctrl_c_saves_the_run_and_exits_130(void **state) {
    (void)state;
    need_tg();
    char path[320], log[320], out[320];
    snprintf(path, sizeof path, "%s", scratch_path("run.tg"));
    snprintf(log, sizeof log, "%s", scratch_path("log.csv"));
    snprintf(out, sizeof out, "%s", scratch_path("out.txt"));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(out, "w", stdout)) _exit(99);
        execl(TG, TG, SPIRAL, "--epochs", "100000", "--save", path, "--log", log, (char *)NULL);
        _exit(98);
    }
    /* wait for the first epoch in the log, then interrupt */
    for (int i = 0; i < 600; i++) {
        usleep(50000);
        FILE *in = fopen(log, "r");
        char line[256];
        bool epoch = false;
        while (in && fgets(line, sizeof line, in)) epoch |= strncmp(line, "epoch,", 6) == 0;
        if (in) fclose(in);
        if (epoch) break;
    }
    assert_int_equal(kill(pid, SIGINT), 0);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 130);
    assert_non_null(strstr(output(), "stopped after"));
    assert_non_null(strstr(output(), "saved to"));
    char settings[4096];
    assert_int_equal(tg_run_settings(path, settings, sizeof settings), TG_OK);
    assert_non_null(strstr(settings, "--epochs=100000\n"));
    /* the saved run continues (a short extension: fewer epochs is allowed and ends at once) */
    assert_int_equal(run_tg((const char *[]){"train", "--resume", path, "--epochs", "1", "--threads", "1", NULL}), 0);
}

int main(void) {
#define WITH_DIR(test) cmocka_unit_test_setup_teardown(test, scratch_setup, scratch_teardown)
    const struct CMUnitTest tests[] = {
        WITH_DIR(test_stop_and_resume_ends_with_the_same_model),
        WITH_DIR(test_resume_refuses_settings_that_change_the_run),
        WITH_DIR(test_bad_numbers_and_unknown_options_are_refused),
        WITH_DIR(test_ctrl_c_saves_the_run_and_exits_130),
    };
    return cmocka_run_group_tests_name("tg train", tests, NULL, NULL);
}
