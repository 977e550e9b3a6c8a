/* The optimizer interface: the step loop, state buffers, learning rate, clipping. */
#include "optim/optim_private.h"

#include "core/parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tg_optim *tg_optim_create(size_t size, const char *name, tg_params *p, double lr, int state_buffers,
                          tg_status (*update)(tg_optim *, int, tg_tensor *)) {
    if (!p) {
        tg_set_error(TG_ERR_ARG, "%s_new: parameter store is NULL", name);
        return NULL;
    }
    if (!(lr > 0)) {
        tg_set_error(TG_ERR_ARG, "%s_new: learning rate %g must be > 0", name, lr);
        return NULL;
    }
    tg_optim *opt = calloc(1, size);
    if (!opt) {
        tg_set_error(TG_ERR_NOMEM, "%s_new: out of memory", name);
        return NULL;
    }
    *opt = (tg_optim){.name = name, .params = p, .lr = lr, .update = update, .state_buffers = state_buffers};
    return opt;
}

void tg_optim_free(tg_optim *opt) {
    if (!opt) return;
    for (int i = 0; i < opt->n_state; i++) free(opt->state[i]);
    free(opt->state);
    free(opt);
}

void *tg_optim_state(tg_optim *opt, int i, const tg_tensor *w, bool *fresh) {
    *fresh = false;
    if (opt->state_buffers == 0) return NULL;
    if (!opt->state[i]) {
        size_t bytes = (size_t)opt->state_buffers * (size_t)(w->numel ? w->numel : 1) * tg_dtype_size(w->dtype);
        opt->state[i] = calloc(1, bytes);
        *fresh = true;
    }
    return opt->state[i];
}

tg_status tg_optim_step(tg_optim *opt) {
    if (!opt) return tg_set_error(TG_ERR_ARG, "tg_optim_step: optimizer is NULL");
    int count = tg_params_count(opt->params);
    if (count > opt->n_state) { /* parameters added since the last step */
        void **grown = realloc(opt->state, sizeof *grown * (size_t)count);
        if (!grown) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", opt->name);
        for (int i = opt->n_state; i < count; i++) grown[i] = NULL;
        opt->state = grown;
        opt->n_state = count;
    }
    opt->steps++;
    for (int i = 0; i < count; i++) {
        tg_tensor *w = tg_params_at(opt->params, i);
        if (w->kind != TG_KIND_PARAM || !w->grad) continue;
        tg_status st = opt->update(opt, i, w);
        if (st) return st;
        tg_tensor_bump_version(w);
    }
    return TG_OK;
}

double tg_optim_lr(const tg_optim *opt) { return opt ? opt->lr : 0.0; }
int64_t tg_optim_steps(const tg_optim *opt) { return opt ? opt->steps : 0; }

tg_status tg_optim_set_lr(tg_optim *opt, double lr) {
    if (!opt) return tg_set_error(TG_ERR_ARG, "tg_optim_set_lr: optimizer is NULL");
    if (!(lr > 0)) return tg_set_error(TG_ERR_ARG, "%s: learning rate %g must be > 0", opt->name, lr);
    opt->lr = lr;
    return TG_OK;
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
