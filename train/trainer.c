/* The training loop (see trainer.h); run checkpoints are in run_checkpoint.c. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "train/trainer_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "graph/backward.h"
#include "ops/elementwise.h"
#include "ops/fusion.h"
#include "ops/loss.h"
#include "ops/nn.h"
#include "optim/schedule.h"

double tg_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static tg_status check_opts(const tg_fit_opts *o) {
    const char *who = "tg_trainer_new";
    if (o->epochs < 1) return tg_set_error(TG_ERR_ARG, "%s: epochs %lld must be >= 1", who, (long long)o->epochs);
    if (o->batch_size < 1)
        return tg_set_error(TG_ERR_ARG, "%s: batch_size %lld must be >= 1", who, (long long)o->batch_size);
    if (!(o->l2 >= 0) || !isfinite(o->l2)) return tg_set_error(TG_ERR_ARG, "%s: l2 %g must be finite and >= 0", who, o->l2);
    if (o->eval_batch_size < 0 || o->max_steps < 0)
        return tg_set_error(TG_ERR_ARG, "%s: eval_batch_size and max_steps must be >= 0", who);
    if (o->dtype != TG_F32 && o->dtype != TG_F64) return tg_set_error(TG_ERR_DTYPE, "%s: unknown dtype", who);
    const tg_lr_schedule *s = &o->schedule;
    if ((unsigned)s->kind > TG_LR_STEP || s->warmup_steps < 0 || !(s->min_lr >= 0) ||
        (s->kind == TG_LR_STEP && (s->step_epochs < 1 || !(s->gamma > 0) || !isfinite(s->gamma))))
        return tg_set_error(TG_ERR_ARG,
                            "%s: bad learning-rate schedule (kind %d, min_lr %g, step_epochs %lld, gamma %g, "
                            "warmup_steps %lld)",
                            who, (int)s->kind, s->min_lr, (long long)s->step_epochs, s->gamma,
                            (long long)s->warmup_steps);
    return TG_OK;
}

/* The model's outputs for a data set: classes or targets. */
static int64_t outputs_needed(const tg_dataset *ds) {
    return tg_dataset_task(ds) == TG_TASK_CLASSIFICATION ? tg_dataset_classes(ds) : tg_dataset_targets(ds);
}

static tg_status check_data(const tg_dataset *train, const tg_dataset *test) {
    if (!train) return tg_set_error(TG_ERR_ARG, "tg_trainer_new: training set is NULL");
    if (tg_dataset_len(train) < 1) return tg_set_error(TG_ERR_ARG, "tg_trainer_new: the training set is empty");
    if (test && (tg_dataset_task(test) != tg_dataset_task(train) ||
                 tg_dataset_features(test) != tg_dataset_features(train) ||
                 outputs_needed(test) > outputs_needed(train)))
        return tg_set_error(TG_ERR_SHAPE,
                            "tg_trainer_new: the evaluation set '%s' (%lld features) does not match the training "
                            "set '%s' (%lld features)",
                            tg_dataset_name(test), (long long)tg_dataset_features(test), tg_dataset_name(train),
                            (long long)tg_dataset_features(train));
    return TG_OK;
}

tg_trainer *tg_trainer_new(tg_model *model, tg_optim *opt, const tg_dataset *train, const tg_dataset *test,
                           const tg_fit_opts *opts) {
    if (!model || !opt || !opts) {
        tg_set_error(TG_ERR_ARG, "tg_trainer_new: model, optimizer or options are NULL");
        return NULL;
    }
    if (check_opts(opts) || check_data(train, test)) return NULL;
    tg_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) {
        tg_set_error(TG_ERR_NOMEM, "tg_trainer_new: out of memory");
        return NULL;
    }
    tr->model = model;
    tr->opt = opt;
    tr->train = train;
    tr->test = test;
    tr->opts = *opts;
    if (!tr->opts.eval_batch_size) tr->opts.eval_batch_size = 1000;
    tr->classification = tg_dataset_task(train) == TG_TASK_CLASSIFICATION;
    tr->state.base_lr = tg_optim_lr(opt);
    tr->state.rng = tg_rng_new(opts->seed);
    tr->tape = tg_tape_new();
    tr->batches = tg_batches_new(tg_dataset_len(train), opts->batch_size, opts->drop_last, &tr->state.rng);
    if (!tr->tape || !tr->batches) {
        tg_trainer_free(tr);
        return NULL;
    }
    tr->state.batches_per_epoch = tg_batches_per_epoch(tr->batches);
    const tg_replicas *r = opts->replicas;
    if (r && r->size > 1) {
        if (!r->sum || !r->agree || !r->broadcast_params || !r->average_grads || r->rank < 0 || r->rank >= r->size) {
            tg_set_error(TG_ERR_ARG, "tg_trainer_new: the replicas are incomplete (rank %d of %d)", r->rank, r->size);
            tg_trainer_free(tr);
            return NULL;
        }
        if (tg_batches_shard(tr->batches, r->rank, r->size)) {
            char why[600];
            snprintf(why, sizeof why, "%s", tg_last_error());
            tg_set_error(TG_ERR_ARG, "tg_trainer_new: %s", why);
            tg_trainer_free(tr);
            return NULL;
        }
        tr->replicas = r;
    }
    return tr;
}

void tg_trainer_free(tg_trainer *tr) {
    if (!tr) return;
    tg_tape_free(tr->tape);
    tg_batches_free(tr->batches);
    tg_history_free(&tr->history);
    free(tr);
}

bool tg_trainer_finished(const tg_trainer *tr) { return tr && tr->state.epochs_done >= tr->opts.epochs; }
int64_t tg_trainer_epochs_done(const tg_trainer *tr) { return tr ? tr->state.epochs_done : 0; }
int64_t tg_trainer_steps(const tg_trainer *tr) { return tr ? tr->state.steps : 0; }
const tg_history *tg_trainer_history(const tg_trainer *tr) { return tr ? &tr->history : NULL; }

/* The learning rate of step `step` (0-based) */
double tg_trainer_lr_at(const tg_trainer *tr, int64_t step) {
    const tg_lr_schedule *s = &tr->opts.schedule;
    double base = tr->state.base_lr, lr = base;
    int64_t total = tr->opts.epochs * tr->state.batches_per_epoch;
    switch (s->kind) {
    case TG_LR_CONSTANT: break;
    case TG_LR_COSINE: lr = tg_lr_cosine(base, s->min_lr, step, total); break;
    case TG_LR_STEP: lr = tg_lr_step_decay(base, step, s->step_epochs * tr->state.batches_per_epoch, s->gamma); break;
    }
    if (step < s->warmup_steps) lr = lr * (double)(step + 1) / (double)s->warmup_steps;
    return lr;
}

/* Rows of logits [N,C] whose first maximum is the label */
static int64_t count_correct(const tg_tensor *logits, const int64_t *labels) {
    int64_t n = logits->shape[0], k = logits->shape[1], right = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (tg_get(logits, i * k + j) > tg_get(logits, i * k + best)) best = j;
        right += best == labels[i];
    }
    return right;
}

static tg_tensor *data_loss(tg_tape *t, bool classification, tg_tensor *out, const tg_batch *b) {
    return classification ? tg_cross_entropy(t, out, b->count, b->labels) : tg_mse(t, out, b->targets);
}

static tg_status tape_error(tg_tape *t, const char *where) {
    tg_status st = tg_tape_status(t);
    return tg_set_error(st ? st : TG_ERR_STATE, "tg_trainer_fit: %s: %s", where,
                        st ? tg_tape_error(t) : tg_last_error());
}

/* Data parallel: every rank's outcome of a part of the step (one message for all) */
static tg_status agree(tg_trainer *tr, tg_status local) {
    return tr->replicas ? tr->replicas->agree(tr->replicas->user, local) : local;
}

/* This rank's share of the loss's gradient: the global loss is
 * sum_r (count_r / global) loss_r and the ranks' gradients are averaged
 * (divided by size), so rank r seeds backward with count_r size / global
 * (1 when the shares are equal). */
static tg_status backward(tg_trainer *tr, tg_tensor *loss, int64_t count, int64_t global) {
    double seed = tr->replicas ? (double)count * tr->replicas->size / (double)global : 1.0;
    if (seed == 1.0) return tg_backward(tr->tape, loss, NULL);
    tg_tensor *g = tg_full(tr->tape, loss->dtype, loss->ndim, loss->shape, seed);
    return g ? tg_backward(tr->tape, loss, &(tg_backward_opts){.grad_output = g}) : tg_tape_status(tr->tape);
}

/* One optimizer step on the batch `indices` (data parallel: this rank's
 * share of a batch of `global` samples). */
static tg_status train_step(tg_trainer *tr, const int64_t *indices, int64_t count, int64_t global) {
    tg_tape *t = tr->tape;
    tg_tape_reset(t);
    tg_batch batch;
    tg_status st = tg_dataset_gather(t, tr->train, tr->opts.dtype, count, indices, &batch);
    if (agree(tr, st ? tape_error(t, "gather") : TG_OK)) return tg_last_status();
    /* the next batch's samples come from memory while this one computes (a
     * hint: its indices are the iterator's, in range) */
    const int64_t *next;
    int64_t next_count;
    if (tg_batches_peek(tr->batches, &next, &next_count)) (void)tg_dataset_prefetch(tr->train, next_count, next);
    /* the forward pass and the loss as one fusion scope (ops/fusion.h): the
     * pointwise ops between two matmuls run as one pass */
    tg_fuse_begin(t);
    tg_tensor *out = tr->model->forward(t, tr->model, batch.x, true);
    tg_tensor *loss = data_loss(t, tr->classification, out, &batch);
    if (loss && tr->opts.l2 > 0) loss = tg_add(t, loss, tg_l2_penalty(t, tr->model->params, tr->opts.l2));
    if (tg_fuse_end(t, loss ? 2 : 0, (tg_tensor *[]){loss, out})) loss = NULL;
    /* the step's loss, accuracy and stop requests over every rank; the sum
     * also tells every rank whether one failed */
    double totals[3] = {loss ? (double)count * tg_item(loss) : 0,
                        loss && tr->classification ? (double)count_correct(out, batch.labels) : 0,
                        tr->opts.stop && *tr->opts.stop ? 1 : 0};
    if (tr->replicas) {
        st = tr->replicas->sum(tr->replicas->user, TG_F64, totals, 3, !loss);
        if (st) return agree(tr, loss ? st : tape_error(t, "forward"));
        tr->stop_agreed = totals[2] > 0;
    } else if (!loss) {
        return tape_error(t, "forward");
    }
    tg_set_grad_to_none(tr->model->params); /* the first gradient is written, not added to zeros */
    st = backward(tr, loss, count, global) ? tape_error(t, "backward") : TG_OK;
    if (tr->replicas && !(st = agree(tr, st))) st = tr->replicas->average_grads(tr->replicas->user, tr->model->params);
    if (st) return st;
    double lr = tg_trainer_lr_at(tr, tr->state.steps);
    if (tg_optim_set_lr(tr->opt, lr) || tg_optim_step(tr->opt)) return tape_error(t, "optimizer step");
    double value = tr->replicas ? totals[0] / (double)global : tg_item(loss);
    tr->state.steps++;
    tr->state.loss_sum += value;
    tr->state.seen += global;
    tr->state.batches_done++;
    tr->state.correct += (int64_t)totals[1];
    tr->last_lr = lr;
    tr->last_outputs = out;
    tr->last_loss = loss;
    if (!tr->replicas || tr->replicas->rank == 0)
        tg_log_step(tr->opts.log, tr->state.epochs_done + 1, tr->state.steps, lr, value);
    return tg_history_add_step(&tr->history, value);
}

tg_status tg_evaluate(tg_model *model, const tg_dataset *ds, tg_dtype dtype, int64_t batch_size, tg_tape *t,
                      tg_evaluation *out) {
    const char *who = "tg_evaluate";
    if (!model || !ds || !t || !out || batch_size < 1)
        return tg_set_error(TG_ERR_ARG, "%s: NULL argument or batch size < 1", who);
    bool classification = tg_dataset_task(ds) == TG_TASK_CLASSIFICATION;
    *out = (tg_evaluation){.accuracy = NAN};
    if (classification && tg_confusion_init(&out->confusion, tg_dataset_classes(ds))) return tg_last_status();
    int64_t n = tg_dataset_len(ds);
    int64_t *indices = malloc(sizeof *indices * (size_t)(batch_size < n ? batch_size : (n ? n : 1)));
    if (!indices) {
        tg_confusion_free(&out->confusion);
        return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    }
    double loss_sum = 0;
    tg_status st = TG_OK;
    for (int64_t start = 0; start < n && !st; start += batch_size) {
        int64_t count = n - start < batch_size ? n - start : batch_size;
        for (int64_t i = 0; i < count; i++) indices[i] = start + i;
        tg_tape_reset(t);
        tg_tape_set_grad_enabled(t, false);
        tg_batch batch;
        tg_tensor *loss = NULL, *logits = NULL;
        if (!tg_dataset_gather(t, ds, dtype, count, indices, &batch)) {
            tg_fuse_begin(t);
            logits = model->forward(t, model, batch.x, false);
            loss = data_loss(t, classification, logits, &batch);
            if (tg_fuse_end(t, loss ? 2 : 0, (tg_tensor *[]){loss, logits})) loss = NULL;
        }
        if (!loss) {
            st = tg_set_error(tg_tape_status(t) ? tg_tape_status(t) : TG_ERR_STATE, "%s: %s", who, tg_tape_error(t));
            break;
        }
        loss_sum += tg_item(loss) * (double)count;
        if (classification) st = tg_confusion_add(&out->confusion, logits, batch.labels);
    }
    tg_tape_reset(t);
    free(indices);
    if (st) {
        tg_confusion_free(&out->confusion);
        return st;
    }
    out->samples = n;
    out->loss = n ? loss_sum / (double)n : NAN;
    if (classification) out->accuracy = tg_confusion_accuracy(&out->confusion);
    return TG_OK;
}

static void report_progress(tg_trainer *tr, bool epoch_end, double epoch_start, const tg_epoch_metrics *m) {
    if (!tr->opts.progress || (tr->replicas && tr->replicas->rank != 0)) return;
    double elapsed = tg_now_seconds() - epoch_start + tr->state.epoch_seconds;
    int64_t done = tr->state.batches_done, total = tr->state.batches_per_epoch;
    tg_progress p = {.epoch_end = epoch_end,
                     .epoch = tr->state.epochs_done + (epoch_end ? 0 : 1),
                     .epochs = tr->opts.epochs,
                     .batch = done,
                     .batches = total,
                     .step = tr->state.steps,
                     .loss = done ? tr->state.loss_sum / (double)done : NAN,
                     .lr = tr->last_lr,
                     .samples_per_second = elapsed > 0 ? (double)tr->state.seen / elapsed : 0,
                     .eta_seconds = done ? elapsed / (double)done * (double)(total - done) : NAN,
                     .metrics = m,
                     .data_name = tg_dataset_name(tr->train),
                     .model_name = tr->model->description};
    if (!epoch_end) {
        p.tape = tr->tape;
        p.step_outputs = tr->last_outputs;
        p.step_loss = tr->last_loss;
        p.model = tr->model;
    }
    tr->opts.progress(&p, tr->opts.progress_user);
}

/* Closes an epoch: evaluation, history, log, progress, checkpoint. */
static tg_status finish_epoch(tg_trainer *tr, double epoch_start) {
    double train_seconds = tg_now_seconds() - epoch_start + tr->state.epoch_seconds;
    tg_epoch_metrics m = {.epoch = tr->state.epochs_done + 1,
                          .steps = tr->state.steps,
                          .lr = tr->last_lr,
                          .train_loss = tr->state.batches_done ? tr->state.loss_sum / (double)tr->state.batches_done : NAN,
                          .train_accuracy = tr->classification && tr->state.seen
                                                ? (double)tr->state.correct / (double)tr->state.seen
                                                : NAN,
                          .test_loss = NAN,
                          .test_accuracy = NAN,
                          .train_seconds = train_seconds,
                          .samples_per_second = train_seconds > 0 ? (double)tr->state.seen / train_seconds : 0};
    if (tr->test) {
        double start = tg_now_seconds();
        tg_evaluation e;
        tg_status st = tg_evaluate(tr->model, tr->test, tr->opts.dtype, tr->opts.eval_batch_size, tr->tape, &e);
        if (st) return st;
        m.test_loss = e.loss;
        m.test_accuracy = e.accuracy;
        m.eval_seconds = tg_now_seconds() - start;
        tg_confusion_free(&e.confusion);
    }
    tr->state.epochs_done++;
    tr->state.loss_sum = 0;
    tr->state.seen = tr->state.correct = tr->state.batches_done = 0;
    tr->state.epoch_seconds = 0;
    tg_status st = tg_history_add_epoch(&tr->history, &m);
    if (st) return st;
    if (tr->opts.log && (!tr->replicas || tr->replicas->rank == 0)) {
        tg_log_epoch(tr->opts.log, &m);
        fflush(tr->opts.log);
    }
    report_progress(tr, true, tg_now_seconds(), &m);
    return tr->opts.checkpoint_path ? tg_trainer_save(tr, tr->opts.checkpoint_path) : TG_OK;
}

/* A stop request: this process's flag, or data parallel the flag any rank raised during the last step */
static bool stop_requested(const tg_trainer *tr) {
    return tr->replicas ? tr->stop_agreed : tr->opts.stop && *tr->opts.stop;
}

tg_status tg_trainer_fit(tg_trainer *tr) {
    if (!tr) return tg_set_error(TG_ERR_ARG, "tg_trainer_fit: trainer is NULL");
    tr->stopped = false;
    tr->stop_agreed = false;
    if (tr->replicas && tr->replicas->broadcast_params(tr->replicas->user, tr->model->params)) {
        char why[900];
        snprintf(why, sizeof why, "%s", tg_last_error());
        return tg_set_error(tg_last_status(), "tg_trainer_fit: %s", why);
    }
    while (tr->state.epochs_done < tr->opts.epochs) {
        double epoch_start = tg_now_seconds();
        const int64_t *indices;
        int64_t count;
        while (tg_batches_next(tr->batches, &indices, &count)) {
            tg_status st = train_step(tr, indices, count, tg_batches_last_size(tr->batches));
            if (st) return st;
            report_progress(tr, false, epoch_start, NULL);
            bool limit = tr->opts.max_steps && tr->state.steps >= tr->opts.max_steps;
            if ((limit || stop_requested(tr)) && tr->state.batches_done < tr->state.batches_per_epoch) {
                tr->stopped = true;
                tr->state.epoch_seconds += tg_now_seconds() - epoch_start;
                return tr->opts.checkpoint_path ? tg_trainer_save(tr, tr->opts.checkpoint_path) : TG_OK;
            }
        }
        tg_status st = finish_epoch(tr, epoch_start);
        if (st) return st;
        if ((tr->opts.max_steps && tr->state.steps >= tr->opts.max_steps) || stop_requested(tr)) {
            tr->stopped = !tg_trainer_finished(tr);
            return TG_OK;
        }
    }
    return TG_OK;
}

bool tg_trainer_stopped(const tg_trainer *tr) { return tr && tr->stopped; }
