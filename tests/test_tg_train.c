/* The `tg train` command as a user runs it: a stopped and resumed run ends
 * with the same model as an unbroken one, Ctrl-C saves the run and exits
 * with 130, settings that would change a saved run are refused, bad numbers
 * are refused, the cnn trains on image files. Runs the tg program of the same build (skipped when the build
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

/* dir/<split>-images-idx3-ubyte and -labels-idx1-ubyte (plain IDX): n 8x8
 * images of a horizontal bar (label 0), a vertical bar (1) or a diagonal (2) */
static void write_bars(const char *split, int n, uint64_t seed) {
    char path[320];
    tg_rng rng = tg_rng_new(seed);
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", scratch_dir, split);
    FILE *images = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", scratch_dir, split);
    FILE *labels = fopen(path, "wb");
    assert_true(images && labels);
    const unsigned char image_header[16] = {0, 0, 8, 3, 0, 0, (unsigned char)(n >> 8), (unsigned char)n, 0, 0, 0, 8,
                                            0, 0, 0, 8};
    const unsigned char label_header[8] = {0, 0, 8, 1, 0, 0, (unsigned char)(n >> 8), (unsigned char)n};
    fwrite(image_header, 1, sizeof image_header, images);
    fwrite(label_header, 1, sizeof label_header, labels);
    for (int i = 0; i < n; i++) {
        unsigned char label = (unsigned char)tg_rng_below(&rng, 3), pixels[64];
        int where = 1 + (int)tg_rng_below(&rng, 6);
        for (int r = 0; r < 8; r++)
            for (int c = 0; c < 8; c++) {
                bool on = label == 0 ? r == where : label == 1 ? c == where : r == c;
                pixels[r * 8 + c] = (unsigned char)((on ? 160 : 20) + tg_rng_below(&rng, 80));
            }
        fwrite(pixels, 1, sizeof pixels, images);
        fwrite(&label, 1, 1, labels);
    }
    assert_int_equal(fclose(images), 0);
    assert_int_equal(fclose(labels), 0);
}

static void test_the_cnn_trains_on_image_files_and_refuses_other_data(void **state) {
    (void)state;
    need_tg();
    write_bars("train", 240, 1);
    write_bars("t10k", 120, 2);
    assert_int_equal(run_tg((const char *[]){"train", "--model", "cnn", "--data", scratch_dir, "--channels", "4,4",
                                             "--epochs", "3", "--batch", "20", "--threads", "1", NULL}),
                     0);
    char *out = output();
    assert_non_null(strstr(out, "model: cnn 1x8x8 conv4-4 fc128-10 batchnorm dropout 0.25")); /* the cnn's default */
    char *accuracy = strstr(out, "test accuracy ");
    assert_non_null(accuracy);
    assert_true(atof(accuracy + strlen("test accuracy ")) > 90);
    assert_int_equal(run_tg((const char *[]){"train", "--model", "cnn", "--data", "spiral", NULL}), 1);
    assert_non_null(strstr(output(), "--model cnn classifies images ([H,W] or [C,H,W] samples); spiral"));
    assert_int_equal(run_tg((const char *[]){"train", "--model", "cnn", "--data", scratch_dir, "--channels", "4,0",
                                             NULL}),
                     1);
    assert_non_null(strstr(output(), "--channels '4,0': expected up to 6 sizes"));
}

int main(void) {
#define WITH_DIR(test) cmocka_unit_test_setup_teardown(test, scratch_setup, scratch_teardown)
    const struct CMUnitTest tests[] = {
        WITH_DIR(test_stop_and_resume_ends_with_the_same_model),
        WITH_DIR(test_resume_refuses_settings_that_change_the_run),
        WITH_DIR(test_bad_numbers_and_unknown_options_are_refused),
        WITH_DIR(test_ctrl_c_saves_the_run_and_exits_130),
        WITH_DIR(test_the_cnn_trains_on_image_files_and_refuses_other_data),
    };
    return cmocka_run_group_tests_name("tg train", tests, NULL, NULL);
}
