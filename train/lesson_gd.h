/* Lesson "gd": batch, stochastic and mini-batch gradient descent. The same
 * model (an MLP 2-32-32-3, tanh), the same data (the built-in spiral,
 * standardised, a held-out fifth), the same plain SGD step and learning rate,
 * the same number of epochs; only the batch size differs: the whole training
 * set (BGD: one update per epoch, a smooth curve), 1 (SGD: an update per
 * sample, a noisy curve, and slow per sample since nothing is vectorised),
 * or between (MBGD). Measured per method: updates per epoch, the training
 * set's loss after each epoch and against wall-clock seconds, samples per
 * second, and the noise of the loss curve (the standard deviation of the
 * change in loss from one step to the next).
 *
 *   tg_lesson_gd_opts o = tg_lesson_gd_defaults();
 *   tg_lesson_gd_result *r = malloc(sizeof *r);
 *   tg_lesson_gd_run(&o, r);    // r->methods[i].noise, .train_loss[e], ...
 */
#ifndef TG_TRAIN_LESSON_GD_H
#define TG_TRAIN_LESSON_GD_H

#include <stdint.h>
#include <stdio.h>

#include "train/lesson.h"

enum { TG_GD_LESSON_MAX_METHODS = 6, TG_GD_LESSON_MAX_EPOCHS = 100, TG_GD_LESSON_TRACE = 200 };

typedef struct tg_lesson_gd_opts {
    uint64_t seed;        /* data, split, initialisation and shuffling (1) */
    int64_t samples;      /* spiral samples, a fifth held out (2000) */
    int64_t epochs;       /* for every method (10) */
    double lr;            /* plain SGD, every method (0.1) */
    int n_methods;
    int64_t batch_sizes[TG_GD_LESSON_MAX_METHODS]; /* 0: the whole training set (0 1 32 128) */
} tg_lesson_gd_opts;

tg_lesson_gd_opts tg_lesson_gd_defaults(void);

typedef struct tg_gd_method_run {
    char name[32];                /* "BGD", "SGD", "MBGD 32" */
    int64_t batch_size;           /* as used: N for BGD */
    int64_t updates_per_epoch;
    int64_t epochs;
    /* index 0: before training, e: after epoch e */
    double train_loss[TG_GD_LESSON_MAX_EPOCHS + 1];   /* cross entropy on the whole training set */
    double test_accuracy[TG_GD_LESSON_MAX_EPOCHS + 1];
    double seconds[TG_GD_LESSON_MAX_EPOCHS + 1];      /* training time so far (evaluation excluded) */
    double samples_per_second;    /* over the run */
    double cpu_seconds;           /* process CPU time of the whole fit, the equal per-epoch evaluations
                                     included: unlike the clock, not stretched by other programs */
    double noise;                 /* std of (loss of step s+1 - loss of step s) over the run */
    int n_trace;                  /* epoch 1's step losses, at most TG_GD_LESSON_TRACE of them, evenly spread */
    double trace_epoch[TG_GD_LESSON_TRACE], trace_loss[TG_GD_LESSON_TRACE];
} tg_gd_method_run;

typedef struct tg_lesson_gd_result {
    tg_lesson_gd_opts opts;
    char model_description[160];
    int64_t train_samples, test_samples;
    tg_gd_method_run methods[TG_GD_LESSON_MAX_METHODS];
} tg_lesson_gd_result;

tg_status tg_lesson_gd_run(const tg_lesson_gd_opts *o, tg_lesson_gd_result *r);
void tg_lesson_gd_print(FILE *out, const tg_lesson_gd_result *r);
tg_status tg_lesson_gd_plot(const tg_lesson_gd_result *r, const char *path);

extern const tg_lesson tg_lesson_gd;

#endif
