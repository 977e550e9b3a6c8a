/* Lesson "l2": regularisation against overfitting (see lesson_l2.h). */
#include "train/lesson_l2.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "graph/backward.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/matmul.h"
#include "ops/nn.h"
#include "train/plot.h"

const double tg_lesson_l2_truth[3] = {0.5, -1, 2};

tg_lesson_l2_opts tg_lesson_l2_defaults(void) {
    return (tg_lesson_l2_opts){.seed = 1, .degree = 9, .samples = 15, .held_out = 1000, .noise = 0.3,
                               .n_lambdas = 9, .lambdas = {0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10}};
}

static double quadratic(double x) {
    return tg_lesson_l2_truth[0] + tg_lesson_l2_truth[1] * x + tg_lesson_l2_truth[2] * x * x;
}

static double polynomial(const double *c, int64_t degree, double x) {
    double v = 0;
    for (int64_t k = degree; k >= 0; k--) v = v * x + c[k]; /* Horner */
    return v;
}

/* n samples x ~ U[-1, 1), y = q(x) + noise N(0, 1), as a data set of the
 * monomials [x, x^2, ..., x^degree] with target y; xs and ys keep them */
static tg_dataset *samples(tg_rng *rng, int64_t n, int64_t degree, double noise, double *xs, double *ys) {
    double *features = malloc(sizeof(double) * (size_t)(n * degree)), *targets = malloc(sizeof(double) * (size_t)n);
    tg_dataset *ds = NULL;
    if (features && targets) {
        for (int64_t i = 0; i < n; i++) {
            double x = 2 * tg_rng_uniform(rng) - 1, power = 1;
            targets[i] = quadratic(x) + noise * tg_rng_normal(rng);
            for (int64_t k = 0; k < degree; k++) features[i * degree + k] = power *= x;
            if (xs) {
                xs[i] = x;
                ys[i] = targets[i];
            }
        }
        ds = tg_dataset_from(TG_F64, 2, (int64_t[]){n, degree}, features, NULL, targets, 1);
    } else {
        tg_set_error(TG_ERR_NOMEM, "tg_lesson_l2_run: out of memory");
    }
    free(features);
    free(targets);
    return ds;
}

/* the model: p(x) = c0 + [x .. x^d] @ w, w = (c1 .. cd) */
typedef struct polynomial_model {
    tg_params *params;
    tg_tensor *w;  /* [degree, 1], penalised */
    tg_tensor *c0; /* [1] */
} polynomial_model;

/* mean squared error (+ lambda/2 ||w||^2 when penalised) on the whole set, on t */
static tg_tensor *loss_on(tg_tape *t, const tg_dataset *ds, const polynomial_model *m, double lambda,
                          bool penalised) {
    tg_batch b;
    if (tg_dataset_gather(t, ds, TG_F64, tg_dataset_len(ds), NULL, &b)) return NULL;
    tg_tensor *pred = tg_add(t, tg_matmul(t, b.x, m->w), m->c0); /* [n,d] @ [d,1] + [1] */
    tg_tensor *loss = tg_mse(t, pred, b.targets);
    if (penalised && lambda > 0) loss = tg_add(t, loss, tg_l2_penalty_of(t, 1, &m->w, lambda));
    return loss;
}

/* Solves A x = b (A n x n, row-major; both overwritten) by Gaussian
 * elimination with partial pivoting; false if A is singular. */
static bool solve(double *a, double *b, int n) {
    for (int col = 0; col < n; col++) {
        int pivot = col;
        for (int r = col + 1; r < n; r++)
            if (fabs(a[r * n + col]) > fabs(a[pivot * n + col])) pivot = r;
        if (a[pivot * n + col] == 0) return false;
        for (int k = 0; k < n; k++) {
            double tmp = a[col * n + k];
            a[col * n + k] = a[pivot * n + k];
            a[pivot * n + k] = tmp;
        }
        double tmp = b[col];
        b[col] = b[pivot];
        b[pivot] = tmp;
        for (int r = col + 1; r < n; r++) {
            double f = a[r * n + col] / a[col * n + col];
            for (int k = col; k < n; k++) a[r * n + k] -= f * a[col * n + k];
            b[r] -= f * b[col];
        }
    }
    for (int r = n - 1; r >= 0; r--) {
        for (int k = r + 1; k < n; k++) b[r] -= a[r * n + k] * b[k];
        b[r] /= a[r * n + r];
    }
    return true;
}

/* One Newton step on the penalised training loss: the gradient g and the
 * Hessian H (row j: the gradient of g . e_j, from the recorded backward
 * pass) from the engine, then c -= H^-1 g. *gradient_norm: |g| before the step. */
static tg_status newton_step(tg_tape *t, const tg_dataset *train, polynomial_model *m, double lambda,
                             double *gradient_norm, bool take_step) {
    enum { N = TG_L2_LESSON_MAX_DEGREE + 1 };
    int64_t d = m->w->numel, n = d + 1; /* unknowns: c1..cd, then c0 */
    tg_tape_reset(t);
    tg_tensor *loss = loss_on(t, train, m, lambda, true), *inputs[2] = {m->w, m->c0}, *g[2];
    if (!loss) return tg_tape_status(t);
    tg_status st = tg_grad(t, 1, &loss, NULL, 2, inputs, g, &(tg_grad_opts){.create_graph = true});
    if (st) return st;
    double grad[N], hessian[N * N], norm = 0;
    for (int64_t j = 0; j < n; j++) {
        grad[j] = j < d ? tg_get(g[0], j) : tg_item(g[1]);
        norm += grad[j] * grad[j];
    }
    *gradient_norm = sqrt(norm);
    if (!take_step) return TG_OK;
    for (int64_t j = 0; j < n; j++) {
        tg_tensor *unit[2] = {tg_zeros(t, TG_F64, 2, (int64_t[]){d, 1}), tg_zeros(t, TG_F64, 1, (int64_t[]){1})};
        if (!unit[0] || !unit[1]) return tg_tape_status(t);
        tg_set(j < d ? unit[0] : unit[1], j < d ? j : 0, 1);
        tg_tensor *row[2];
        st = tg_grad(t, 2, g, unit, 2, inputs, row, &(tg_grad_opts){.retain_graph = true, .allow_unused = true});
        if (st) return st;
        for (int64_t k = 0; k < n; k++) {
            tg_tensor *part = k < d ? row[0] : row[1];
            hessian[j * n + k] = part ? tg_get(part, k < d ? k : 0) : 0;
        }
    }
    if (!solve(hessian, grad, (int)n))
        return tg_set_error(TG_ERR_STATE, "tg_lesson_l2_run: the Hessian is singular at lambda %g", lambda);
    for (int64_t k = 0; k < d; k++) tg_set(m->w, k, tg_get(m->w, k) - grad[k]);
    tg_set(m->c0, 0, tg_item(m->c0) - grad[d]);
    tg_tensor_bump_version(m->w);
    tg_tensor_bump_version(m->c0);
    return TG_OK;
}

/* Fits at one lambda from zero coefficients and measures the fit. */
static tg_status fit(tg_tape *t, const tg_dataset *train, const tg_dataset *held, int64_t degree, double lambda,
                     tg_l2_fit *out) {
    polynomial_model m = {.params = tg_params_new()};
    m.w = m.params ? tg_param(m.params, "w", TG_F64, 2, (int64_t[]){degree, 1}, TG_INIT_ZEROS, NULL) : NULL;
    m.c0 = m.w ? tg_param(m.params, "c0", TG_F64, 1, (int64_t[]){1}, TG_INIT_ZEROS, NULL) : NULL;
    tg_status st = m.c0 ? TG_OK : tg_last_status();
    memset(out, 0, sizeof *out);
    out->lambda = lambda;
    double norm;
    /* quadratic: the first step lands on the minimum, the second removes the rounding of the first */
    for (int step = 0; step < 2 && !st; step++) st = newton_step(t, train, &m, lambda, &norm, true);
    if (!st) st = newton_step(t, train, &m, lambda, &out->gradient_norm, false);
    if (!st) {
        out->coefficients[0] = tg_item(m.c0);
        for (int64_t k = 1; k <= degree; k++) {
            double c = out->coefficients[k] = tg_get(m.w, k - 1);
            out->largest = fmax(out->largest, fabs(c));
            if (k >= 3) out->largest_high = fmax(out->largest_high, fabs(c));
        }
        tg_tape_reset(t);
        tg_tensor *train_error = loss_on(t, train, &m, lambda, false), *held_error = loss_on(t, held, &m, lambda, false);
        if (!train_error || !held_error) {
            st = tg_tape_status(t);
        } else {
            out->train_error = tg_item(train_error);
            out->held_out_error = tg_item(held_error);
        }
        double squares = 0;
        for (int i = 0; i <= 200; i++) {
            double x = -1 + i / 100.0, diff = polynomial(out->coefficients, degree, x) - quadratic(x);
            squares += diff * diff;
        }
        out->truth_distance = sqrt(squares / 201);
    }
    tg_params_free(m.params);
    return st;
}

static tg_status check_opts(const tg_lesson_l2_opts *o) {
    const char *who = "tg_lesson_l2_run";
    if (o->degree < 2 || o->degree > TG_L2_LESSON_MAX_DEGREE)
        return tg_set_error(TG_ERR_ARG, "%s: degree %lld: expected 2 to %d", who, (long long)o->degree,
                            TG_L2_LESSON_MAX_DEGREE);
    if (o->samples < 3 || o->samples > TG_L2_LESSON_MAX_SAMPLES || o->held_out < 1 || o->held_out > 10000000)
        return tg_set_error(TG_ERR_ARG, "%s: samples %lld (3 to %d), held_out %lld (1 or more)", who,
                            (long long)o->samples, TG_L2_LESSON_MAX_SAMPLES, (long long)o->held_out);
    if (!(o->noise >= 0) || !isfinite(o->noise))
        return tg_set_error(TG_ERR_ARG, "%s: noise %g must be >= 0", who, o->noise);
    if (o->n_lambdas < 1 || o->n_lambdas > TG_L2_LESSON_MAX_LAMBDAS)
        return tg_set_error(TG_ERR_ARG, "%s: %d lambdas, expected 1 to %d", who, o->n_lambdas,
                            TG_L2_LESSON_MAX_LAMBDAS);
    for (int i = 0; i < o->n_lambdas; i++)
        if (!(o->lambdas[i] >= 0) || !isfinite(o->lambdas[i]))
            return tg_set_error(TG_ERR_ARG, "%s: lambda %g must be >= 0 and finite", who, o->lambdas[i]);
    return TG_OK;
}

tg_status tg_lesson_l2_run(const tg_lesson_l2_opts *o, tg_lesson_l2_result *r) {
    if (!o || !r) return tg_set_error(TG_ERR_ARG, "tg_lesson_l2_run: options or result is NULL");
    tg_status st = check_opts(o);
    if (st) return st;
    memset(r, 0, sizeof *r);
    r->opts = *o;
    tg_rng rng = tg_rng_new(o->seed);
    tg_dataset *train = samples(&rng, o->samples, o->degree, o->noise, r->x, r->y);
    tg_dataset *held = train ? samples(&rng, o->held_out, o->degree, o->noise, NULL, NULL) : NULL;
    tg_tape *t = held ? tg_tape_new() : NULL;
    st = t ? TG_OK : tg_last_status();
    for (int i = 0; i < o->n_lambdas && !st; i++) {
        st = fit(t, train, held, o->degree, o->lambdas[i], &r->fits[i]);
        if (!st && r->fits[i].held_out_error < r->fits[r->best].held_out_error) r->best = i;
    }
    tg_tape_free(t);
    tg_dataset_free(train);
    tg_dataset_free(held);
    return st;
}

/* ---- the tables and the reading ---- */

static int largest_index(const tg_l2_fit *f, int64_t degree, int64_t from) {
    int64_t best = from;
    for (int64_t k = from; k <= degree; k++)
        if (fabs(f->coefficients[k]) > fabs(f->coefficients[best])) best = k;
    return (int)best;
}

void tg_lesson_l2_print(FILE *out, const tg_lesson_l2_result *r) {
    if (!out || !r) return;
    const tg_lesson_l2_opts *o = &r->opts;
    const double *q = tg_lesson_l2_truth;
    int64_t d = o->degree;
    fprintf(out,
            "a degree-%lld polynomial fitted to %lld samples of q(x) = %g %+g x %+g x^2 + noise (sigma %g), x in "
            "[-1, 1];\nloss = mean squared error + lambda/2 (c1^2 + ... + c%lld^2), minimised exactly (Newton, "
            "Hessian from the engine);\nheld-out: %lld fresh samples; the noise alone gives an error of "
            "sigma^2 = %.3g\n\n",
            (long long)d, (long long)o->samples, q[0], q[1], q[2], o->noise, (long long)d, (long long)o->held_out,
            o->noise * o->noise);
    fprintf(out, "  %8s %10s %10s %10s %10s %10s %9s\n", "lambda", "train", "held-out", "RMS p - q", "max |c_k|",
            "max |c_k|", "|grad|");
    fprintf(out, "  %8s %10s %10s %10s %10s %10s %9s\n", "", "error", "error", "", "k >= 1", "k >= 3", "at end");
    for (int i = 0; i < o->n_lambdas; i++) {
        const tg_l2_fit *f = &r->fits[i];
        fprintf(out, "  %8g %10.4g %10.4g %10.4g %10.4g %10.4g %9.1e%s\n", f->lambda, f->train_error,
                f->held_out_error, f->truth_distance, f->largest, f->largest_high, f->gradient_norm,
                i == r->best ? "  <- lowest held-out error" : "");
    }
    fprintf(out, "\n  coefficients:\n  %8s", "lambda");
    for (int64_t k = 0; k <= d; k++) fprintf(out, " %9s%-2lld", "c", (long long)k);
    fprintf(out, "\n  %8s", "truth");
    for (int64_t k = 0; k <= d; k++) fprintf(out, " %11.4g", k < 3 ? q[k] : 0.0);
    fputc('\n', out);
    for (int i = 0; i < o->n_lambdas; i++) {
        fprintf(out, "  %8g", r->fits[i].lambda);
        for (int64_t k = 0; k <= d; k++) fprintf(out, " %11.4g", r->fits[i].coefficients[k]);
        fputc('\n', out);
    }

    const tg_l2_fit *none = NULL, *best = &r->fits[r->best], *last = &r->fits[o->n_lambdas - 1];
    for (int i = 0; i < o->n_lambdas; i++)
        if (r->fits[i].lambda == 0) none = &r->fits[i];
    tg_paragraph p = {.len = 0};
    if (none) {
        int k = largest_index(none, d, 1);
        tg_paragraph_add(&p,
                         "Without the penalty the polynomial overfits: the lowest training error (%.3g), a held-out "
                         "error of %.3g and coefficients up to %.3g (c%d), huge and of alternating sign so that they "
                         "nearly cancel between the samples.",
                         none->train_error, none->held_out_error, fabs(none->coefficients[k]), k);
    }
    tg_paragraph_add(&p, " The held-out error is lowest at lambda = %g (%.3g, against sigma^2 = %.3g for the noise alone)",
                     best->lambda, best->held_out_error, o->noise * o->noise);
    if (r->best > 0 && r->best < o->n_lambdas - 1)
        tg_paragraph_add(&p, " and rises on both sides: a U.");
    else
        tg_paragraph_add(&p, ", at an end of the sweep: widen it to see the U.");
    tg_paragraph_add(&p,
                     " There the coefficients beyond x^2 are at most %.3g (%.3g without the penalty), the fit is "
                     "%.3g RMS from the true quadratic (%.3g without), and c0, c1, c2 = %.3g, %.3g, %.3g against "
                     "%g, %g, %g",
                     best->largest_high, none ? none->largest_high : NAN, best->truth_distance,
                     none ? none->truth_distance : NAN, best->coefficients[0], best->coefficients[1],
                     best->coefficients[2], q[0], q[1], q[2]);
    if (fabs(best->coefficients[2] - q[2]) > 0.25 * fabs(q[2]))
        tg_paragraph_add(&p, ": from %lld noisy samples the even powers x^2, x^4, x^6, which look alike on [-1, 1], "
                             "trade weight among themselves", (long long)o->samples);
    tg_paragraph_add(&p, ". The training error grows with lambda, from %.3g to %.3g", r->fits[0].train_error,
                     last->train_error);
    if (last != best && last->held_out_error > best->held_out_error)
        tg_paragraph_add(&p, "; at lambda = %g the fit underfits (held-out %.3g, largest coefficient %.3g): the "
                             "penalty flattens even the quadratic", last->lambda, last->held_out_error, last->largest);
    double worst = 0;
    for (int i = 0; i < o->n_lambdas; i++) worst = fmax(worst, r->fits[i].gradient_norm);
    tg_paragraph_add(&p, ". Every fit is the exact minimum: the gradient left is at most %.1e.", worst);
    fputc('\n', out);
    tg_paragraph_print(out, &p);
}

/* ---- the picture: the data, the truth and three fits; the errors against lambda ---- */

tg_status tg_lesson_l2_plot(const tg_lesson_l2_result *r, const char *path) {
    if (!r || !path) return tg_set_error(TG_ERR_ARG, "tg_lesson_l2_plot: result or path is NULL");
    const tg_lesson_l2_opts *o = &r->opts;
    enum { GRID = 201, L = TG_L2_LESSON_MAX_LAMBDAS };
    double xs[GRID], truth[GRID], curves[3][GRID];
    int shown[3] = {0, r->best, o->n_lambdas - 1};
    char names[3][48];
    tg_plot_series left[5];
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < o->samples; i++) {
        lo = fmin(lo, r->y[i]);
        hi = fmax(hi, r->y[i]);
    }
    for (int i = 0; i < GRID; i++) {
        xs[i] = -1 + i / 100.0;
        truth[i] = quadratic(xs[i]);
        for (int c = 0; c < 3; c++) curves[c][i] = polynomial(r->fits[shown[c]].coefficients, o->degree, xs[i]);
    }
    left[0] = (tg_plot_series){"samples", r->x, r->y, o->samples, TG_PLOT_POINTS, 8};
    left[1] = (tg_plot_series){"true quadratic", xs, truth, GRID, TG_PLOT_DASHED, 5};
    int n_left = 2;
    for (int c = 0; c < 3; c++) {
        if (c > 0 && shown[c] == shown[c - 1]) continue;
        snprintf(names[c], sizeof names[c], "lambda = %g%s", r->fits[shown[c]].lambda, c == 1 ? " (best)" : "");
        left[n_left++] = (tg_plot_series){names[c], xs, curves[c], GRID, TG_PLOT_LINE, c + 1};
    }
    /* errors for lambda > 0 on a log axis; lambda = 0 as flat dashed lines across it */
    double lambdas[L], train[L], held[L], ends[2], train0[2], held0[2];
    int n = 0;
    const tg_l2_fit *none = NULL;
    for (int i = 0; i < o->n_lambdas; i++) {
        const tg_l2_fit *f = &r->fits[i];
        if (f->lambda == 0) {
            none = f;
            continue;
        }
        lambdas[n] = f->lambda;
        train[n] = f->train_error;
        held[n++] = f->held_out_error;
    }
    tg_plot_series right[4] = {{"train", lambdas, train, n, TG_PLOT_LINE_POINTS, 1},
                               {"held-out", lambdas, held, n, TG_PLOT_LINE_POINTS, 2}};
    int n_right = 2;
    if (none && n > 0) {
        ends[0] = lambdas[0];
        ends[1] = lambdas[n - 1];
        train0[0] = train0[1] = none->train_error;
        held0[0] = held0[1] = none->held_out_error;
        right[n_right++] = (tg_plot_series){"train, lambda = 0", ends, train0, 2, TG_PLOT_DASHED, 1};
        right[n_right++] = (tg_plot_series){"held-out, lambda = 0", ends, held0, 2, TG_PLOT_DASHED, 2};
    }
    char title[64];
    snprintf(title, sizeof title, "degree-%lld fits to %lld samples", (long long)o->degree, (long long)o->samples);
    double span = hi - lo;
    tg_plot_panel panels[2] = {
        {.title = title, .x_label = "x", .y_label = "y", .y_min = lo - 0.5 * span, .y_max = hi + 0.5 * span,
         .series = left, .n_series = n_left},
        {.title = "mean squared error against lambda", .x_label = "lambda", .y_label = "error", .log_x = true,
         .log_y = true, .series = right, .n_series = n_right},
    };
    return tg_plot_panels(path, n > 0 ? 2 : 1, panels);
}

/* ---- the registry entry ---- */

static void defaults(void *options) { *(tg_lesson_l2_opts *)options = tg_lesson_l2_defaults(); }

static tg_status run(const void *options, FILE *out, const char *plot_path) {
    tg_lesson_l2_result *r = malloc(sizeof *r);
    if (!r) return tg_set_error(TG_ERR_NOMEM, "lesson l2: out of memory");
    tg_status st = tg_lesson_l2_run(options, r);
    if (!st) tg_lesson_l2_print(out, r);
    if (!st && plot_path) st = tg_lesson_l2_plot(r, plot_path);
    free(r);
    return st;
}

#define OPT(field) offsetof(tg_lesson_l2_opts, field)
static const tg_lesson_option options[] = {
    {"--seed", TG_LESSON_SEED, OPT(seed), 0, 0, "the samples and their noise"},
    {"--degree", TG_LESSON_INT, OPT(degree), 2, TG_L2_LESSON_MAX_DEGREE, "degree of the fitted polynomial"},
    {"--samples", TG_LESSON_INT, OPT(samples), 3, TG_L2_LESSON_MAX_SAMPLES, "training samples"},
    {"--held-out", TG_LESSON_INT, OPT(held_out), 1, 10000000, "held-out samples"},
    {"--noise", TG_LESSON_REAL, OPT(noise), 0, 100, "sigma of the noise on y"},
};

const tg_lesson tg_lesson_l2 = {
    .name = "l2",
    .title = "L2 regularisation against overfitting",
    .summary = "a degree-9 polynomial on 15 noisy samples of a quadratic, lambda from 0 to 10: the U of held-out error",
    .options_size = sizeof(tg_lesson_l2_opts),
    .defaults = defaults,
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .picture_formats = ".svg .png .pdf",
    .run = run,
};
