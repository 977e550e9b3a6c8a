/* Lesson "l2": regularisation against overfitting. A polynomial of degree 9
 * (configurable), p(x) = c0 + c1 x + ... + c9 x^9, is fitted to 15 noisy
 * samples of the quadratic q(x) = 0.5 - x + 2x^2 (x uniform in [-1, 1],
 * noise sigma 0.3) by minimising
 *     mean((p(x_i) - y_i)^2) + lambda/2 (c1^2 + ... + c9^2)      (tg_l2_penalty_of; c0 is not penalised)
 * for lambda in 0, 1e-6, 1e-5, ..., 10. The loss is quadratic in the
 * coefficients, so Newton's method with the Hessian from tapegrad's second
 * derivatives (tg_grad with create_graph) lands on the minimum exactly; a
 * second step confirms it (the gradient norm left is reported). Measured
 * against 1000 held-out samples: lambda = 0 overfits (the lowest training
 * error, a large held-out error, huge high-order coefficients), the held-out
 * error is U-shaped in lambda, and a large lambda underfits.
 *
 *   tg_lesson_l2_opts o = tg_lesson_l2_defaults();
 *   tg_lesson_l2_result r;
 *   tg_lesson_l2_run(&o, &r);    // r.fits[i].held_out_error, r.best, ...
 */
#ifndef TG_TRAIN_LESSON_L2_H
#define TG_TRAIN_LESSON_L2_H

#include <stdint.h>
#include <stdio.h>

#include "train/lesson.h"

enum { TG_L2_LESSON_MAX_DEGREE = 15, TG_L2_LESSON_MAX_LAMBDAS = 16, TG_L2_LESSON_MAX_SAMPLES = 1000 };

typedef struct tg_lesson_l2_opts {
    uint64_t seed;          /* the samples and their noise (1) */
    int64_t degree;         /* of the fitted polynomial (9) */
    int64_t samples;        /* training samples (15) */
    int64_t held_out;       /* held-out samples (1000) */
    double noise;           /* sigma of the noise on y (0.3) */
    int n_lambdas;
    double lambdas[TG_L2_LESSON_MAX_LAMBDAS]; /* (0 1e-6 1e-5 1e-4 1e-3 1e-2 1e-1 1 10) */
} tg_lesson_l2_opts;

tg_lesson_l2_opts tg_lesson_l2_defaults(void);

/* The quadratic the samples come from: q(x) = truth[0] + truth[1] x + truth[2] x^2. */
extern const double tg_lesson_l2_truth[3];

typedef struct tg_l2_fit {
    double lambda;
    double coefficients[TG_L2_LESSON_MAX_DEGREE + 1]; /* c0 .. c_degree */
    double train_error;        /* mean squared error on the training samples (no penalty) */
    double held_out_error;     /* ... on the held-out samples */
    double truth_distance;     /* RMS of p - q over 201 evenly spaced x in [-1, 1] */
    double largest;            /* max |c_k| over k >= 1 */
    double largest_high;       /* max |c_k| over k >= 3: what the quadratic does not need */
    double gradient_norm;      /* of the penalised loss at the solution */
} tg_l2_fit;

typedef struct tg_lesson_l2_result {
    tg_lesson_l2_opts opts;
    double x[TG_L2_LESSON_MAX_SAMPLES], y[TG_L2_LESSON_MAX_SAMPLES]; /* the training samples */
    tg_l2_fit fits[TG_L2_LESSON_MAX_LAMBDAS];
    int best;                  /* the fit with the lowest held-out error */
} tg_lesson_l2_result;

tg_status tg_lesson_l2_run(const tg_lesson_l2_opts *o, tg_lesson_l2_result *r);
void tg_lesson_l2_print(FILE *out, const tg_lesson_l2_result *r);
tg_status tg_lesson_l2_plot(const tg_lesson_l2_result *r, const char *path);

extern const tg_lesson tg_lesson_l2;

#endif
