#include "optim/sgd.h"

#include <stdlib.h>

#include "core/parallel.h"

struct tg_sgd {
    tg_params *params;
    tg_sgd_opts opts;
    void **momentum; /* one buffer per stored tensor (its dtype), NULL until its first step */
    int n;
};

tg_sgd *tg_sgd_new(tg_params *p, tg_sgd_opts opts) {
    if (!p) {
        tg_set_error(TG_ERR_ARG, "tg_sgd_new: parameter store is NULL");
        return NULL;
    }
    if (!(opts.lr > 0) || opts.momentum < 0 || opts.weight_decay < 0 ||
        (opts.nesterov && (opts.momentum <= 0 || opts.dampening != 0))) {
        tg_set_error(TG_ERR_ARG, "tg_sgd_new: invalid options (lr %g must be > 0; nesterov needs momentum > 0 and "
                                 "dampening 0)", opts.lr);
        return NULL;
    }
    tg_sgd *opt = calloc(1, sizeof *opt);
    if (!opt) {
        tg_set_error(TG_ERR_NOMEM, "tg_sgd_new: out of memory");
        return NULL;
    }
    opt->params = p;
    opt->opts = opts;
    return opt;
}

void tg_sgd_free(tg_sgd *opt) {
    if (!opt) return;
    for (int i = 0; i < opt->n; i++) free(opt->momentum[i]);
    free(opt->momentum);
    free(opt);
}

/* One parameter: w -= lr * step(grad + wd * w), with the momentum buffer b.
 * first: b = g (PyTorch starts the buffer at the first gradient). */
#define SGD_UPDATE(NAME, T)                                                                            \
    static void NAME(T *restrict w, const T *restrict grad, T *restrict b, int64_t n, const tg_sgd_opts *o, \
                     bool first) {                                                                     \
        T lr = (T)o->lr, wd = (T)o->weight_decay, mu = (T)o->momentum, keep = (T)(1 - o->dampening);   \
        TG_PARALLEL_FOR(n)                                                                             \
        for (int64_t k = 0; k < n; k++) {                                                              \
            T g = grad[k] + wd * w[k];                                                                 \
            if (b) {                                                                                   \
                b[k] = first ? g : mu * b[k] + keep * g;                                               \
                g = o->nesterov ? g + mu * b[k] : b[k];                                                \
            }                                                                                          \
            w[k] -= lr * g;                                                                            \
        }                                                                                              \
    }
SGD_UPDATE(update_f32, float)
SGD_UPDATE(update_f64, double)

tg_status tg_sgd_step(tg_sgd *opt) {
    if (!opt) return tg_set_error(TG_ERR_ARG, "tg_sgd_step: optimizer is NULL");
    int count = tg_params_count(opt->params);
    if (count > opt->n) { /* parameters added since the last step */
        void **grown = realloc(opt->momentum, sizeof *grown * (size_t)count);
        if (!grown) return tg_set_error(TG_ERR_NOMEM, "tg_sgd_step: out of memory");
        for (int i = opt->n; i < count; i++) grown[i] = NULL;
        opt->momentum = grown;
        opt->n = count;
    }
    const tg_sgd_opts *o = &opt->opts;
    for (int i = 0; i < count; i++) {
        tg_tensor *w = tg_params_at(opt->params, i);
        if (w->kind != TG_KIND_PARAM || !w->grad) continue;
        bool first = false;
        if (o->momentum != 0 && !opt->momentum[i]) {
            opt->momentum[i] = malloc((size_t)(w->numel ? w->numel : 1) * tg_dtype_size(w->dtype));
            if (!opt->momentum[i]) return tg_set_error(TG_ERR_NOMEM, "tg_sgd_step: out of memory");
            first = true;
        }
        if (w->dtype == TG_F32)
            update_f32(w->data, w->grad->data, opt->momentum[i], w->numel, o, first);
        else
            update_f64(w->data, w->grad->data, opt->momentum[i], w->numel, o, first);
        tg_tensor_bump_version(w);
    }
    return TG_OK;
}
