/* Lesson "lr": the learning rate (see lesson_lr.h). */
#include "train/lesson_lr.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "graph/backward.h"
#include "ops/elementwise.h"
#include "ops/unary.h"
#include "optim/sgd.h"
#include "train/plot.h"
#include "train/trainer.h"

tg_lesson_lr_opts tg_lesson_lr_defaults(void) {
    return (tg_lesson_lr_opts){.seed = 1,
                               .curvature = 1,
                               .x0 = 1,
                               .steps = 100,
                               .tolerance = 1e-6,
                               .n_rates = 7,
                               .rates = {0.01, 0.5, 1, 1.5, 1.9, 2, 2.5},
                               .nonconvex_x0 = 2,
                               .n_nonconvex_rates = 6,
                               .nonconvex_rates = {0.002, 0.05, 0.1, 0.15, 0.18, 0.2},
                               .samples = 200,
                               .model_steps = 100,
                               .model_target = 0.3,
                               .n_model_rates = 4,
                               .model_rates = {0.003, 0.1, 0.2, 1}};
}

const char *tg_descent_regime_name(tg_descent_regime r) {
    static const char *const names[] = {"monotone", "oscillating", "cycling", "diverging", "diverged"};
    return (unsigned)r <= TG_DESCENT_DIVERGED ? names[r] : "?";
}

/* ---- the functions ---- */

/* a/2 x^2 */
static tg_tensor *quadratic(tg_tape *t, tg_tensor *x, void *user) {
    return tg_mul_scalar(t, tg_square(t, x), *(const double *)user / 2);
}

/* x^4 - 3x^2 + x */
static tg_tensor *double_well(tg_tape *t, tg_tensor *x, void *user) {
    (void)user;
    return tg_add(t, tg_sub(t, tg_pow_scalar(t, x, 4), tg_mul_scalar(t, tg_square(t, x), 3)), x);
}

/* f(x), f'(x) and f''(x) from the engine: the first derivative recorded
 * (create_graph), then differentiated again */
static tg_status derivatives(tg_tape *t, tg_scalar_fn f, void *user, double x, double *value, double *d1,
                             double *d2) {
    tg_tape_reset(t);
    tg_tensor *leaf = tg_tensor_from(t, TG_F64, 0, NULL, &x), *y = NULL, *g = NULL, *h = NULL;
    tg_status st = leaf ? tg_requires_grad(leaf) : tg_tape_status(t);
    if (!st) y = f(t, leaf, user);
    if (!st && !y) st = tg_tape_status(t);
    if (!st) st = tg_grad(t, 1, &y, NULL, 1, &leaf, &g, &(tg_grad_opts){.create_graph = true});
    if (!st) st = tg_grad(t, 1, &g, NULL, 1, &leaf, &h, &(tg_grad_opts){.allow_unused = true});
    if (!st) {
        *value = tg_item(y);
        *d1 = tg_item(g);
        *d2 = h ? tg_item(h) : 0;
    }
    return st;
}

int tg_lesson_minima(tg_scalar_fn f, void *user, double lo, double hi, int max, double *x, double *value,
                     double *curvature) {
    if (!f || !x || !value || !curvature || !(hi > lo) || max < 1) {
        tg_set_error(TG_ERR_ARG, "tg_lesson_minima: NULL argument, empty interval or max < 1");
        return -1;
    }
    tg_tape *t = tg_tape_new();
    if (!t) return -1;
    int found = 0;
    double v, d1_prev, d2, step = 0.01;
    if (derivatives(t, f, user, lo, &v, &d1_prev, &d2)) found = -1;
    for (double a = lo; a < hi && found >= 0 && found < max; a += step) {
        double b = a + step, d1;
        if (derivatives(t, f, user, b, &v, &d1, &d2)) {
            found = -1;
            break;
        }
        if (d1_prev < 0 && d1 >= 0) { /* f' from - to +: a minimum in [a, b]; Newton from the middle */
            double m = (a + b) / 2;
            for (int i = 0; i < 50; i++) {
                double fm, g, h;
                if (derivatives(t, f, user, m, &fm, &g, &h) || !(h > 0)) break;
                double next = m - g / h;
                if (next < a || next > b) break; /* left the bracket: keep the last point inside */
                bool done = fabs(next - m) <= 1e-15 * (1 + fabs(m));
                m = next;
                if (done) break;
            }
            if (derivatives(t, f, user, m, &value[found], &d1, &curvature[found])) {
                found = -1;
                break;
            }
            x[found++] = m;
        }
        d1_prev = d1;
    }
    tg_tape_free(t);
    return found;
}

/* ---- one run of gradient descent ---- */

static int nearest(int n, const double *minima, double x) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (fabs(x - minima[i]) < fabs(x - minima[best])) best = i;
    return best;
}

/* largest |x_k - m| over k in [from, to) */
static double largest_error(const double *xs, int64_t from, int64_t to, double m) {
    double e = 0;
    for (int64_t k = from; k < to; k++) e = fabs(xs[k] - m) > e ? fabs(xs[k] - m) : e;
    return e;
}

/* Measures the trajectory xs[0..n) (values fs) against the minimum m. */
static void measure(tg_descent_run *run, const double *xs, const double *fs, int64_t n, double m, double f_min,
                    double tolerance) {
    run->minimum = m;
    /* from which step on f stays within tolerance of f(x*) (a visit to a deeper well elsewhere is not it) */
    run->steps_to_tolerance = -1;
    if (!run->diverged_at)
        for (int64_t k = n - 1; k >= 0 && fabs(fs[k] - f_min) <= tolerance; k--) run->steps_to_tolerance = k;
    run->sign_changes = 0;
    for (int64_t k = 1; k < n; k++) /* signs compared, not multiplied: 1e-170 * 1e-170 is 0 */
        run->sign_changes += xs[k] != m && xs[k - 1] != m && (xs[k] < m) != (xs[k - 1] < m);
    int64_t first = n - 1 < 10 ? n - 1 : 10;
    double e0 = fabs(xs[0] - m), e1 = fabs(xs[first] - m);
    run->rate = first > 0 && e0 > 0 ? pow(e1 / e0, 1.0 / (double)first) : 0;
    if (run->diverged_at) {
        run->regime = TG_DESCENT_DIVERGED;
        return;
    }
    /* the second half: the largest distance in its first 10 steps and in its last 10 (largest, so that a
       two-step cycle compares like with like) */
    int64_t half = n / 2, window = 10;
    double early = largest_error(xs, half, half + window, m), late = largest_error(xs, n - window, n, m);
    bool converging = late <= 1e-12 * (1 + fabs(m)) || late < 0.999 * early;
    if (converging)
        run->regime = run->sign_changes ? TG_DESCENT_OSCILLATING : TG_DESCENT_MONOTONE;
    else
        run->regime = late > 1.001 * early ? TG_DESCENT_DIVERGING : TG_DESCENT_CYCLING;
}

tg_status tg_lesson_descend(tg_scalar_fn f, void *user, double x0, double lr, int64_t steps, int n_minima,
                            const double *minima, double tolerance, tg_descent_run *run) {
    const char *who = "tg_lesson_descend";
    if (!f || !run || !minima || n_minima < 1)
        return tg_set_error(TG_ERR_ARG, "%s: NULL function, run or minima", who);
    if (steps < 20 || steps > 100000000 || !(lr > 0) || !isfinite(lr) || !isfinite(x0) || !(tolerance > 0))
        return tg_set_error(TG_ERR_ARG, "%s: steps %lld (20 or more), lr %g (> 0), x0 %g, tolerance %g (> 0)", who,
                            (long long)steps, lr, x0, tolerance);
    double *xs = malloc(sizeof(double) * (size_t)(steps + 1)), *fs = malloc(sizeof(double) * (size_t)(steps + 1));
    tg_params *p = tg_params_new();
    tg_tensor *x = p ? tg_param(p, "x", TG_F64, 0, NULL, TG_INIT_ZEROS, NULL) : NULL;
    tg_optim *opt = x ? tg_sgd_new(p, (tg_sgd_opts){.lr = lr}) : NULL;
    tg_tape *t = tg_tape_new();
    tg_status st = TG_OK;
    if (!xs || !fs || !opt || !t) {
        st = tg_last_status() ? tg_last_status() : TG_ERR_NOMEM;
        goto done;
    }
    *run = (tg_descent_run){.lr = lr};
    tg_set(x, 0, x0);
    double bound = 1e6 * (1 + fabs(x0));
    int64_t n = 0; /* points in xs */
    for (int64_t k = 0;; k++) {
        tg_tape_reset(t);
        tg_tensor *y = f(t, x, user);
        if (!y) {
            st = tg_tape_status(t);
            goto done;
        }
        xs[n] = tg_item(x);
        fs[n++] = tg_item(y);
        if (k > 0 && (!isfinite(fs[n - 1]) || fabs(xs[n - 1]) > bound)) {
            run->diverged_at = k;
            break;
        }
        if (k == steps) break;
        tg_zero_grad(p);
        if ((st = tg_backward(t, y, NULL)) || (st = tg_optim_step(opt))) goto done;
    }
    run->steps_run = n - 1;
    run->x_end = xs[n - 1];
    run->loss_end = fs[n - 1];
    run->n_trace = n < TG_LR_LESSON_TRACE ? (int)n : TG_LR_LESSON_TRACE;
    memcpy(run->trace, xs, sizeof(double) * (size_t)run->n_trace);
    int i = nearest(n_minima, minima, run->diverged_at ? x0 : run->x_end);
    tg_tape_reset(t);
    tg_tensor *at_min = tg_tensor_from(t, TG_F64, 0, NULL, &minima[i]), *f_min = f(t, at_min, user);
    if (!f_min) {
        st = tg_tape_status(t);
        goto done;
    }
    measure(run, xs, fs, n, minima[i], tg_item(f_min), tolerance);
done:
    tg_tape_free(t);
    tg_optim_free(opt);
    tg_params_free(p);
    free(xs);
    free(fs);
    return st;
}

/* ---- the model ---- */

typedef struct model_watch {
    tg_lr_model_run *run;
    volatile sig_atomic_t stop;
} model_watch;

/* After each step: stop at the first non-finite or exploded loss. */
static void watch_step(const tg_progress *p, void *user) {
    model_watch *w = user;
    if (p->epoch_end || !p->step_loss) return;
    double loss = tg_item(p->step_loss);
    if (p->step == 1) w->run->first_loss = loss;
    if (!isfinite(loss) || loss > 1e6 * w->run->first_loss) {
        w->run->diverged_at = p->step;
        w->stop = 1;
    }
}

static tg_status model_run(const tg_lesson_lr_opts *o, const tg_dataset *data, double lr, tg_lr_model_run *run,
                           char *description, size_t size) {
    *run = (tg_lr_model_run){.lr = lr, .steps_to_target = -1};
    tg_model *model = tg_mlp_new(&(tg_mlp_opts){.inputs = 1, .hidden = {16}, .n_hidden = 1, .outputs = 1,
                                                .activation = TG_ACT_TANH, .dtype = TG_F32},
                                 o->seed);
    tg_optim *opt = model ? tg_sgd_new(model->params, (tg_sgd_opts){.lr = lr}) : NULL;
    model_watch watch = {.run = run};
    tg_fit_opts fit = {.epochs = o->model_steps, .batch_size = tg_dataset_len(data), .seed = o->seed,
                       .stop = &watch.stop, .progress = watch_step, .progress_user = &watch};
    tg_trainer *tr = opt ? tg_trainer_new(model, opt, data, NULL, &fit) : NULL;
    tg_status st = tr ? tg_trainer_fit(tr) : tg_last_status();
    if (!st) {
        snprintf(description, size, "%s", model->description);
        const tg_history *h = tg_trainer_history(tr);
        run->steps_run = h->n_steps;
        run->best_loss = INFINITY;
        for (int64_t s = 0; s < h->n_steps; s++) {
            double loss = h->step_loss[s];
            run->loss[s] = h->step_loss[s];
            if (run->steps_to_target < 0 && loss <= o->model_target) run->steps_to_target = s + 1;
            if (s > 0 && loss > h->step_loss[s - 1]) run->loss_increases++;
            if (loss < run->best_loss) run->best_loss = loss;
        }
        run->final_loss = h->n_steps ? h->step_loss[h->n_steps - 1] : NAN;
    }
    tg_trainer_free(tr);
    tg_optim_free(opt);
    tg_model_free(model);
    return st;
}

/* ---- the lesson ---- */

static tg_status check_opts(const tg_lesson_lr_opts *o) {
    const char *who = "tg_lesson_lr_run";
    if (!(o->curvature > 0) || !isfinite(o->curvature) || !isfinite(o->x0) || o->x0 == 0 ||
        !isfinite(o->nonconvex_x0) || !(o->tolerance > 0))
        return tg_set_error(TG_ERR_ARG, "%s: curvature %g must be > 0, x0 %g finite and not 0, tolerance %g > 0",
                            who, o->curvature, o->x0, o->tolerance);
    if (o->steps < 20 || o->steps > 1000000)
        return tg_set_error(TG_ERR_ARG, "%s: steps %lld: expected 20 to 1000000", who, (long long)o->steps);
    if (o->model_steps < 1 || o->model_steps > TG_LR_LESSON_MAX_MODEL_STEPS || o->samples < 10)
        return tg_set_error(TG_ERR_ARG, "%s: model_steps %lld (1 to %d), samples %lld (10 or more)", who,
                            (long long)o->model_steps, TG_LR_LESSON_MAX_MODEL_STEPS, (long long)o->samples);
    const int counts[3] = {o->n_rates, o->n_nonconvex_rates, o->n_model_rates};
    const double *lists[3] = {o->rates, o->nonconvex_rates, o->model_rates};
    for (int l = 0; l < 3; l++) {
        if (counts[l] < 0 || counts[l] > TG_LR_LESSON_MAX_RATES)
            return tg_set_error(TG_ERR_ARG, "%s: %d learning rates, at most %d", who, counts[l],
                                TG_LR_LESSON_MAX_RATES);
        for (int i = 0; i < counts[l]; i++)
            if (!(lists[l][i] > 0) || !isfinite(lists[l][i]))
                return tg_set_error(TG_ERR_ARG, "%s: learning rate %g must be > 0 and finite", who, lists[l][i]);
    }
    return TG_OK;
}

tg_status tg_lesson_lr_run(const tg_lesson_lr_opts *o, tg_lesson_lr_result *r) {
    if (!o || !r) return tg_set_error(TG_ERR_ARG, "tg_lesson_lr_run: options or result is NULL");
    tg_status st = check_opts(o);
    if (st) return st;
    memset(r, 0, sizeof *r);
    r->opts = *o;
    double a = o->curvature, zero = 0;
    for (int i = 0; i < o->n_rates; i++)
        if ((st = tg_lesson_descend(quadratic, &a, o->x0, o->rates[i] / a, o->steps, 1, &zero, o->tolerance,
                                    &r->quadratic[i])))
            return st;
    r->n_minima = tg_lesson_minima(double_well, NULL, -3, 3, 4, r->minima, r->minimum_value, r->minimum_curvature);
    if (r->n_minima < 1) return r->n_minima < 0 ? tg_last_status() : tg_set_error(TG_ERR_STATE, "no minimum found");
    for (int i = 0; i < o->n_nonconvex_rates; i++)
        if ((st = tg_lesson_descend(double_well, NULL, o->nonconvex_x0, o->nonconvex_rates[i], o->steps, r->n_minima,
                                    r->minima, o->tolerance, &r->nonconvex[i])))
            return st;
    tg_dataset *data = tg_dataset_synthetic("poly", o->samples, o->seed);
    if (!data || tg_dataset_standardize(data)) {
        tg_dataset_free(data);
        return tg_last_status();
    }
    for (int i = 0; i < o->n_model_rates && !st; i++)
        st = model_run(o, data, o->model_rates[i], &r->model[i], r->model_description, sizeof r->model_description);
    tg_dataset_free(data);
    return st;
}

/* ---- the table and the reading ---- */

/* "12", "not reached" or "diverged at step 35" */
static const char *reached(int64_t steps, int64_t diverged_at, char *buf, size_t size) {
    if (diverged_at)
        snprintf(buf, size, "diverged at step %lld", (long long)diverged_at);
    else if (steps >= 0)
        snprintf(buf, size, "%lld", (long long)steps);
    else
        snprintf(buf, size, "not reached");
    return buf;
}

static const char *value_or_dash(double v, char *buf, size_t size) {
    if (isfinite(v))
        snprintf(buf, size, "%.3g", v);
    else
        snprintf(buf, size, "-");
    return buf;
}

/* which minimum: "left (x* -1.301)" */
static int minimum_index(const tg_lesson_lr_result *r, double m) {
    for (int i = 0; i < r->n_minima; i++)
        if (r->minima[i] == m) return i;
    return 0;
}

static void print_quadratic(FILE *out, const tg_lesson_lr_result *r) {
    const tg_lesson_lr_opts *o = &r->opts;
    double a = o->curvature;
    fprintf(out,
            "1. f(x) = a/2 x^2 with a = f'' = %g, from x0 = %g, %lld steps: each step multiplies x by 1 - lr a,\n"
            "   so lr < 1/a = %g approaches monotonically, 1/a < lr < 2/a = %g overshoots, lr > 2/a diverges\n\n",
            a, o->x0, (long long)o->steps, 1 / a, 2 / a);
    fprintf(out, "  %9s %6s %9s %9s  %-22s %11s %6s  %s\n", "lr", "lr a", "|1-lr a|", "measured", "f - f* <= tol at step",
            "final f", "signs", "regime");
    for (int i = 0; i < o->n_rates; i++) {
        const tg_descent_run *d = &r->quadratic[i];
        char when[40], fin[32];
        fprintf(out, "  %9.4g %6.3g %9.3g %9.3g  %-22s %11s %6lld  %s\n", d->lr, d->lr * a, fabs(1 - d->lr * a),
                d->rate, reached(d->steps_to_tolerance, d->diverged_at, when, sizeof when),
                value_or_dash(d->diverged_at ? NAN : d->loss_end, fin, sizeof fin), (long long)d->sign_changes,
                tg_descent_regime_name(d->regime));
    }
}

static void print_nonconvex(FILE *out, const tg_lesson_lr_result *r) {
    const tg_lesson_lr_opts *o = &r->opts;
    fprintf(out, "\n2. f(x) = x^4 - 3x^2 + x from x0 = %g, %lld steps; its minima (Newton on the engine's f', f''):\n",
            o->nonconvex_x0, (long long)o->steps);
    for (int i = 0; i < r->n_minima; i++)
        fprintf(out, "   x* = %.4f  f(x*) = %.4f  f''(x*) = %.3f  stable for lr < 2/f'' = %.4f\n", r->minima[i],
                r->minimum_value[i], r->minimum_curvature[i], 2 / r->minimum_curvature[i]);
    fprintf(out, "\n  %9s  %-9s %-22s %11s %11s %6s  %s\n", "lr", "nearest x*", "f - f* <= tol at step", "final x",
            "final f", "signs", "regime");
    for (int i = 0; i < o->n_nonconvex_rates; i++) {
        const tg_descent_run *d = &r->nonconvex[i];
        char when[40], x[32], fin[32];
        fprintf(out, "  %9.4g  %9.4f %-22s %11s %11s %6lld  %s\n", d->lr, d->minimum,
                reached(d->steps_to_tolerance, d->diverged_at, when, sizeof when),
                value_or_dash(d->diverged_at ? NAN : d->x_end, x, sizeof x),
                value_or_dash(d->diverged_at ? NAN : d->loss_end, fin, sizeof fin), (long long)d->sign_changes,
                tg_descent_regime_name(d->regime));
    }
}

static void print_model(FILE *out, const tg_lesson_lr_result *r) {
    const tg_lesson_lr_opts *o = &r->opts;
    fprintf(out,
            "\n3. %s on %lld samples of \"poly\" (mean squared error), full-batch gradient descent, %lld steps\n\n",
            r->model_description, (long long)o->samples, (long long)o->model_steps);
    fprintf(out, "  %9s %-22s %11s %11s %11s  %s\n", "lr", "loss <= target at step", "first loss", "best loss",
            "final loss", "steps the loss rose");
    for (int i = 0; i < o->n_model_rates; i++) {
        const tg_lr_model_run *m = &r->model[i];
        char when[40], best[32], fin[32];
        fprintf(out, "  %9.4g %-22s %11.4g %11s %11s  %lld of %lld\n", m->lr,
                reached(m->steps_to_target, m->diverged_at, when, sizeof when), m->first_loss,
                value_or_dash(m->best_loss, best, sizeof best),
                value_or_dash(m->diverged_at ? NAN : m->final_loss, fin, sizeof fin), (long long)m->loss_increases,
                (long long)(m->steps_run > 0 ? m->steps_run - 1 : 0));
    }
}

/* The reading: what the numbers above say, sentence by sentence. */
static void print_reading(FILE *out, const tg_lesson_lr_result *r) {
    const tg_lesson_lr_opts *o = &r->opts;
    tg_paragraph p = {.len = 0};
    double a = o->curvature, worst = 0;
    for (int i = 0; i < o->n_rates; i++)
        if (!r->quadratic[i].diverged_at)
            worst = fmax(worst, fabs(r->quadratic[i].rate - fabs(1 - r->quadratic[i].lr * a)));
    tg_paragraph_add(&p, "On the quadratic the measured factor per step equals |1 - lr a| (largest difference %.1e):",
                     worst);
    for (int i = 0; i < o->n_rates; i++) {
        const tg_descent_run *d = &r->quadratic[i];
        const char *sep = i + 1 == o->n_rates ? "." : ";";
        switch (d->regime) {
        case TG_DESCENT_MONOTONE:
            if (d->x_end == d->minimum && d->steps_to_tolerance == 1)
                tg_paragraph_add(&p, " lr %g = 1/a lands exactly on the minimum in one step%s", d->lr, sep);
            else if (d->steps_to_tolerance < 0)
                tg_paragraph_add(&p, " lr %g never overshoots but is too small: f is still %.3g after %lld steps%s",
                                 d->lr, d->loss_end, (long long)d->steps_run, sep);
            else
                tg_paragraph_add(&p, " lr %g approaches from one side and is within %g after %lld step%s%s", d->lr,
                                 o->tolerance, (long long)d->steps_to_tolerance, d->steps_to_tolerance == 1 ? "" : "s",
                                 sep);
            break;
        case TG_DESCENT_OSCILLATING:
            tg_paragraph_add(&p, " lr %g overshoots (x changed sign %lld times) and %s%s", d->lr,
                             (long long)d->sign_changes,
                             d->steps_to_tolerance >= 0 ? "still converges" : "converges only slowly", sep);
            break;
        case TG_DESCENT_CYCLING:
            tg_paragraph_add(&p, " lr %g = 2/a bounces between %g and %g for ever%s", d->lr, o->x0, -o->x0, sep);
            break;
        case TG_DESCENT_DIVERGING:
            tg_paragraph_add(&p, " lr %g grows |x| by %.3g per step%s", d->lr, d->rate, sep);
            break;
        case TG_DESCENT_DIVERGED:
            tg_paragraph_add(&p, " lr %g diverged at step %lld%s", d->lr, (long long)d->diverged_at, sep);
            break;
        }
    }
    if (r->n_minima >= 2) {
        tg_paragraph_add(&p, " On the non-convex function each minimum has its own limit 2/f'':");
        for (int i = 0; i < r->n_minima; i++)
            tg_paragraph_add(&p, "%s %.4g at x* = %.3f", i ? "," : "", 2 / r->minimum_curvature[i], r->minima[i]);
        tg_paragraph_add(&p, ".");
        int start = nearest(r->n_minima, r->minima, o->nonconvex_x0);
        for (int i = 0; i < o->n_nonconvex_rates; i++) {
            const tg_descent_run *d = &r->nonconvex[i];
            int m = minimum_index(r, d->minimum);
            double limit = 2 / r->minimum_curvature[m];
            if (d->regime == TG_DESCENT_DIVERGED)
                tg_paragraph_add(&p, " lr %g diverged at step %lld.", d->lr, (long long)d->diverged_at);
            else if (d->regime == TG_DESCENT_CYCLING || d->regime == TG_DESCENT_DIVERGING)
                tg_paragraph_add(&p, " lr %g is above the limit %.4g of x* = %.3f and keeps bouncing around it.", d->lr,
                                 limit, d->minimum);
            else if (d->steps_to_tolerance < 0)
                tg_paragraph_add(&p, " lr %g heads for x* = %.3f but has not arrived after %lld steps.", d->lr,
                                 d->minimum, (long long)d->steps_run);
            else if (m == start)
                tg_paragraph_add(&p, " lr %g settles in the nearest minimum x* = %.3f after %lld steps%s.", d->lr,
                                 d->minimum, (long long)d->steps_to_tolerance,
                                 r->n_minima > 1 && d->lr > 2 / r->minimum_curvature[m == 0 ? 1 : 0]
                                     ? ", too large a step to stay in the other, sharper one"
                                     : "");
            else
                tg_paragraph_add(&p, " lr %g jumps over the barrier and settles in x* = %.3f after %lld steps.", d->lr,
                                 d->minimum, (long long)d->steps_to_tolerance);
        }
    }
    tg_paragraph_add(&p, " The model:");
    for (int i = 0; i < o->n_model_rates; i++) {
        const tg_lr_model_run *m = &r->model[i];
        const char *sep = i + 1 == o->n_model_rates ? "." : ";";
        if (m->diverged_at)
            tg_paragraph_add(&p, " lr %g diverged at step %lld%s", m->lr, (long long)m->diverged_at, sep);
        else if (m->steps_to_target < 0)
            tg_paragraph_add(&p, " lr %g ends at loss %.3g, above the target %g%s%s", m->lr, m->final_loss,
                             o->model_target,
                             m->loss_increases > m->steps_run / 10 ? " with the loss rising at many steps" : "", sep);
        else if (m->loss_increases == 0)
            tg_paragraph_add(&p, " lr %g reaches loss %g at step %lld, the loss falling at every step%s", m->lr,
                             o->model_target, (long long)m->steps_to_target, sep);
        else
            tg_paragraph_add(&p, " lr %g reaches loss %g at step %lld (the loss rose at %lld steps)%s", m->lr,
                             o->model_target, (long long)m->steps_to_target, (long long)m->loss_increases, sep);
    }
    fputc('\n', out);
    tg_paragraph_print(out, &p);
}

void tg_lesson_lr_print(FILE *out, const tg_lesson_lr_result *r) {
    if (!out || !r) return;
    print_quadratic(out, r);
    print_nonconvex(out, r);
    print_model(out, r);
    print_reading(out, r);
}

/* ---- the picture: x_k on the quadratic, x_k on the non-convex function, the model's loss ---- */

tg_status tg_lesson_lr_plot(const tg_lesson_lr_result *r, const char *path) {
    if (!r || !path) return tg_set_error(TG_ERR_ARG, "tg_lesson_lr_plot: result or path is NULL");
    const tg_lesson_lr_opts *o = &r->opts;
    enum { N = TG_LR_LESSON_MAX_RATES, STEPS = TG_LR_LESSON_MAX_MODEL_STEPS };
    /* the step numbers 0..STEPS and the model's losses as doubles */
    double *steps = malloc(sizeof(double) * (STEPS + 1 + (size_t)N * STEPS));
    if (!steps) return tg_set_error(TG_ERR_NOMEM, "tg_lesson_lr_plot: out of memory");
    double *model_loss = steps + STEPS + 1;
    for (int k = 0; k <= STEPS; k++) steps[k] = k;
    char names[3][N + 4][48];
    tg_plot_series quad[N], wells[N + 4], model[N];
    int trace = 30 < o->steps + 1 ? 30 : (int)o->steps + 1;
    for (int i = 0; i < o->n_rates; i++) {
        const tg_descent_run *d = &r->quadratic[i];
        snprintf(names[0][i], sizeof names[0][i], "lr %g (%s)", d->lr, tg_descent_regime_name(d->regime));
        quad[i] = (tg_plot_series){names[0][i], steps, d->trace, d->n_trace < trace ? d->n_trace : trace,
                                   TG_PLOT_LINE_POINTS};
    }
    int n_wells = 0;
    for (int i = 0; i < o->n_nonconvex_rates; i++, n_wells++) {
        const tg_descent_run *d = &r->nonconvex[i];
        snprintf(names[1][i], sizeof names[1][i], "lr %g", d->lr);
        wells[n_wells] = (tg_plot_series){names[1][i], steps, d->trace, d->n_trace < trace ? d->n_trace : trace,
                                          TG_PLOT_LINE};
    }
    double minimum_lines[4][2], ends[2] = {0, trace - 1};
    for (int m = 0; m < r->n_minima && m < 4; m++, n_wells++) {
        minimum_lines[m][0] = minimum_lines[m][1] = r->minima[m];
        snprintf(names[1][n_wells], sizeof names[1][n_wells], "x* = %.3f", r->minima[m]);
        wells[n_wells] = (tg_plot_series){names[1][n_wells], ends, minimum_lines[m], 2, TG_PLOT_DASHED, 8};
    }
    double lowest = INFINITY, first = 0;
    for (int i = 0; i < o->n_model_rates; i++) {
        const tg_lr_model_run *m = &r->model[i];
        lowest = fmin(lowest, m->best_loss);
        first = fmax(first, m->first_loss);
        double *loss = model_loss + (size_t)i * STEPS;
        for (int64_t s = 0; s < m->steps_run; s++) loss[s] = m->loss[s];
        snprintf(names[2][i], sizeof names[2][i], "lr %g%s", m->lr, m->diverged_at ? " (diverged)" : "");
        model[i] = (tg_plot_series){names[2][i], steps + 1, loss, m->steps_run, TG_PLOT_LINE};
    }
    char title[64];
    snprintf(title, sizeof title, "x on f(x) = %g/2 x^2", o->curvature);
    tg_plot_panel panels[3] = {
        {.title = title, .x_label = "step", .y_label = "x", .y_min = -2.5 * fabs(o->x0), .y_max = 2.5 * fabs(o->x0),
         .series = quad, .n_series = o->n_rates},
        {.title = "x on f(x) = x^4 - 3x^2 + x", .x_label = "step", .y_label = "x", .y_min = -3,
         .y_max = 3, .series = wells, .n_series = n_wells},
        {.title = "MLP on poly: training loss", .x_label = "step", .y_label = "loss", .log_y = true,
         .y_min = isfinite(lowest) && lowest > 0 ? lowest / 2 : 0, .y_max = isfinite(lowest) && lowest > 0 ? 3 * first : 0,
         .series = model, .n_series = o->n_model_rates},
    };
    tg_status st = tg_plot_panels(path, 3, panels);
    free(steps);
    return st;
}

/* ---- the registry entry ---- */

static void defaults(void *options) { *(tg_lesson_lr_opts *)options = tg_lesson_lr_defaults(); }

static tg_status run(const void *options, FILE *out, const char *plot_path) {
    tg_lesson_lr_result *r = malloc(sizeof *r);
    if (!r) return tg_set_error(TG_ERR_NOMEM, "lesson lr: out of memory");
    tg_status st = tg_lesson_lr_run(options, r);
    if (!st) tg_lesson_lr_print(out, r);
    if (!st && plot_path) st = tg_lesson_lr_plot(r, plot_path);
    free(r);
    return st;
}

#define OPT(field) offsetof(tg_lesson_lr_opts, field)
static const tg_lesson_option options[] = {
    {"--seed", TG_LESSON_SEED, OPT(seed), 0, 0, "the model's data and initialisation"},
    {"--curvature", TG_LESSON_REAL, OPT(curvature), 1e-3, 1e3, "a of f(x) = a/2 x^2"},
    {"--x0", TG_LESSON_REAL, OPT(x0), -1e3, 1e3, "start on the quadratic"},
    {"--steps", TG_LESSON_INT, OPT(steps), 20, 1000000, "gradient steps of each run on f(x)"},
    {"--tolerance", TG_LESSON_REAL, OPT(tolerance), 1e-300, 1, "reached: f(x) - f(x*) <= tolerance"},
    {"--start", TG_LESSON_REAL, OPT(nonconvex_x0), -3, 3, "start on the non-convex function"},
    {"--samples", TG_LESSON_INT, OPT(samples), 10, 1000000, "samples of the model's data"},
    {"--model-steps", TG_LESSON_INT, OPT(model_steps), 1, TG_LR_LESSON_MAX_MODEL_STEPS, "the model's steps"},
    {"--target", TG_LESSON_REAL, OPT(model_target), 1e-12, 1e12, "reached: the model's loss <= target"},
};

const tg_lesson tg_lesson_lr = {
    .name = "lr",
    .title = "the learning rate",
    .summary = "too small, about right, too large, far too large: on a x^2/2, a non-convex f and a small model",
    .options_size = sizeof(tg_lesson_lr_opts),
    .defaults = defaults,
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .picture_formats = ".svg .png .pdf",
    .run = run,
};
