/* tg lesson: the lessons of training as runnable experiments (train/lesson.h).
 *   tg lesson                               lists them
 *   tg lesson NAME [--plot FILE] [options]  runs one: its table, its reading, its picture
 *   tg lesson NAME --help                   its options and their defaults
 *   tg lesson all [--plot-dir DIR] [--seed S]  runs every one */
#define _POSIX_C_SOURCE 200809L /* mkdir */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tapegrad.h"
#include "tools/commands.h"
#include "tools/options.h"

static void list(FILE *out) {
    fprintf(out, "usage: tg lesson NAME [--plot FILE] [--seed S] [options]   run one lesson\n"
                 "       tg lesson NAME --help                             its options\n"
                 "       tg lesson all [--plot-dir DIR] [--seed S]          run them all\n\n"
                 "The classic facts of training as measured experiments: each prints a table, a reading\n"
                 "of its numbers and, with --plot, draws them.\n\nlessons:\n");
    for (int i = 0; i < tg_lesson_count(); i++) {
        const tg_lesson *l = tg_lesson_at(i);
        fprintf(out, "  %-9s %s: %s\n", l->name, l->title, l->summary);
    }
}

/* the value of a field of a lesson's options, as text */
static void option_value(const tg_lesson_option *o, const void *opts, char *buf, size_t size) {
    const char *field = (const char *)opts + o->offset;
    switch (o->kind) {
    case TG_LESSON_INT: snprintf(buf, size, "%" PRId64, *(const int64_t *)(const void *)field); break;
    case TG_LESSON_REAL: snprintf(buf, size, "%g", *(const double *)(const void *)field); break;
    case TG_LESSON_SEED: snprintf(buf, size, "%" PRIu64, *(const uint64_t *)(const void *)field); break;
    }
}

static void lesson_usage(FILE *out, const tg_lesson *l, const void *defaults) {
    fprintf(out, "usage: tg lesson %s [--plot FILE] [--threads N] [options]\n\n%s: %s\n\noptions (default):\n",
            l->name, l->title, l->summary);
    fprintf(out, "  %-14s %s\n", "--plot FILE", "draw the picture (.svg, .png or .pdf)");
    fprintf(out, "  %-14s %s\n", "--threads N", "OpenMP threads (1: the lessons' tensors are small)");
    for (int i = 0; i < l->n_options; i++) {
        char value[64];
        option_value(&l->options[i], defaults, value, sizeof value);
        fprintf(out, "  %-14s %s (%s)\n", l->options[i].name, l->options[i].help, value);
    }
}

/* Parses text into the option's field; false + message on stderr. */
static bool set_option(const tg_lesson_option *o, const char *text, void *opts) {
    char *field = (char *)opts + o->offset;
    switch (o->kind) {
    case TG_LESSON_INT:
        return tg_parse_int("tg lesson", o->name, text, (int64_t)o->min, (int64_t)o->max, (int64_t *)(void *)field);
    case TG_LESSON_REAL: return tg_parse_number("tg lesson", o->name, text, o->min, o->max, (double *)(void *)field);
    case TG_LESSON_SEED: return tg_parse_seed("tg lesson", o->name, text, (uint64_t *)(void *)field);
    }
    return false;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs one lesson; 0 or 1 (2: a picture it cannot draw) */
static int run_lesson(const tg_lesson *l, const void *opts, const char *plot) {
    if (plot && !tg_lesson_picture_format_ok(l, plot)) {
        fprintf(stderr, "tg lesson %s: --plot '%s': the file name must end in one of %s\n", l->name, plot,
                l->picture_formats);
        return 2;
    }
    printf("lesson %s: %s\n\n", l->name, l->title);
    fflush(stdout);
    double start = now();
    tg_status st = l->run(opts, stdout, plot);
    if (st) {
        fflush(stdout); /* the table first, then why the rest failed */
        fprintf(stderr, "tg lesson %s: %s\n", l->name, tg_last_error());
        return 1;
    }
    if (plot) printf("picture: %s\n", plot);
    printf("(lesson %s ran in %.1f s)\n", l->name, now() - start);
    return 0;
}

/* tg lesson all: every lesson with its defaults (and the seed), pictures DIR/NAME.svg */
static int run_all(int argc, char **argv) {
    const char *dir = NULL, *seed_text = NULL;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if ((v = tg_option(argc, argv, &i, "--plot-dir")))
            dir = v;
        else if ((v = tg_option(argc, argv, &i, "--seed")))
            seed_text = v;
        else if ((v = tg_option(argc, argv, &i, "--threads"))) {
            int64_t threads;
            if (!tg_parse_int("tg lesson", "--threads", v, 1, 1024, &threads)) return 2;
            tg_set_num_threads((int)threads);
        } else {
            fprintf(stderr, "tg lesson all: unknown option or missing value '%s' (--plot-dir DIR, --seed S, "
                            "--threads N)\n", argv[i]);
            return 2;
        }
    }
    uint64_t seed = 0;
    if (seed_text && !tg_parse_seed("tg lesson", "--seed", seed_text, &seed)) return 2;
    if (dir && mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "tg lesson all: cannot make the directory '%s': %s\n", dir, strerror(errno));
        return 1;
    }
    int failed = 0;
    for (int i = 0; i < tg_lesson_count(); i++) {
        const tg_lesson *l = tg_lesson_at(i);
        void *opts = calloc(1, l->options_size);
        char plot[4096];
        if (!opts) {
            fprintf(stderr, "tg lesson all: out of memory\n");
            return 1;
        }
        l->defaults(opts);
        for (int k = 0; seed_text && k < l->n_options; k++)
            if (l->options[k].kind == TG_LESSON_SEED) *(uint64_t *)(void *)((char *)opts + l->options[k].offset) = seed;
        if (dir) snprintf(plot, sizeof plot, "%s/%s.svg", dir, l->name);
        if (i) printf("\n");
        failed += run_lesson(l, opts, dir ? plot : NULL) != 0;
        free(opts);
    }
    return failed ? 1 : 0;
}

int tg_cmd_lesson(int argc, char **argv) {
    /* The lessons' tensors are small: a second thread only adds waiting at
     * OpenMP barriers, which on a busy machine distorts the timings the gd
     * and bn lessons report. --threads changes it; the numbers other than
     * times are the same for any thread count. */
    tg_set_num_threads(1);
    if (argc < 2) {
        list(stdout);
        return 0;
    }
    if (tg_flag(argv[1], "--help") || tg_flag(argv[1], "-h")) {
        list(stdout);
        return 0;
    }
    if (tg_flag(argv[1], "all")) return run_all(argc, argv);
    const tg_lesson *l = tg_lesson_find(argv[1]);
    if (!l) {
        fprintf(stderr, "tg lesson: no lesson '%s'\n\n", argv[1]);
        list(stderr);
        return 2;
    }
    void *opts = calloc(1, l->options_size);
    if (!opts) {
        fprintf(stderr, "tg lesson: out of memory\n");
        return 1;
    }
    l->defaults(opts);
    const char *plot = NULL;
    int rc = 0;
    for (int i = 2; i < argc && !rc; i++) {
        const char *arg = argv[i], *v;
        if (tg_flag(arg, "--help") || tg_flag(arg, "-h")) {
            lesson_usage(stdout, l, opts);
            free(opts);
            return 0;
        }
        if ((v = tg_option(argc, argv, &i, "--plot"))) {
            plot = v;
            continue;
        }
        if ((v = tg_option(argc, argv, &i, "--threads"))) {
            int64_t threads;
            if (!tg_parse_int("tg lesson", "--threads", v, 1, 1024, &threads)) rc = 2;
            else tg_set_num_threads((int)threads);
            continue;
        }
        int found = -1;
        for (int k = 0; k < l->n_options && found < 0; k++) {
            size_t n = strlen(l->options[k].name);
            if (strncmp(arg, l->options[k].name, n) == 0 && (arg[n] == '\0' || arg[n] == '=')) found = k;
        }
        if (found < 0) {
            fprintf(stderr, "tg lesson %s: unknown option '%s' ('tg lesson %s --help' lists them)\n", l->name, arg,
                    l->name);
            rc = 2;
        } else if (!(v = tg_option(argc, argv, &i, l->options[found].name))) {
            fprintf(stderr, "tg lesson %s: %s needs a value\n", l->name, l->options[found].name);
            rc = 2;
        } else if (!set_option(&l->options[found], v, opts)) {
            rc = 2;
        }
    }
    if (!rc) rc = run_lesson(l, opts, plot);
    free(opts);
    return rc;
}
