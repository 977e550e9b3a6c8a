/* Running the tg program of the same build from a test, as a user would:
 *   need_tg();                                      // skips the test in a build without tools
 *   assert_int_equal(run_tg((const char *[]){"lesson", "lr", NULL}), 0);
 *   assert_non_null(strstr(output(), "diverged at step"));
 * Needs scratch_dir.h (its output goes to scratch_path("out.txt")), included first. */
#ifndef TG_TESTS_TG_PROGRAM_H
#define TG_TESTS_TG_PROGRAM_H

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const TG = TG_BINARY_DIR "/tg";

static void need_tg(void) {
    if (access(TG, X_OK) != 0) skip();
}

/* Runs tg with arguments (NULL-terminated), output into out.txt; its exit status. */
static int run_tg(const char *const *args) {
    const char *out = scratch_path("out.txt");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(out, "a", stderr)) _exit(99);
        char *argv[40];
        int n = 0;
        argv[n++] = (char *)TG;
        for (int i = 0; args[i] && n < 39; i++) argv[n++] = (char *)args[i];
        argv[n] = NULL;
        execv(TG, argv);
        _exit(98);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The output of the last run_tg. */
static char *output(void) {
    static char text[65536];
    FILE *in = fopen(scratch_path("out.txt"), "r");
    size_t n = in ? fread(text, 1, sizeof text - 1, in) : 0;
    text[n] = '\0';
    if (in) fclose(in);
    return text;
}

#endif
