/* Lesson "lr": the learning rate. Gradient descent x <- x - lr f'(x), with
 * the gradient from tapegrad's engine and the step from tg_sgd, on
 *   1. f(x) = a/2 x^2 (curvature f'' = a): x_k - 0 shrinks by the factor
 *      1 - lr a each step, so the thresholds are exact: lr < 1/a approaches
 *      monotonically, 1/a < lr < 2/a overshoots (x changes sign every step,
 *      |x| shrinks), lr = 2/a bounces between x0 and -x0, lr > 2/a diverges;
 *   2. f(x) = x^4 - 3x^2 + x, non-convex: two minima of different curvature
 *      (found by Newton's method on the engine's first and second
 *      derivatives). Near a minimum x* the same rule holds with a = f''(x*),
 *      so a learning rate above 2/f''(x*) cannot settle in it: the learning
 *      rate decides where descent ends, and whether it ends;
 *   3. a small model (an MLP 1-16-1, tanh) fitted to the built-in "poly"
 *      regression set by full-batch gradient descent with tg_trainer: too
 *      small, about right, too large (the loss rises at some steps), far too
 *      large (diverged at step k: the run stops there, no NaN spam).
 *
 *   tg_lesson_lr_opts o = tg_lesson_lr_defaults();
 *   tg_lesson_lr_result *r = malloc(sizeof *r);
 *   tg_lesson_lr_run(&o, r);        // r->quadratic[i].regime, .rate, ...
 */
#ifndef TG_TRAIN_LESSON_LR_H
#define TG_TRAIN_LESSON_LR_H

#include <stdint.h>
#include <stdio.h>

#include "core/tape.h"
#include "train/lesson.h"

enum { TG_LR_LESSON_MAX_RATES = 12, TG_LR_LESSON_TRACE = 64, TG_LR_LESSON_MAX_MODEL_STEPS = 1000 };

typedef struct tg_lesson_lr_opts {
    uint64_t seed;                               /* the model's data and initialisation (1) */
    double curvature;                            /* a of f(x) = a/2 x^2 (1) */
    double x0;                                   /* start on the quadratic (1) */
    int64_t steps;                               /* gradient steps of each 1-D run (100) */
    double tolerance;                            /* "reached": f(x) - f(x*) <= tolerance (1e-6) */
    int n_rates;
    double rates[TG_LR_LESSON_MAX_RATES];        /* quadratic, in units of 1/a (0.01 0.5 1 1.5 1.9 2 2.5) */
    double nonconvex_x0;                         /* (2) */
    int n_nonconvex_rates;
    double nonconvex_rates[TG_LR_LESSON_MAX_RATES]; /* (0.002 0.05 0.1 0.15 0.18 0.2) */
    int64_t samples;                             /* of the model's data set (200) */
    int64_t model_steps;                         /* full-batch steps (100) */
    double model_target;                         /* "reached": training loss <= this (0.3) */
    int n_model_rates;
    double model_rates[TG_LR_LESSON_MAX_RATES];  /* (0.003 0.1 0.2 1) */
} tg_lesson_lr_opts;

tg_lesson_lr_opts tg_lesson_lr_defaults(void);

/* What a run of gradient descent did, measured against the minimum x*
 * nearest to where it ended (for the quadratic x* = 0). */
typedef enum tg_descent_regime {
    TG_DESCENT_MONOTONE = 0, /* converging, x - x* never changed sign */
    TG_DESCENT_OSCILLATING,  /* converging, x - x* changed sign */
    TG_DESCENT_CYCLING,      /* neither closer nor farther over the run's second half */
    TG_DESCENT_DIVERGING,    /* farther and farther, still finite */
    TG_DESCENT_DIVERGED      /* past the bound (or non-finite): stopped at diverged_at */
} tg_descent_regime;
const char *tg_descent_regime_name(tg_descent_regime r); /* "monotone", ... */

typedef struct tg_descent_run {
    double lr;
    tg_descent_regime regime;
    double minimum;              /* x* */
    double x_end, loss_end;      /* after the last step run */
    int64_t steps_run;
    int64_t steps_to_tolerance;  /* the step k from which on |f(x_k) - f(x*)| <= tolerance; -1: not reached */
    int64_t diverged_at;         /* the step where |x - x*| passed 1e6 (1 + |x0 - x*|) or f was not
                                    finite; 0: it did not */
    int64_t sign_changes;        /* steps where x - x* changed sign (an exact 0 changes nothing) */
    double rate;                 /* |x_k - x*| / |x_{k-1} - x*| per step, the geometric mean over the
                                    first min(steps, 10) steps (0 once x = x* exactly) */
    int n_trace;                 /* x_0 .. x_{n_trace - 1} */
    double trace[TG_LR_LESSON_TRACE];
} tg_descent_run;

/* One full-batch run of the model. */
typedef struct tg_lr_model_run {
    double lr;
    int64_t steps_run;
    int64_t steps_to_target;     /* first step whose loss <= model_target; -1: not reached */
    int64_t diverged_at;         /* first step whose loss was not finite or above 1e6 x the first; 0: none */
    int64_t loss_increases;      /* steps whose loss was higher than the step before */
    double first_loss, final_loss, best_loss;
    float loss[TG_LR_LESSON_MAX_MODEL_STEPS]; /* of each step run */
} tg_lr_model_run;

typedef struct tg_lesson_lr_result {
    tg_lesson_lr_opts opts;
    tg_descent_run quadratic[TG_LR_LESSON_MAX_RATES];
    int n_minima;                /* of the non-convex function, ascending */
    double minima[4], minimum_value[4], minimum_curvature[4]; /* x*, f(x*), f''(x*) */
    tg_descent_run nonconvex[TG_LR_LESSON_MAX_RATES];
    char model_description[160];
    tg_lr_model_run model[TG_LR_LESSON_MAX_RATES];
} tg_lesson_lr_result;

/* A function of one variable, built on the tape: an f64 scalar from the
 * f64 scalar x. */
typedef tg_tensor *(*tg_scalar_fn)(tg_tape *t, tg_tensor *x, void *user);

/* One run of gradient descent from x0 with tg_sgd (steps >= 20), measured
 * against the one of the n_minima minima nearest to where it ended. */
tg_status tg_lesson_descend(tg_scalar_fn f, void *user, double x0, double lr, int64_t steps, int n_minima,
                            const double *minima, double tolerance, tg_descent_run *run);

/* The minima of f in [lo, hi] (at most max): where f' changes sign from - to
 * + on a grid of 0.01, refined by Newton's method with f' and f'' from the
 * engine (tg_grad, create_graph); f(x*) and f''(x*) with them. Returns how
 * many, or -1 + tg_last_error(). */
int tg_lesson_minima(tg_scalar_fn f, void *user, double lo, double hi, int max, double *x, double *value,
                     double *curvature);

/* Runs the whole lesson. Errors: bad options (named), or a failure inside. */
tg_status tg_lesson_lr_run(const tg_lesson_lr_opts *o, tg_lesson_lr_result *r);
void tg_lesson_lr_print(FILE *out, const tg_lesson_lr_result *r);
tg_status tg_lesson_lr_plot(const tg_lesson_lr_result *r, const char *path);

extern const tg_lesson tg_lesson_lr;

#endif
