/* A fresh directory for the files one test writes, removed after it:
 *   cmocka_unit_test_setup_teardown(test_x, scratch_setup, scratch_teardown)
 * then scratch_dir is its path, scratch_path("run.tg") a file in it and
 * files_in(dir) how many entries a directory holds.
 * Include before any system header (it asks for POSIX's mkdtemp). */
#ifndef TG_TESTS_SCRATCH_DIR_H
#define TG_TESTS_SCRATCH_DIR_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include <stdio.h>
#include <stdlib.h>

static char scratch_dir[256];

static inline int scratch_setup(void **state) {
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch_dir, sizeof scratch_dir, "%s/tapegrad-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(scratch_dir) ? 0 : -1;
}

static inline int scratch_teardown(void **state) {
    (void)state;
    char command[300];
    snprintf(command, sizeof command, "rm -rf '%s'", scratch_dir);
    return system(command) == 0 ? 0 : -1;
}

/* scratch_dir/name, in one of four rotating buffers (valid for a few calls). */
static inline const char *scratch_path(const char *name) {
    static char paths[4][320];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s", scratch_dir, name);
    return path;
}

/* The number of entries in dir (dot files too), -1 if it cannot be listed. */
static inline int files_in(const char *dir) {
    char command[400];
    snprintf(command, sizeof command, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(command, "r");
    if (!p) return -1;
    int n = -1;
    if (fscanf(p, "%d", &n) != 1) n = -1;
    pclose(p);
    return n;
}

#endif
