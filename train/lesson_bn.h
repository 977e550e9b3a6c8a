/* Lesson "bn": batch normalization. A deep MLP (8 hidden layers of 32 tanh
 * units: tg_mlp_new with and without .batchnorm) on the built-in spiral,
 * trained by SGD with momentum at the same learning rate, then at a higher
 * one that only the batchnorm model survives. Measured: epochs and seconds to
 * a target held-out accuracy and the final accuracy, and inside the models,
 * read after every step through the trainer's progress callback (the step's
 * tape and gradients, train/inspect.h):
 *   - the gradient norm of each layer's weight (|dL/d fc<k>.weight|): without
 *     batchnorm it shrinks layer by layer towards the input (vanishing);
 *   - each hidden layer's outputs, the next layer's inputs: their mean and
 *     spread per unit over a batch, and how far each unit's mean moves from
 *     one epoch to the next (internal covariate shift);
 *   - the graph of the first step of both models with gradient heat (DOT,
 *     rendered by Graphviz), where the vanishing gradients show as colour.
 *
 *   tg_lesson_bn_opts o = tg_lesson_bn_defaults();
 *   tg_lesson_bn_result *r = malloc(sizeof *r);
 *   tg_lesson_bn_run(&o, r);   // r->runs[TG_BN_PLAIN].grad_norm[1][0], ...
 */
#ifndef TG_TRAIN_LESSON_BN_H
#define TG_TRAIN_LESSON_BN_H

#include <stdint.h>
#include <stdio.h>

#include "train/lesson.h"
#include "train/model.h"

enum { TG_BN_LESSON_MAX_DEPTH = 12, TG_BN_LESSON_MAX_WIDTH = 256, TG_BN_LESSON_MAX_EPOCHS = 50 };

typedef struct tg_lesson_bn_opts {
    uint64_t seed;            /* data, split, initialisation, shuffling (1) */
    int64_t samples;          /* spiral samples, a fifth held out (3000) */
    int64_t depth, width;     /* hidden layers and their units (8, 32) */
    tg_activation activation; /* (tanh) */
    int64_t epochs;           /* (10) */
    int64_t batch;            /* (64) */
    double lr, high_lr;       /* the shared learning rate and the higher one (0.02, 0.3) */
    double momentum;          /* (0.9) */
    double target;            /* held-out accuracy to reach (0.9) */
    const char *graph_plain;  /* the first step's graph with gradient heat (.dot, .svg, .png, .pdf; NULL: none) */
    const char *graph_batchnorm;
} tg_lesson_bn_opts;

tg_lesson_bn_opts tg_lesson_bn_defaults(void);

/* The four runs, in this order. */
enum { TG_BN_PLAIN = 0, TG_BN_BATCHNORM, TG_BN_PLAIN_HIGH, TG_BN_BATCHNORM_HIGH, TG_BN_RUNS };

typedef struct tg_bn_run {
    bool batchnorm;
    double lr;
    int64_t epochs_run;
    int64_t diverged_at;            /* the step whose loss was not finite (the run stopped there); 0: none */
    /* index e: after epoch e (index 0: before training) */
    double test_accuracy[TG_BN_LESSON_MAX_EPOCHS + 1];
    double train_loss[TG_BN_LESSON_MAX_EPOCHS + 1];  /* mean of the epoch's batch losses (index 0: NaN) */
    double seconds[TG_BN_LESSON_MAX_EPOCHS + 1];     /* training time so far */
    int64_t epochs_to_target;       /* first epoch with test accuracy >= target; -1: never */
    double seconds_to_target;       /* NaN if never */
    double best_accuracy, final_accuracy;
    /* inside, per epoch e >= 1, as means over the epoch's steps; layer k = 0 .. depth - 1 is
       hidden layer k + 1, grad_norm[e][depth] is the output layer's */
    double grad_norm[TG_BN_LESSON_MAX_EPOCHS + 1][TG_BN_LESSON_MAX_DEPTH + 1];
    double unit_mean[TG_BN_LESSON_MAX_EPOCHS + 1][TG_BN_LESSON_MAX_DEPTH]; /* mean over units of the unit's mean */
    double unit_std[TG_BN_LESSON_MAX_EPOCHS + 1][TG_BN_LESSON_MAX_DEPTH];  /* mean over units of the unit's std
                                                                              over a batch */
    double drift[TG_BN_LESSON_MAX_EPOCHS + 1][TG_BN_LESSON_MAX_DEPTH];     /* RMS over units of the change of the
                                                                              unit's mean from epoch e - 1 (e >= 2) */
} tg_bn_run;

typedef struct tg_lesson_bn_result {
    tg_lesson_bn_opts opts;
    char description[TG_BN_RUNS][160];
    int64_t train_samples, test_samples;
    tg_bn_run runs[TG_BN_RUNS];
} tg_lesson_bn_result;

tg_status tg_lesson_bn_run(const tg_lesson_bn_opts *o, tg_lesson_bn_result *r);
void tg_lesson_bn_print(FILE *out, const tg_lesson_bn_result *r);
tg_status tg_lesson_bn_plot(const tg_lesson_bn_result *r, const char *path);

/* Over epochs 2 .. epochs_run: the mean of drift[e][k]. NaN with fewer than 2 epochs. */
double tg_bn_mean_drift(const tg_bn_run *run, int layer);

extern const tg_lesson tg_lesson_bn;

#endif
