/* Lesson "gd": batch, stochastic and mini-batch gradient descent (see lesson_gd.h). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "train/lesson_gd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "optim/sgd.h"
#include "train/plot.h"
#include "train/trainer.h"

tg_lesson_gd_opts tg_lesson_gd_defaults(void) {
    return (tg_lesson_gd_opts){.seed = 1, .samples = 2000, .epochs = 10, .lr = 0.1, .n_methods = 4,
                               .batch_sizes = {0, 1, 32, 128}};
}

/* After each epoch: the whole training set's loss, outside the timed part of the epoch. */
typedef struct epoch_watch {
    tg_gd_method_run *run;
    tg_model *model;
    const tg_dataset *train;
    tg_tape *tape;
    tg_status status;
} epoch_watch;

static void after_epoch(const tg_progress *p, void *user) {
    epoch_watch *w = user;
    if (!p->epoch_end || w->status) return;
    tg_evaluation e;
    w->status = tg_evaluate(w->model, w->train, TG_F32, 1000, w->tape, &e);
    if (w->status) return;
    w->run->train_loss[p->epoch] = e.loss;
    w->run->test_accuracy[p->epoch] = p->metrics->test_accuracy;
    w->run->seconds[p->epoch] = w->run->seconds[p->epoch - 1] + p->metrics->train_seconds;
    tg_confusion_free(&e.confusion);
}

/* std of the step-to-step change of the losses */
static double step_noise(const float *loss, int64_t n) {
    if (n < 3) return 0;
    double sum = 0, squares = 0;
    for (int64_t s = 1; s < n; s++) sum += (double)loss[s] - loss[s - 1];
    double mean = sum / (double)(n - 1);
    for (int64_t s = 1; s < n; s++) {
        double d = (double)loss[s] - loss[s - 1] - mean;
        squares += d * d;
    }
    return sqrt(squares / (double)(n - 1));
}

static double process_cpu_seconds(void) {
    struct timespec t;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)) return 0;
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void method_name(int64_t batch_size, int64_t n, char *buf, size_t size) {
    if (batch_size >= n)
        snprintf(buf, size, "BGD");
    else if (batch_size == 1)
        snprintf(buf, size, "SGD");
    else
        snprintf(buf, size, "MBGD %lld", (long long)batch_size);
}

static tg_status method_run(const tg_lesson_gd_opts *o, const tg_dataset *train, const tg_dataset *test,
                            int64_t batch_size, tg_gd_method_run *run, char *description, size_t size) {
    int64_t n = tg_dataset_len(train);
    memset(run, 0, sizeof *run);
    run->batch_size = batch_size ? batch_size : n;
    run->epochs = o->epochs;
    method_name(run->batch_size, n, run->name, sizeof run->name);
    tg_model *model = tg_mlp_new(&(tg_mlp_opts){.inputs = 2, .hidden = {32, 32}, .n_hidden = 2, .outputs = 3,
                                                .activation = TG_ACT_TANH, .dtype = TG_F32},
                                 o->seed);
    tg_optim *opt = model ? tg_sgd_new(model->params, (tg_sgd_opts){.lr = o->lr}) : NULL;
    epoch_watch watch = {.run = run, .model = model, .train = train, .tape = tg_tape_new()};
    tg_fit_opts fit = {.epochs = o->epochs, .batch_size = run->batch_size, .seed = o->seed,
                       .progress = after_epoch, .progress_user = &watch};
    tg_trainer *tr = opt && watch.tape ? tg_trainer_new(model, opt, train, test, &fit) : NULL;
    tg_evaluation before = {0};
    tg_status st = tr ? tg_evaluate(model, train, TG_F32, 1000, watch.tape, &before) : tg_last_status();
    if (!st) {
        run->train_loss[0] = before.loss;
        tg_confusion_free(&before.confusion);
        tg_evaluation held;
        st = tg_evaluate(model, test, TG_F32, 1000, watch.tape, &held);
        run->test_accuracy[0] = held.accuracy;
        if (!st) tg_confusion_free(&held.confusion);
    }
    double cpu_start = process_cpu_seconds();
    if (!st) st = tg_trainer_fit(tr);
    run->cpu_seconds = process_cpu_seconds() - cpu_start;
    if (!st) st = watch.status;
    if (!st) {
        const tg_history *h = tg_trainer_history(tr);
        snprintf(description, size, "%s", model->description);
        run->updates_per_epoch = h->epochs[0].steps;
        double samples = (double)n * (double)o->epochs;
        run->samples_per_second = run->seconds[o->epochs] > 0 ? samples / run->seconds[o->epochs] : 0;
        run->noise = step_noise(h->step_loss, h->n_steps);
        int64_t steps = run->updates_per_epoch;
        int64_t every = (steps + TG_GD_LESSON_TRACE - 1) / TG_GD_LESSON_TRACE;
        for (int64_t s = 0; s < steps && run->n_trace < TG_GD_LESSON_TRACE; s += every) {
            run->trace_epoch[run->n_trace] = (double)(s + 1) / (double)steps;
            run->trace_loss[run->n_trace++] = h->step_loss[s];
        }
    }
    tg_trainer_free(tr);
    tg_tape_free(watch.tape);
    tg_optim_free(opt);
    tg_model_free(model);
    return st;
}

static tg_status check_opts(const tg_lesson_gd_opts *o) {
    const char *who = "tg_lesson_gd_run";
    if (o->samples < 20 || o->epochs < 1 || o->epochs > TG_GD_LESSON_MAX_EPOCHS || !(o->lr > 0) || !isfinite(o->lr))
        return tg_set_error(TG_ERR_ARG, "%s: samples %lld (20 or more), epochs %lld (1 to %d), lr %g (> 0)", who,
                            (long long)o->samples, (long long)o->epochs, TG_GD_LESSON_MAX_EPOCHS, o->lr);
    if (o->n_methods < 1 || o->n_methods > TG_GD_LESSON_MAX_METHODS)
        return tg_set_error(TG_ERR_ARG, "%s: %d methods, expected 1 to %d", who, o->n_methods,
                            TG_GD_LESSON_MAX_METHODS);
    for (int i = 0; i < o->n_methods; i++)
        if (o->batch_sizes[i] < 0)
            return tg_set_error(TG_ERR_ARG, "%s: batch size %lld (0 is the whole set)", who,
                                (long long)o->batch_sizes[i]);
    return TG_OK;
}

tg_status tg_lesson_gd_run(const tg_lesson_gd_opts *o, tg_lesson_gd_result *r) {
    if (!o || !r) return tg_set_error(TG_ERR_ARG, "tg_lesson_gd_run: options or result is NULL");
    tg_status st = check_opts(o);
    if (st) return st;
    memset(r, 0, sizeof *r);
    r->opts = *o;
    tg_dataset *train, *test;
    if ((st = tg_lesson_data("spiral", o->samples, 0.2, o->seed, &train, &test))) return st;
    r->train_samples = tg_dataset_len(train);
    r->test_samples = tg_dataset_len(test);
    for (int i = 0; i < o->n_methods && !st; i++)
        st = method_run(o, train, test, o->batch_sizes[i], &r->methods[i], r->model_description,
                        sizeof r->model_description);
    tg_dataset_free(train);
    tg_dataset_free(test);
    return st;
}

/* ---- the table and the reading ---- */

/* The training loss a method had reached by `seconds` of training: that of
 * its last epoch finished by then (index 0: before training). */
static double loss_by_time(const tg_gd_method_run *m, double seconds, int64_t *epochs) {
    int64_t k = 0;
    while (k < m->epochs && m->seconds[k + 1] <= seconds) k++;
    if (epochs) *epochs = k;
    return m->train_loss[k];
}

/* Seconds a method needed to get its loss to `goal` or below; NaN if it did not. */
static double time_to(const tg_gd_method_run *m, double goal) {
    for (int64_t k = 0; k <= m->epochs; k++)
        if (m->train_loss[k] <= goal) return m->seconds[k];
    return NAN;
}

void tg_lesson_gd_print(FILE *out, const tg_lesson_gd_result *r) {
    if (!out || !r) return;
    const tg_lesson_gd_opts *o = &r->opts;
    int64_t e = o->epochs;
    int bgd = -1, sgd = -1, quickest = 0, best = 0, vectorised = -1; /* vectorised: the fastest with batch > 1 */
    for (int i = 0; i < o->n_methods; i++) {
        const tg_gd_method_run *m = &r->methods[i];
        if (m->batch_size == r->train_samples) bgd = i;
        if (m->batch_size == 1) sgd = i;
        if (m->seconds[e] < r->methods[quickest].seconds[e]) quickest = i;
        if (m->train_loss[e] < r->methods[best].train_loss[e]) best = i;
        if (m->batch_size > 1 && (vectorised < 0 || m->samples_per_second > r->methods[vectorised].samples_per_second))
            vectorised = i;
    }
    double budget = r->methods[quickest].seconds[e];
    fprintf(out,
            "%s on the spiral (%lld training, %lld held-out samples), plain SGD step lr %g, %lld epochs each;\n"
            "loss: cross entropy on the whole training set after an epoch; noise: std of the change in\n"
            "loss from one step to the next; time: training only, evaluation excluded\n\n",
            r->model_description, (long long)r->train_samples, (long long)r->test_samples, o->lr, (long long)e);
    fprintf(out, "  %-9s %6s %8s %10s %8s %8s %8s %8s %8s %8s\n", "method", "batch", "updates", "samples/s", "seconds",
            "loss", "loss", "test acc", "loss at", "noise");
    char at[16];
    snprintf(at, sizeof at, "%.3gs", budget);
    fprintf(out, "  %-9s %6s %8s %10s %8s %8s %8s %8s %8s %8s\n", "", "", "/epoch", "", "in all", "epoch 1", "last",
            "last", at, "");
    for (int i = 0; i < o->n_methods; i++) {
        const tg_gd_method_run *m = &r->methods[i];
        fprintf(out, "  %-9s %6lld %8lld %10.0f %8.2f %8.4f %8.4f %7.2f%% %8.4f %8.4f\n", m->name,
                (long long)m->batch_size, (long long)m->updates_per_epoch, m->samples_per_second, m->seconds[e],
                m->train_loss[1], m->train_loss[e], 100 * m->test_accuracy[e], loss_by_time(m, budget, NULL),
                m->noise);
    }
    fprintf(out, "\n  loss by epoch:\n  %-9s", "epoch");
    for (int64_t k = 0; k <= e; k++) fprintf(out, " %7lld", (long long)k);
    fputc('\n', out);
    for (int i = 0; i < o->n_methods; i++) {
        fprintf(out, "  %-9s", r->methods[i].name);
        for (int64_t k = 0; k <= e; k++) fprintf(out, " %7.4f", r->methods[i].train_loss[k]);
        fputc('\n', out);
    }

    tg_paragraph p = {.len = 0};
    if (bgd >= 0) {
        const tg_gd_method_run *m = &r->methods[bgd];
        tg_paragraph_add(&p,
                         "BGD takes one step per epoch: after %lld epochs it has made %lld updates and its loss went "
                         "only from %.3f to %.3f, along a smooth curve (noise %.2g).",
                         (long long)e, (long long)(m->updates_per_epoch * e), m->train_loss[0], m->train_loss[e],
                         m->noise);
    }
    if (sgd >= 0) {
        const tg_gd_method_run *m = &r->methods[sgd];
        tg_paragraph_add(&p,
                         " SGD updates after every sample (%lld updates per epoch) and ends at loss %.3f, but its "
                         "curve is noisy (noise %.2g) and it processes %.0f samples/s",
                         (long long)m->updates_per_epoch, m->train_loss[e], m->noise, m->samples_per_second);
        if (vectorised >= 0 && r->methods[vectorised].samples_per_second > m->samples_per_second)
            tg_paragraph_add(&p, ", %.1fx fewer than %s: a batch of one leaves nothing for the vectorised kernels",
                             r->methods[vectorised].samples_per_second / m->samples_per_second,
                             r->methods[vectorised].name);
        tg_paragraph_add(&p, ".");
    }
    tg_paragraph_add(&p, " By the clock: when %s had finished (%.3g s), the losses were", r->methods[quickest].name,
                     budget);
    for (int i = 0; i < o->n_methods; i++) {
        int64_t k;
        double loss = loss_by_time(&r->methods[i], budget, &k);
        tg_paragraph_add(&p, "%s %.3f for %s (%lld epoch%s)", i ? "," : "", loss, r->methods[i].name, (long long)k,
                         k == 1 ? "" : "s");
    }
    if (bgd >= 0 && best != bgd) {
        double goal = r->methods[bgd].train_loss[e];
        int first = -1;
        for (int i = 0; i < o->n_methods; i++)
            if (i != bgd && isfinite(time_to(&r->methods[i], goal)) &&
                (first < 0 || time_to(&r->methods[i], goal) < time_to(&r->methods[first], goal)))
                first = i;
        if (first >= 0)
            tg_paragraph_add(&p, "; BGD's final loss %.3f took it %.3g s, %s %.3g s", goal,
                             r->methods[bgd].seconds[e], r->methods[first].name,
                             time_to(&r->methods[first], goal));
    }
    tg_paragraph_add(&p, ". After %lld epochs the lowest loss is %s's (%.3f).", (long long)e, r->methods[best].name,
                     r->methods[best].train_loss[e]);
    fputc('\n', out);
    tg_paragraph_print(out, &p);
}

/* ---- the picture: loss by epoch, loss by second, epoch 1's step losses ---- */

tg_status tg_lesson_gd_plot(const tg_lesson_gd_result *r, const char *path) {
    if (!r || !path) return tg_set_error(TG_ERR_ARG, "tg_lesson_gd_plot: result or path is NULL");
    const tg_lesson_gd_opts *o = &r->opts;
    enum { N = TG_GD_LESSON_MAX_METHODS };
    double epochs[TG_GD_LESSON_MAX_EPOCHS + 1];
    for (int k = 0; k <= TG_GD_LESSON_MAX_EPOCHS; k++) epochs[k] = k;
    tg_plot_series by_epoch[N], by_second[N], steps[N];
    for (int i = 0; i < o->n_methods; i++) {
        const tg_gd_method_run *m = &r->methods[i];
        by_epoch[i] = (tg_plot_series){m->name, epochs, m->train_loss, o->epochs + 1, TG_PLOT_LINE_POINTS};
        /* from the end of epoch 1: the seconds axis is logarithmic */
        by_second[i] = (tg_plot_series){m->name, m->seconds + 1, m->train_loss + 1, o->epochs, TG_PLOT_LINE_POINTS};
        steps[i] = (tg_plot_series){m->name, m->trace_epoch, m->trace_loss, m->n_trace,
                                    m->n_trace < 20 ? TG_PLOT_LINE_POINTS : TG_PLOT_LINE};
    }
    tg_plot_panel panels[3] = {
        {.title = "training loss by epoch", .x_label = "epoch", .y_label = "loss", .series = by_epoch,
         .n_series = o->n_methods},
        {.title = "training loss by wall-clock time", .x_label = "seconds (log)", .y_label = "loss", .log_x = true,
         .series = by_second, .n_series = o->n_methods},
        {.title = "loss of each step in epoch 1", .x_label = "epoch", .y_label = "loss", .series = steps,
         .n_series = o->n_methods},
    };
    return tg_plot_panels(path, 3, panels);
}

/* ---- the registry entry ---- */

static void defaults(void *options) { *(tg_lesson_gd_opts *)options = tg_lesson_gd_defaults(); }

static tg_status run(const void *options, FILE *out, const char *plot_path) {
    tg_lesson_gd_result *r = malloc(sizeof *r);
    if (!r) return tg_set_error(TG_ERR_NOMEM, "lesson gd: out of memory");
    tg_status st = tg_lesson_gd_run(options, r);
    if (!st) tg_lesson_gd_print(out, r);
    if (!st && plot_path) st = tg_lesson_gd_plot(r, plot_path);
    free(r);
    return st;
}

#define OPT(field) offsetof(tg_lesson_gd_opts, field)
static const tg_lesson_option options[] = {
    {"--seed", TG_LESSON_SEED, OPT(seed), 0, 0, "data, split, initialisation and shuffling"},
    {"--samples", TG_LESSON_INT, OPT(samples), 20, 1000000, "spiral samples (a fifth held out)"},
    {"--epochs", TG_LESSON_INT, OPT(epochs), 1, TG_GD_LESSON_MAX_EPOCHS, "epochs of every method"},
    {"--lr", TG_LESSON_REAL, OPT(lr), 1e-9, 1e3, "learning rate of every method"},
    {"--batch", TG_LESSON_INT, OPT(batch_sizes[3]), 2, 1000000, "the second mini-batch size"},
};

const tg_lesson tg_lesson_gd = {
    .name = "gd",
    .title = "batch, stochastic and mini-batch gradient descent",
    .summary = "one model, one lr, the same epochs: batch N, 1, 32, 128 by loss per epoch and second, noise, speed",
    .options_size = sizeof(tg_lesson_gd_opts),
    .defaults = defaults,
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .picture_formats = ".svg .png .pdf",
    .run = run,
};
