/* Lessons: the classic facts of training as runnable, measured experiments
 * (`tg lesson`). Each lesson is library code with its own options and result
 * struct (train/lesson_lr.h, lesson_gd.h, lesson_l2.h, lesson_bn.h,
 * lesson_backprop.h): a program or a test runs it, reads the numbers back,
 * prints its table and a reading computed from them, and draws its picture.
 * This registry lists the lessons and describes each one's options as data,
 * so that a command line can set them:
 *
 *   const tg_lesson *l = tg_lesson_find("lr");
 *   void *opts = calloc(1, l->options_size);
 *   l->defaults(opts);
 *   tg_status st = l->run(opts, stdout, "lr.svg");
 */
#ifndef TG_TRAIN_LESSON_H
#define TG_TRAIN_LESSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/status.h"
#include "data/dataset.h"

typedef enum tg_lesson_option_kind {
    TG_LESSON_INT = 0, /* int64_t in [min, max] */
    TG_LESSON_REAL,    /* double in [min, max], finite */
    TG_LESSON_SEED     /* uint64_t, any value */
} tg_lesson_option_kind;

/* One setting of a lesson's options struct a command line may change. */
typedef struct tg_lesson_option {
    const char *name;            /* "--steps" */
    tg_lesson_option_kind kind;
    size_t offset;               /* of the field in the options struct */
    double min, max;             /* INT and REAL */
    const char *help;
} tg_lesson_option;

typedef struct tg_lesson {
    const char *name;            /* "lr" */
    const char *title;           /* "the learning rate" */
    const char *summary;         /* one line for the list */
    size_t options_size;         /* bytes of the lesson's options struct */
    void (*defaults)(void *options);
    const tg_lesson_option *options;
    int n_options;
    const char *picture_formats; /* the extensions run's plot_path may have: ".svg .png .pdf" */
    /* Runs with the options, prints the table and the reading to out (NULL:
     * nothing), and when plot_path is not NULL draws the picture there (a
     * lesson with more pictures writes them beside it, "<path without
     * extension>-<what>.<extension>", and prints their names). */
    tg_status (*run)(const void *options, FILE *out, const char *plot_path);
} tg_lesson;

int tg_lesson_count(void);
const tg_lesson *tg_lesson_at(int index);          /* NULL out of range */
const tg_lesson *tg_lesson_find(const char *name); /* NULL if there is none */
/* Whether path ends in one of the lesson's picture formats (checked before a
 * long run rather than after it). */
bool tg_lesson_picture_format_ok(const tg_lesson *l, const char *path);

/* ---- for lessons: their reading, one paragraph wrapped at 78 columns ---- */
typedef struct tg_paragraph {
    char text[4096];
    size_t len;
} tg_paragraph;
void tg_paragraph_add(tg_paragraph *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tg_paragraph_print(FILE *out, const tg_paragraph *p);

/* A built-in data set ("spiral", ...) of n samples made from seed, split by
 * seed into train and a held-out fraction, both standardised with the
 * training part's statistics. On error both are NULL. */
tg_status tg_lesson_data(const char *name, int64_t n, double held_out, uint64_t seed, tg_dataset **train,
                         tg_dataset **test);

/* "dir/bn.svg" + "graph-plain" -> "dir/bn-graph-plain.svg" (a picture beside
 * the lesson's own); false if it does not fit in size bytes. */
bool tg_lesson_sibling_path(const char *plot_path, const char *what, char *out, size_t size);

#endif
