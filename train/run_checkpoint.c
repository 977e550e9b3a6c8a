/* Run checkpoints: one checkpoint file (core/checkpoint.h) with the model's
 * parameters and buffers, the optimizer's state ("optim/..."), the mini-batch
 * iterator ("batches/...") and the run's own records:
 *   run/state     the counters, the shuffling generator and the epoch in progress (8-byte slots)
 *   run/epochs    the history, 10 doubles per epoch
 *   run/steps     every step's loss (f32)
 *   run/settings  the settings text */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checkpoint.h"
#include "optim/optim_state.h"
#include "train/trainer_private.h"

enum { RUN_FORMAT = 1, STATE_SLOTS = 16, EPOCH_FIELDS = 10 };

typedef union {
    int64_t i;
    uint64_t u;
    double d;
} slot;

static void pack_state(const tg_run_state *s, slot out[STATE_SLOTS]) {
    memset(out, 0, sizeof(slot) * STATE_SLOTS);
    out[0].i = RUN_FORMAT;
    out[1].i = s->epochs_done;
    out[2].i = s->steps;
    out[3].i = s->batches_per_epoch;
    out[4].d = s->base_lr;
    out[5].i = s->batches_done;
    out[6].i = s->seen;
    out[7].i = s->correct;
    out[8].d = s->loss_sum;
    out[9].d = s->epoch_seconds;
    for (int k = 0; k < 4; k++) out[10 + k].u = s->rng.s[k];
    out[14].d = s->rng.spare_normal;
    out[15].i = s->rng.has_spare;
}

static void unpack_state(const slot in[STATE_SLOTS], tg_run_state *s) {
    s->epochs_done = in[1].i;
    s->steps = in[2].i;
    s->batches_per_epoch = in[3].i;
    s->base_lr = in[4].d;
    s->batches_done = in[5].i;
    s->seen = in[6].i;
    s->correct = in[7].i;
    s->loss_sum = in[8].d;
    s->epoch_seconds = in[9].d;
    for (int k = 0; k < 4; k++) s->rng.s[k] = in[10 + k].u;
    s->rng.spare_normal = in[14].d;
    s->rng.has_spare = (int)in[15].i;
}

static void pack_epoch(const tg_epoch_metrics *m, double out[EPOCH_FIELDS]) {
    double v[EPOCH_FIELDS] = {(double)m->epoch,     (double)m->steps,  m->lr,          m->train_loss,
                              m->train_accuracy,    m->test_loss,      m->test_accuracy, m->train_seconds,
                              m->eval_seconds,      m->samples_per_second};
    memcpy(out, v, sizeof v);
}

static tg_epoch_metrics unpack_epoch(const double v[EPOCH_FIELDS]) {
    return (tg_epoch_metrics){(int64_t)v[0], (int64_t)v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]};
}

/* Writes the run checkpoint from this process. */
static tg_status save(const tg_trainer *tr, const char *path) {
    const char *who = "tg_trainer_save";
    slot state[STATE_SLOTS];
    pack_state(&tr->state, state);
    double *epochs = malloc(sizeof(double) * EPOCH_FIELDS * (size_t)(tr->history.n_epochs + 1));
    tg_checkpoint *c = tg_checkpoint_new();
    tg_status st = epochs && c ? TG_OK : tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    for (int64_t e = 0; !st && e < tr->history.n_epochs; e++) pack_epoch(&tr->history.epochs[e], epochs + e * EPOCH_FIELDS);
    const char *settings = tr->opts.settings ? tr->opts.settings : "";
    if (!st) st = tg_checkpoint_add_params(c, tr->model->params);
    if (!st) st = tg_optim_export(tr->opt, c);
    if (!st) st = tg_batches_export(tr->batches, c);
    if (!st) st = tg_checkpoint_add_bytes(c, "run/state", state, sizeof state);
    if (!st) st = tg_checkpoint_add_bytes(c, "run/epochs", epochs, sizeof(double) * EPOCH_FIELDS * (size_t)tr->history.n_epochs);
    if (!st) st = tg_checkpoint_add_bytes(c, "run/steps", tr->history.step_loss, sizeof(float) * (size_t)tr->history.n_steps);
    if (!st) st = tg_checkpoint_add_bytes(c, "run/settings", settings, strlen(settings));
    if (!st) st = tg_checkpoint_write_as(c, path, who);
    tg_checkpoint_free(c);
    free(epochs);
    return st;
}

/* Data parallel: rank 0 writes, every rank learns how it went. */
tg_status tg_trainer_save(const tg_trainer *tr, const char *path) {
    if (!tr || !path) return tg_set_error(TG_ERR_ARG, "tg_trainer_save: trainer or path is NULL");
    if (!tr->replicas) return save(tr, path);
    return tr->replicas->agree(tr->replicas->user, tr->replicas->rank == 0 ? save(tr, path) : TG_OK);
}

/* The run's own records, checked; history arrays malloc'd into *h. */
static tg_status read_run(const char *who, const tg_checkpoint *c, tg_run_state *s, tg_history *h) {
    const char *origin = tg_checkpoint_origin(c);
    slot state[STATE_SLOTS];
    if (tg_checkpoint_get_bytes(c, "run/state", state, sizeof state))
        return tg_set_error(TG_ERR_FORMAT, "%s: '%s' is not a run checkpoint of this version (no run/state)", who,
                            origin);
    if (state[0].i != RUN_FORMAT)
        return tg_set_error(TG_ERR_FORMAT, "%s: '%s' has run format %lld, this build reads %d", who, origin,
                            (long long)state[0].i, RUN_FORMAT);
    unpack_state(state, s);
    const tg_record *epochs = tg_checkpoint_find(c, "run/epochs"), *steps = tg_checkpoint_find(c, "run/steps");
    if (!epochs || !steps || epochs->kind != TG_RECORD_BYTES || steps->kind != TG_RECORD_BYTES ||
        epochs->bytes % (sizeof(double) * EPOCH_FIELDS) || steps->bytes % sizeof(float) ||
        (int64_t)(epochs->bytes / (sizeof(double) * EPOCH_FIELDS)) != s->epochs_done ||
        (int64_t)(steps->bytes / sizeof(float)) != s->steps || s->epochs_done < 0 || s->steps < 0 ||
        s->batches_done < 0 || s->batches_done > s->batches_per_epoch)
        return tg_set_error(TG_ERR_FORMAT, "%s: '%s' is corrupt (its history does not match its counters)", who,
                            origin);
    *h = (tg_history){0};
    for (int64_t e = 0; e < s->epochs_done; e++) {
        double v[EPOCH_FIELDS];
        memcpy(v, (const char *)epochs->data + e * (int64_t)sizeof v, sizeof v);
        tg_epoch_metrics m = unpack_epoch(v);
        if (tg_history_add_epoch(h, &m)) goto nomem;
    }
    for (int64_t k = 0; k < s->steps; k++) {
        float loss;
        memcpy(&loss, (const char *)steps->data + k * (int64_t)sizeof loss, sizeof loss);
        if (tg_history_add_step(h, loss)) goto nomem;
    }
    return TG_OK;
nomem:
    tg_history_free(h);
    return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
}

tg_status tg_trainer_resume(tg_trainer *tr, const char *path) {
    const char *who = "tg_trainer_resume";
    if (!tr || !path) return tg_set_error(TG_ERR_ARG, "%s: trainer or path is NULL", who);
    tg_checkpoint *c = tg_checkpoint_read_as(path, who);
    tg_run_state s = tr->state;
    tg_history h = {0};
    tg_status st = c ? read_run(who, c, &s, &h) : tg_last_status();
    if (!st && s.batches_per_epoch != tr->state.batches_per_epoch)
        st = tg_set_error(TG_ERR_STATE,
                          "%s: '%s' was made with %lld batches per epoch, this run has %lld (another data set "
                          "size or batch size)",
                          who, path, (long long)s.batches_per_epoch, (long long)tr->state.batches_per_epoch);
    /* check everything, then change everything */
    if (!st) st = tg_params_check_checkpoint(tr->model->params, c, true);
    if (!st) st = tg_optim_check_import(tr->opt, c);
    if (!st) st = tg_batches_check_import(tr->batches, c);
    if (tr->replicas) st = tr->replicas->agree(tr->replicas->user, st); /* every rank loads, or none */
    if (!st) st = tg_params_load_checkpoint(tr->model->params, c, true, NULL);
    if (!st) st = tg_optim_import(tr->opt, c);
    if (!st) st = tg_batches_import(tr->batches, c);
    tg_checkpoint_free(c);
    if (st) {
        tg_history_free(&h);
        /* named already, or agreed over ranks ("rank 1 of 2: ...") */
        if (strncmp(tg_last_error(), who, strlen(who)) == 0 || strncmp(tg_last_error(), "rank ", 5) == 0) return st;
        char why[900]; /* copied: tg_last_error() is about to be rewritten */
        snprintf(why, sizeof why, "%s", tg_last_error());
        return tg_set_error(st, "%s: %s", who, why);
    }
    tr->state = s;
    tg_history_free(&tr->history);
    tr->history = h;
    tr->last_lr = s.steps ? tg_trainer_lr_at(tr, s.steps - 1) : s.base_lr;
    return TG_OK;
}

tg_status tg_run_settings(const char *path, char *out, size_t size) {
    const char *who = "tg_run_settings";
    if (!path || !out || size == 0) return tg_set_error(TG_ERR_ARG, "%s: NULL argument", who);
    tg_checkpoint *c = tg_checkpoint_read_as(path, who);
    if (!c) return tg_last_status();
    const tg_record *r = tg_checkpoint_find(c, "run/settings");
    tg_status st = TG_OK;
    if (!r || r->kind != TG_RECORD_BYTES)
        st = tg_set_error(TG_ERR_FORMAT, "%s: '%s' is not a run checkpoint (no run/settings)", who, path);
    else if (r->bytes >= size)
        st = tg_set_error(TG_ERR_ARG, "%s: the settings of '%s' need %zu bytes", who, path, r->bytes + 1);
    else {
        memcpy(out, r->data, r->bytes);
        out[r->bytes] = '\0';
    }
    tg_checkpoint_free(c);
    return st;
}
