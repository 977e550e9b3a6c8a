/* Lesson "bn": batch normalization (see lesson_bn.h). */
#include "train/lesson_bn.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "graph/dot.h"
#include "optim/sgd.h"
#include "train/inspect.h"
#include "train/plot.h"
#include "train/trainer.h"

tg_lesson_bn_opts tg_lesson_bn_defaults(void) {
    return (tg_lesson_bn_opts){.seed = 1, .samples = 3000, .depth = 8, .width = 32, .activation = TG_ACT_TANH,
                               .epochs = 10, .batch = 64, .lr = 0.02, .high_lr = 0.3, .momentum = 0.9,
                               .target = 0.9};
}

double tg_bn_mean_drift(const tg_bn_run *run, int layer) {
    if (run->epochs_run < 2) return NAN;
    double sum = 0;
    for (int64_t e = 2; e <= run->epochs_run; e++) sum += run->drift[e][layer];
    return sum / (double)(run->epochs_run - 1);
}

/* ---- what happens inside, step by step ---- */

typedef struct inside_watch {
    tg_bn_run *run;
    int depth;
    int64_t width;
    const char *graph_path;  /* the first step's graph, or NULL */
    const char *title;
    double *mean_sum, *std_sum; /* [depth][width]: over the epoch's steps, each unit's batch mean and std */
    double *previous;           /* [depth][width]: each unit's mean over the last epoch */
    double *unit_mean, *unit_std; /* [width]: one step's */
    double grad_sum[TG_BN_LESSON_MAX_DEPTH + 1];
    int64_t steps;              /* in this epoch */
    tg_status status;
    volatile sig_atomic_t stop;
} inside_watch;

static void after_step(inside_watch *w, const tg_progress *p) {
    double loss = tg_item(p->step_loss);
    if (!isfinite(loss)) {
        w->run->diverged_at = p->step;
        w->stop = 1;
        return;
    }
    char name[32];
    for (int k = 0; k < w->depth && !w->status; k++) {
        snprintf(name, sizeof name, "layer%d", k + 1);
        const tg_tensor *h = tg_scope_output(p->tape, name); /* [batch, width]: the activation */
        w->status = h ? tg_unit_stats(h, w->unit_mean, w->unit_std) : tg_last_status();
        for (int64_t u = 0; u < w->width && !w->status; u++) {
            w->mean_sum[k * w->width + u] += w->unit_mean[u];
            w->std_sum[k * w->width + u] += w->unit_std[u];
        }
    }
    for (int k = 0; k <= w->depth; k++) {
        snprintf(name, sizeof name, "fc%d.weight", k + 1);
        w->grad_sum[k] += tg_params_grad_norm(p->model->params, name);
    }
    w->steps++;
    if (p->step == 1 && w->graph_path && !w->status)
        w->status = tg_dot_render(p->tape, p->step_loss, w->graph_path,
                                  &(tg_dot_opts){.collapse_scopes = true, .show_grads = true, .title = w->title});
}

static void after_epoch(inside_watch *w, const tg_epoch_metrics *m) {
    tg_bn_run *run = w->run;
    int64_t e = m->epoch;
    run->epochs_run = e;
    run->test_accuracy[e] = m->test_accuracy;
    run->train_loss[e] = m->train_loss;
    run->seconds[e] = run->seconds[e - 1] + m->train_seconds;
    double steps = w->steps ? (double)w->steps : 1;
    for (int k = 0; k < w->depth; k++) {
        double mean = 0, spread = 0, squares = 0;
        for (int64_t u = 0; u < w->width; u++) {
            int64_t i = k * w->width + u;
            double unit = w->mean_sum[i] / steps;
            mean += unit;
            spread += w->std_sum[i] / steps;
            squares += (unit - w->previous[i]) * (unit - w->previous[i]);
            w->previous[i] = unit;
            w->mean_sum[i] = w->std_sum[i] = 0;
        }
        run->unit_mean[e][k] = mean / (double)w->width;
        run->unit_std[e][k] = spread / (double)w->width;
        run->drift[e][k] = e >= 2 ? sqrt(squares / (double)w->width) : NAN;
    }
    for (int k = 0; k <= w->depth; k++) {
        run->grad_norm[e][k] = w->grad_sum[k] / steps;
        w->grad_sum[k] = 0;
    }
    w->steps = 0;
}

static void watch(const tg_progress *p, void *user) {
    inside_watch *w = user;
    if (w->status) return;
    if (p->epoch_end)
        after_epoch(w, p->metrics);
    else
        after_step(w, p);
}

/* ---- one run ---- */

static tg_status train_one(const tg_lesson_bn_opts *o, const tg_dataset *train, const tg_dataset *test,
                           bool batchnorm, double lr, const char *graph_path, tg_bn_run *run, char *description,
                           size_t size) {
    memset(run, 0, sizeof *run);
    run->batchnorm = batchnorm;
    run->lr = lr;
    run->epochs_to_target = -1;
    run->seconds_to_target = NAN;
    for (int e = 0; e <= TG_BN_LESSON_MAX_EPOCHS; e++) {
        run->test_accuracy[e] = run->train_loss[e] = NAN;
        for (int k = 0; k <= TG_BN_LESSON_MAX_DEPTH; k++) {
            run->grad_norm[e][k] = NAN;
            if (k < TG_BN_LESSON_MAX_DEPTH) run->unit_mean[e][k] = run->unit_std[e][k] = run->drift[e][k] = NAN;
        }
    }
    tg_mlp_opts mo = {.inputs = tg_dataset_features(train), .n_hidden = (int)o->depth,
                      .outputs = tg_dataset_classes(train), .activation = o->activation, .batchnorm = batchnorm,
                      .dtype = TG_F32};
    for (int k = 0; k < mo.n_hidden; k++) mo.hidden[k] = o->width;
    tg_model *model = tg_mlp_new(&mo, o->seed);
    tg_optim *opt = model ? tg_sgd_new(model->params, (tg_sgd_opts){.lr = lr, .momentum = o->momentum}) : NULL;
    size_t cells = (size_t)(o->depth * o->width);
    char title[256];
    inside_watch w = {.run = run, .depth = (int)o->depth, .width = o->width, .graph_path = graph_path,
                      .title = title, .mean_sum = calloc(cells, sizeof(double)),
                      .std_sum = calloc(cells, sizeof(double)), .previous = calloc(cells, sizeof(double)),
                      .unit_mean = calloc((size_t)o->width, sizeof(double)),
                      .unit_std = calloc((size_t)o->width, sizeof(double))};
    tg_fit_opts fit = {.epochs = o->epochs, .batch_size = o->batch, .seed = o->seed, .stop = &w.stop,
                       .progress = watch, .progress_user = &w};
    tg_tape *t = tg_tape_new();
    tg_status st = TG_OK;
    tg_trainer *tr = NULL;
    if (!opt || !t || !w.mean_sum || !w.std_sum || !w.previous || !w.unit_mean || !w.unit_std ||
        !(tr = tg_trainer_new(model, opt, train, test, &fit))) {
        st = tg_last_status() ? tg_last_status() : TG_ERR_NOMEM;
        goto done;
    }
    snprintf(description, size, "%s", model->description);
    snprintf(title, sizeof title, "%s, lr %g: the first step, gradient heat", model->description, lr);
    tg_evaluation before;
    if ((st = tg_evaluate(model, test, TG_F32, 1000, t, &before))) goto done;
    run->test_accuracy[0] = before.accuracy;
    tg_confusion_free(&before.confusion);
    if (!(st = tg_trainer_fit(tr))) st = w.status;
    if (st) goto done;
    run->best_accuracy = run->final_accuracy = NAN;
    for (int64_t e = 1; e <= run->epochs_run; e++) {
        double a = run->test_accuracy[e];
        if (!(a <= run->best_accuracy)) run->best_accuracy = a;
        if (run->epochs_to_target < 0 && a >= o->target) {
            run->epochs_to_target = e;
            run->seconds_to_target = run->seconds[e];
        }
    }
    if (run->epochs_run) run->final_accuracy = run->test_accuracy[run->epochs_run];
done:
    tg_trainer_free(tr);
    tg_tape_free(t);
    free(w.mean_sum);
    free(w.std_sum);
    free(w.previous);
    free(w.unit_mean);
    free(w.unit_std);
    tg_optim_free(opt);
    tg_model_free(model);
    return st;
}

static tg_status check_opts(const tg_lesson_bn_opts *o) {
    const char *who = "tg_lesson_bn_run";
    if (o->depth < 1 || o->depth > TG_BN_LESSON_MAX_DEPTH || o->width < 1 || o->width > TG_BN_LESSON_MAX_WIDTH)
        return tg_set_error(TG_ERR_ARG, "%s: depth %lld (1 to %d), width %lld (1 to %d)", who, (long long)o->depth,
                            TG_BN_LESSON_MAX_DEPTH, (long long)o->width, TG_BN_LESSON_MAX_WIDTH);
    if (o->epochs < 1 || o->epochs > TG_BN_LESSON_MAX_EPOCHS || o->batch < 2 || o->samples < 20)
        return tg_set_error(TG_ERR_ARG, "%s: epochs %lld (1 to %d), batch %lld (2 or more: batchnorm needs a batch), "
                            "samples %lld (20 or more)", who, (long long)o->epochs, TG_BN_LESSON_MAX_EPOCHS,
                            (long long)o->batch, (long long)o->samples);
    if (!(o->lr > 0) || !(o->high_lr > 0) || !isfinite(o->lr) || !isfinite(o->high_lr) || !(o->momentum >= 0) ||
        !(o->momentum < 1) || !(o->target > 0) || !(o->target <= 1))
        return tg_set_error(TG_ERR_ARG, "%s: lr %g and high_lr %g (> 0), momentum %g (in [0, 1)), target %g (in (0, 1])",
                            who, o->lr, o->high_lr, o->momentum, o->target);
    if ((unsigned)o->activation > TG_ACT_LEAKY_RELU)
        return tg_set_error(TG_ERR_ARG, "%s: unknown activation %d", who, (int)o->activation);
    return TG_OK;
}

tg_status tg_lesson_bn_run(const tg_lesson_bn_opts *o, tg_lesson_bn_result *r) {
    if (!o || !r) return tg_set_error(TG_ERR_ARG, "tg_lesson_bn_run: options or result is NULL");
    tg_status st = check_opts(o);
    if (st) return st;
    memset(r, 0, sizeof *r);
    r->opts = *o;
    tg_dataset *train, *test;
    if ((st = tg_lesson_data("spiral", o->samples, 0.2, o->seed, &train, &test))) return st;
    r->train_samples = tg_dataset_len(train);
    r->test_samples = tg_dataset_len(test);
    const bool batchnorm[TG_BN_RUNS] = {false, true, false, true};
    const double lr[TG_BN_RUNS] = {o->lr, o->lr, o->high_lr, o->high_lr};
    const char *graph[TG_BN_RUNS] = {o->graph_plain, o->graph_batchnorm, NULL, NULL};
    for (int i = 0; i < TG_BN_RUNS && !st; i++)
        st = train_one(o, train, test, batchnorm[i], lr[i], graph[i], &r->runs[i], r->description[i],
                       sizeof r->description[i]);
    tg_dataset_free(train);
    tg_dataset_free(test);
    return st;
}

/* ---- the tables and the reading ---- */

static const char *run_name(const tg_bn_run *run) { return run->batchnorm ? "batchnorm" : "plain"; }

void tg_lesson_bn_print(FILE *out, const tg_lesson_bn_result *r) {
    if (!out || !r) return;
    const tg_lesson_bn_opts *o = &r->opts;
    const tg_bn_run *plain = &r->runs[TG_BN_PLAIN], *bn = &r->runs[TG_BN_BATCHNORM];
    fprintf(out,
            "%s against %s\non the spiral (%lld training, %lld held-out samples), SGD momentum %g, batch %lld, "
            "%lld epochs;\ntarget: %.0f%% held-out accuracy (chance: 33%%)\n\n",
            r->description[TG_BN_PLAIN], r->description[TG_BN_BATCHNORM], (long long)r->train_samples,
            (long long)r->test_samples, o->momentum, (long long)o->batch, (long long)o->epochs, 100 * o->target);
    fprintf(out, "  %-10s %6s %14s %9s %10s %10s %11s\n", "model", "lr", "epochs to", "seconds", "final", "best",
            "final loss");
    fprintf(out, "  %-10s %6s %14s %9s %10s %10s %11s\n", "", "", "target", "to it", "accuracy", "accuracy", "");
    for (int i = 0; i < TG_BN_RUNS; i++) {
        const tg_bn_run *run = &r->runs[i];
        char when[32], seconds[16];
        if (run->diverged_at)
            snprintf(when, sizeof when, "diverged (%lld)", (long long)run->diverged_at);
        else if (run->epochs_to_target < 0)
            snprintf(when, sizeof when, "not reached");
        else
            snprintf(when, sizeof when, "%lld", (long long)run->epochs_to_target);
        snprintf(seconds, sizeof seconds, isfinite(run->seconds_to_target) ? "%.2f" : "-", run->seconds_to_target);
        fprintf(out, "  %-10s %6g %14s %9s %9.2f%% %9.2f%% %11.4f\n", run_name(run), run->lr, when, seconds,
                100 * run->final_accuracy, 100 * run->best_accuracy, run->train_loss[run->epochs_run]);
    }
    int64_t last = plain->epochs_run < bn->epochs_run ? plain->epochs_run : bn->epochs_run;
    fprintf(out,
            "\n  inside, at lr %g: |grad| = |dL/d fc<k>.weight| (mean over epoch 1's steps); a layer's outputs per\n"
            "  unit over a batch: std (epoch 1), drift = RMS change of the unit means from one epoch to the next\n"
            "  (mean over epochs 2-%lld)\n\n",
            o->lr, (long long)last);
    fprintf(out, "  %-6s %11s %11s %11s %11s %11s %11s\n", "layer", "|grad|", "|grad|", "std", "std", "drift",
            "drift");
    fprintf(out, "  %-6s %11s %11s %11s %11s %11s %11s\n", "", "plain", "batchnorm", "plain", "batchnorm", "plain",
            "batchnorm");
    for (int k = 0; k <= o->depth; k++) {
        if (k < o->depth)
            fprintf(out, "  %-6d %11.3g %11.3g %11.3g %11.3g %11.3g %11.3g\n", k + 1, plain->grad_norm[1][k],
                    bn->grad_norm[1][k], plain->unit_std[1][k], bn->unit_std[1][k], tg_bn_mean_drift(plain, k),
                    tg_bn_mean_drift(bn, k));
        else
            fprintf(out, "  %-6s %11.3g %11.3g\n", "output", plain->grad_norm[1][k], bn->grad_norm[1][k]);
    }

    int d = (int)o->depth;
    double plain_ratio = plain->grad_norm[1][0] / plain->grad_norm[1][d],
           bn_ratio = bn->grad_norm[1][0] / bn->grad_norm[1][d];
    tg_paragraph p = {.len = 0};
    tg_paragraph_add(&p, "At lr %g", o->lr);
    if (plain->epochs_to_target >= 0 && bn->epochs_to_target >= 0)
        tg_paragraph_add(&p, " both models reach %.0f%%, batchnorm in %lld epoch%s (%.2f s), plain in %lld (%.2f s).",
                         100 * o->target, (long long)bn->epochs_to_target, bn->epochs_to_target == 1 ? "" : "s",
                         bn->seconds_to_target, (long long)plain->epochs_to_target, plain->seconds_to_target);
    else
        tg_paragraph_add(&p, " %s reaches %.0f%% %s%lld and %s %s.", run_name(bn), 100 * o->target,
                         bn->epochs_to_target >= 0 ? "in epoch " : "", (long long)bn->epochs_to_target,
                         run_name(plain),
                         plain->epochs_to_target >= 0 ? "does too" : "does not within the epochs");
    tg_paragraph_add(&p,
                     " Without batchnorm the gradient fades on its way back to the input: in epoch 1 the first "
                     "layer's weight gradient is %.2g times the output layer's, against %.2g with batchnorm. The "
                     "activations fade too: each unit's spread over a batch falls from %.3g in layer 1 to %.3g in "
                     "layer %d, while batchnorm holds it at %.3g to %.3g.",
                     plain_ratio, bn_ratio, plain->unit_std[1][0], plain->unit_std[1][d - 1], d, bn->unit_std[1][0],
                     bn->unit_std[1][d - 1]);
    double plain_drift = 0, bn_drift = 0;
    for (int k = 0; k < d; k++) {
        plain_drift += tg_bn_mean_drift(plain, k) / d;
        bn_drift += tg_bn_mean_drift(bn, k) / d;
    }
    if (isfinite(plain_drift) && isfinite(bn_drift))
        tg_paragraph_add(&p,
                         " Between epochs each unit's mean moves by %.3g on average without batchnorm and by %.3g "
                         "with it%s.",
                         plain_drift, bn_drift,
                         bn_drift < plain_drift
                             ? ": the next layer's inputs move less"
                             : ": batchnorm's units move more, since its layers learn faster (it steadies the scale "
                               "of each layer's inputs, not every change)");
    const tg_bn_run *ph = &r->runs[TG_BN_PLAIN_HIGH], *bh = &r->runs[TG_BN_BATCHNORM_HIGH];
    tg_paragraph_add(&p, " At lr %g", o->high_lr);
    if (ph->diverged_at)
        tg_paragraph_add(&p, " the plain model diverged at step %lld", (long long)ph->diverged_at);
    else
        tg_paragraph_add(&p, " the plain model ends at %.1f%% (best %.1f%%)", 100 * ph->final_accuracy,
                         100 * ph->best_accuracy);
    if (bh->epochs_to_target >= 0)
        tg_paragraph_add(&p, ", the batchnorm model reaches %.0f%% in epoch %lld and ends at %.1f%%.",
                         100 * o->target, (long long)bh->epochs_to_target, 100 * bh->final_accuracy);
    else
        tg_paragraph_add(&p, ", the batchnorm model ends at %.1f%% (best %.1f%%).", 100 * bh->final_accuracy,
                         100 * bh->best_accuracy);
    fputc('\n', out);
    tg_paragraph_print(out, &p);
}

/* ---- the picture: accuracy by epoch, gradient norm by layer, spread by layer ---- */

tg_status tg_lesson_bn_plot(const tg_lesson_bn_result *r, const char *path) {
    if (!r || !path) return tg_set_error(TG_ERR_ARG, "tg_lesson_bn_plot: result or path is NULL");
    const tg_lesson_bn_opts *o = &r->opts;
    double epochs[TG_BN_LESSON_MAX_EPOCHS + 1], layers[TG_BN_LESSON_MAX_DEPTH + 1];
    double accuracy[TG_BN_RUNS][TG_BN_LESSON_MAX_EPOCHS + 1];
    for (int e = 0; e <= TG_BN_LESSON_MAX_EPOCHS; e++) epochs[e] = e;
    for (int k = 0; k <= TG_BN_LESSON_MAX_DEPTH; k++) layers[k] = k + 1;
    char names[TG_BN_RUNS][48];
    tg_plot_series acc[TG_BN_RUNS], grads[4], spread[4];
    for (int i = 0; i < TG_BN_RUNS; i++) {
        const tg_bn_run *run = &r->runs[i];
        for (int64_t e = 0; e <= run->epochs_run; e++) accuracy[i][e] = 100 * run->test_accuracy[e];
        snprintf(names[i], sizeof names[i], "%s, lr %g", run_name(run), run->lr);
        acc[i] = (tg_plot_series){names[i], epochs, accuracy[i], run->epochs_run + 1,
                                  i < 2 ? TG_PLOT_LINE_POINTS : TG_PLOT_DASHED, i % 2 + 1};
    }
    /* epoch 1 and the last epoch, plain and batchnorm, at the shared lr */
    const tg_bn_run *plain = &r->runs[TG_BN_PLAIN], *bn = &r->runs[TG_BN_BATCHNORM];
    char late[2][48];
    snprintf(late[0], sizeof late[0], "plain, epoch %lld", (long long)plain->epochs_run);
    snprintf(late[1], sizeof late[1], "batchnorm, epoch %lld", (long long)bn->epochs_run);
    grads[0] = (tg_plot_series){"plain, epoch 1", layers, plain->grad_norm[1], o->depth + 1, TG_PLOT_LINE_POINTS, 1};
    grads[1] = (tg_plot_series){"batchnorm, epoch 1", layers, bn->grad_norm[1], o->depth + 1, TG_PLOT_LINE_POINTS, 2};
    grads[2] = (tg_plot_series){late[0], layers, plain->grad_norm[plain->epochs_run], o->depth + 1, TG_PLOT_DASHED, 1};
    grads[3] = (tg_plot_series){late[1], layers, bn->grad_norm[bn->epochs_run], o->depth + 1, TG_PLOT_DASHED, 2};
    spread[0] = (tg_plot_series){"plain, epoch 1", layers, plain->unit_std[1], o->depth, TG_PLOT_LINE_POINTS, 1};
    spread[1] = (tg_plot_series){"batchnorm, epoch 1", layers, bn->unit_std[1], o->depth, TG_PLOT_LINE_POINTS, 2};
    spread[2] = (tg_plot_series){late[0], layers, plain->unit_std[plain->epochs_run], o->depth, TG_PLOT_DASHED, 1};
    spread[3] = (tg_plot_series){late[1], layers, bn->unit_std[bn->epochs_run], o->depth, TG_PLOT_DASHED, 2};
    char grad_title[64];
    snprintf(grad_title, sizeof grad_title, "|dL/dW| by layer, lr %g", o->lr);
    tg_plot_panel panels[3] = {
        {.title = "held-out accuracy", .x_label = "epoch", .y_label = "accuracy (%)", .y_min = 0, .y_max = 100,
         .series = acc, .n_series = TG_BN_RUNS},
        {.title = grad_title, .x_label = "layer (input to output)", .y_label = "gradient norm", .log_y = true,
         .series = grads, .n_series = 4},
        {.title = "each unit's spread over a batch", .x_label = "hidden layer", .y_label = "std", .log_y = true,
         .series = spread, .n_series = 4},
    };
    return tg_plot_panels(path, 3, panels);
}

/* ---- the registry entry ---- */

static void defaults(void *options) { *(tg_lesson_bn_opts *)options = tg_lesson_bn_defaults(); }

static tg_status run(const void *options, FILE *out, const char *plot_path) {
    tg_lesson_bn_opts o = *(const tg_lesson_bn_opts *)options;
    char plain[4096], batchnorm[4096];
    /* the graphs beside the picture, as SVG whatever the picture's format */
    if (plot_path && !o.graph_plain && !o.graph_batchnorm) {
        char svg[4096];
        const char *dot = strrchr(plot_path, '.');
        snprintf(svg, sizeof svg, "%.*s.svg", (int)(dot ? dot - plot_path : (long)strlen(plot_path)), plot_path);
        if (!tg_lesson_sibling_path(svg, "graph-plain", plain, sizeof plain) ||
            !tg_lesson_sibling_path(svg, "graph-batchnorm", batchnorm, sizeof batchnorm))
            return tg_set_error(TG_ERR_ARG, "lesson bn: the path '%s' is too long", plot_path);
        o.graph_plain = plain;
        o.graph_batchnorm = batchnorm;
    }
    tg_lesson_bn_result *r = malloc(sizeof *r);
    if (!r) return tg_set_error(TG_ERR_NOMEM, "lesson bn: out of memory");
    tg_status st = tg_lesson_bn_run(&o, r);
    if (!st) tg_lesson_bn_print(out, r);
    if (!st && plot_path) st = tg_lesson_bn_plot(r, plot_path);
    if (!st && out && o.graph_plain) fprintf(out, "graphs: %s, %s\n", o.graph_plain, o.graph_batchnorm);
    free(r);
    return st;
}

#define OPT(field) offsetof(tg_lesson_bn_opts, field)
static const tg_lesson_option options[] = {
    {"--seed", TG_LESSON_SEED, OPT(seed), 0, 0, "data, split, initialisation and shuffling"},
    {"--samples", TG_LESSON_INT, OPT(samples), 20, 1000000, "spiral samples (a fifth held out)"},
    {"--depth", TG_LESSON_INT, OPT(depth), 1, TG_BN_LESSON_MAX_DEPTH, "hidden layers"},
    {"--width", TG_LESSON_INT, OPT(width), 1, TG_BN_LESSON_MAX_WIDTH, "units per hidden layer"},
    {"--epochs", TG_LESSON_INT, OPT(epochs), 1, TG_BN_LESSON_MAX_EPOCHS, "epochs of each run"},
    {"--batch", TG_LESSON_INT, OPT(batch), 2, 1000000, "mini-batch size"},
    {"--lr", TG_LESSON_REAL, OPT(lr), 1e-9, 1e3, "the learning rate both models share"},
    {"--high-lr", TG_LESSON_REAL, OPT(high_lr), 1e-9, 1e3, "the higher learning rate"},
    {"--momentum", TG_LESSON_REAL, OPT(momentum), 0, 0.999, "SGD momentum"},
    {"--target", TG_LESSON_REAL, OPT(target), 0.01, 1, "held-out accuracy to reach (a fraction)"},
};

const tg_lesson tg_lesson_bn = {
    .name = "bn",
    .title = "batch normalization",
    .summary = "a deep tanh MLP with and without batchnorm: speed to a target, a higher lr, gradients and activations by layer",
    .options_size = sizeof(tg_lesson_bn_opts),
    .defaults = defaults,
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .picture_formats = ".svg .png .pdf",
    .run = run,
};
