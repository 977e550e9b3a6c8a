/* The optimizer interface: creation, the step (every parameter in one
 * parallel region), step counts, gradient clipping. */
#include "optim/optim_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"

tg_optim *optim_new(const char *who, const tg_optim *config, tg_params *p, optim_group g0) {
    if (!p) {
        tg_set_error(TG_ERR_ARG, "%s: parameter store is NULL", who);
        return NULL;
    }
    g0.pattern = g0.alternatives = NULL;
    if (optim_check_group(who, config, &g0)) return NULL;
    tg_optim *opt = malloc(sizeof *opt);
    optim_group *groups = malloc(sizeof *groups);
    if (!opt || !groups) {
        free(opt);
        free(groups);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
        return NULL;
    }
    *opt = (tg_optim){.rule = config->rule, .params = p, .nesterov = config->nesterov, .maximize = config->maximize,
                      .amsgrad = config->amsgrad, .decoupled_weight_decay = config->decoupled_weight_decay,
                      .n_states = config->n_states, .groups = groups, .n_groups = 1};
    groups[0] = g0;
    if (optim_sync_slots(opt)) {
        tg_optim_free(opt);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
        return NULL;
    }
    return opt;
}

void tg_optim_free(tg_optim *opt) {
    if (!opt) return;
    for (int i = 0; i < opt->n_slots; i++)
        for (int k = 0; k < OPTIM_MAX_STATES; k++) optim_state_free(opt->slots[i].state[k]);
    for (int g = 0; g < opt->n_groups; g++) {
        free(opt->groups[g].pattern);
        free(opt->groups[g].alternatives);
    }
    free(opt->groups);
    free(opt->slots);
    free(opt->tasks);
    free(opt->sizes);
    free(opt);
}

tg_status optim_sync_slots(tg_optim *opt) {
    int count = tg_params_count(opt->params);
    if (count <= opt->n_slots) return TG_OK;
    optim_slot *slots = realloc(opt->slots, sizeof *slots * (size_t)count);
    if (!slots) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", opt->rule->name);
    opt->slots = slots;
    optim_task *tasks = realloc(opt->tasks, sizeof *tasks * (size_t)count);
    if (!tasks) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", opt->rule->name);
    opt->tasks = tasks;
    int64_t *sizes = realloc(opt->sizes, sizeof *sizes * (size_t)count);
    if (!sizes) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", opt->rule->name);
    opt->sizes = sizes;
    for (int i = opt->n_slots; i < count; i++) {
        const tg_tensor *x = tg_params_at(opt->params, i);
        slots[i] = (optim_slot){.group = x->kind == TG_KIND_PARAM ? optim_group_for(opt, x->name) : -1};
    }
    opt->n_slots = count;
    return TG_OK;
}

/* Elements [begin, end) of task `task`. */
static void run_piece(void *context, int task, int64_t begin, int64_t end) {
    const tg_optim *opt = context;
    opt->rule->run[opt->tasks[task].param->dtype](&opt->tasks[task], begin, end);
}

/* Frees the states created for the first `count` tasks of a step that failed. */
static void drop_fresh_state(tg_optim *opt, int count) {
    for (int i = 0; i < count; i++) {
        if (!opt->tasks[i].fresh) continue;
        optim_slot *s = &opt->slots[opt->tasks[i].slot];
        for (int k = 0; k < opt->n_states; k++) {
            optim_state_free(s->state[k]);
            s->state[k] = NULL;
        }
    }
}

tg_status tg_optim_step(tg_optim *opt) {
    if (!opt) return tg_set_error(TG_ERR_ARG, "tg_optim_step: optimizer is NULL");
    tg_status st = optim_sync_slots(opt);
    if (st) return st;
    /* 1. tasks, and state for parameters updated for the first time: the only
     *    part that can fail, so it comes before anything changes */
    int count = 0;
    for (int i = 0; i < opt->n_slots; i++) {
        tg_tensor *w = tg_params_at(opt->params, i);
        optim_slot *s = &opt->slots[i];
        if (s->group < 0 || !w->grad) continue;
        optim_task *t = &opt->tasks[count++];
        *t = (optim_task){.param = w, .slot = i};
        if (!opt->rule->keeps_state(&opt->groups[s->group])) continue;
        for (int k = 0; k < opt->n_states; k++) {
            if (!s->state[k]) {
                s->state[k] = optim_state_new(w, opt->rule->state_names[k]);
                t->fresh = true;
                if (!s->state[k]) {
                    drop_fresh_state(opt, count);
                    return tg_set_error(TG_ERR_NOMEM, "%s: out of memory for the state of '%s'", opt->rule->name,
                                        w->name);
                }
            }
            t->state[k] = s->state[k];
        }
    }
    /* 2. count the step, work out every formula's scalars, update */
    opt->steps++;
    for (int i = 0; i < count; i++) {
        optim_task *t = &opt->tasks[i];
        optim_slot *s = &opt->slots[t->slot];
        s->steps++;
        t->sign = opt->maximize ? -1.0 : 1.0;
        opt->rule->plan(opt, &opt->groups[s->group], s, t);
        opt->sizes[i] = t->param->numel;
    }
    /* every task in one parallel region (or none for a small step) */
    tg_parallel_segments(count, opt->sizes, run_piece, opt);
    for (int i = 0; i < count; i++) tg_tensor_bump_version(opt->tasks[i].param);
    return TG_OK;
}

int64_t tg_optim_steps(const tg_optim *opt) { return opt ? opt->steps : 0; }

int optim_param_index(const char *who, const tg_optim *opt, const char *name) {
    if (!opt || !name) {
        tg_set_error(TG_ERR_ARG, "%s: optimizer or parameter name is NULL", who);
        return -1;
    }
    for (int i = 0; i < tg_params_count(opt->params); i++) {
        const tg_tensor *x = tg_params_at(opt->params, i);
        if (strcmp(x->name, name) == 0) {
            if (x->kind == TG_KIND_PARAM) return i;
            tg_set_error(TG_ERR_ARG, "%s: '%s' is a buffer, not a trainable parameter", who, name);
            return -1;
        }
    }
    tg_set_error(TG_ERR_ARG, "%s: the store has no parameter '%s'", who, name);
    return -1;
}

int64_t tg_optim_param_steps(const tg_optim *opt, const char *param_name) {
    int i = optim_param_index("tg_optim_param_steps", opt, param_name);
    if (i < 0) return -1;
    return i < opt->n_slots ? opt->slots[i].steps : 0;
}

/* sum of v^2 over one gradient in double: 16 lanes (vectorised), then the
 * lanes and the tail in order, so the same bits whatever the thread count */
#define SUM_OF_SQUARES(NAME, T)                                        \
    static double NAME(const T *v, int64_t n) {                        \
        enum { L = 16 };                                               \
        double acc[L] = {0}, s = 0;                                    \
        int64_t i = 0;                                                 \
        for (; i + L <= n; i += L)                                     \
            for (int k = 0; k < L; k++) acc[k] += (double)v[i + k] * (double)v[i + k]; \
        for (int k = 0; k < L; k++) s += acc[k];                       \
        for (; i < n; i++) s += (double)v[i] * (double)v[i];           \
        return s;                                                      \
    }
SUM_OF_SQUARES(sum_of_squares_f32, float)
SUM_OF_SQUARES(sum_of_squares_f64, double)

static void scale_piece(void *context, int index, tg_tensor *param, int64_t begin, int64_t end) {
    (void)index;
    double scale = *(const double *)context;
    tg_tensor *g = param->grad;
    if (g->dtype == TG_F32) {
        float *v = g->data;
        for (int64_t k = begin; k < end; k++) v[k] = (float)(v[k] * scale);
    } else {
        double *v = g->data;
        for (int64_t k = begin; k < end; k++) v[k] *= scale;
    }
}

tg_status tg_clip_grad_norm(tg_params *p, double max_norm, double *total_norm) {
    if (!p) return tg_set_error(TG_ERR_ARG, "tg_clip_grad_norm: parameter store is NULL");
    if (!(max_norm > 0)) return tg_set_error(TG_ERR_ARG, "tg_clip_grad_norm: max_norm %g must be > 0", max_norm);
    double sum = 0; /* parameter after parameter: deterministic */
    for (int i = 0; i < tg_params_count(p); i++) {
        const tg_tensor *g = tg_params_at(p, i)->grad;
        if (!g) continue;
        sum += g->dtype == TG_F32 ? sum_of_squares_f32(g->data, g->numel) : sum_of_squares_f64(g->data, g->numel);
    }
    double norm = sqrt(sum);
    if (total_norm) *total_norm = norm;
    if (!(norm > max_norm)) return TG_OK;
    double scale = max_norm / (norm + 1e-6); /* PyTorch's clip coefficient */
    tg_params_parallel(p, scale_piece, &scale);  /* every gradient in one region */
    return TG_OK;
}
