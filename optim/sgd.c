#include "optim/sgd.h"

#include "core/parallel.h"
#include "optim/optim_private.h"

typedef struct {
    tg_optim base;
    tg_sgd_opts opts;
} sgd;

/* One parameter: w -= lr * step(grad + wd * w), with the momentum buffer b
 * (NULL without momentum); first: b = g (PyTorch starts it at the first gradient). */
#define SGD_UPDATE(NAME, T)                                                                                     \
    static void NAME(T *restrict w, const T *restrict grad, T *restrict b, int64_t n, double lr_d,              \
                     const tg_sgd_opts *o, bool first) {                                                        \
        T lr = (T)lr_d, wd = (T)o->weight_decay, mu = (T)o->momentum, keep = (T)(1 - o->dampening);             \
        TG_PARALLEL_FOR(k, n, {                                                                                 \
            T g = grad[k] + wd * w[k];                                                                          \
            if (b) {                                                                                            \
                b[k] = first ? g : mu * b[k] + keep * g;                                                        \
                g = o->nesterov ? g + mu * b[k] : b[k];                                                         \
            }                                                                                                   \
            w[k] -= lr * g;                                                                                     \
        });                                                                                                     \
    }
SGD_UPDATE(update_f32, float)
SGD_UPDATE(update_f64, double)

static tg_status update(tg_optim *base, int i, tg_tensor *w) {
    sgd *opt = (sgd *)base;
    bool first;
    void *b = tg_optim_state(base, i, w, &first);
    if (base->state_buffers && !b) return tg_set_error(TG_ERR_NOMEM, "tg_sgd: out of memory");
    if (w->dtype == TG_F32)
        update_f32(w->data, w->grad->data, b, w->numel, base->lr, &opt->opts, first);
    else
        update_f64(w->data, w->grad->data, b, w->numel, base->lr, &opt->opts, first);
    return TG_OK;
}

tg_optim *tg_sgd_new(tg_params *p, tg_sgd_opts opts) {
    if (opts.momentum < 0 || opts.weight_decay < 0 || (opts.nesterov && (opts.momentum <= 0 || opts.dampening != 0))) {
        tg_set_error(TG_ERR_ARG, "tg_sgd_new: invalid options (momentum %g and weight_decay %g must be >= 0; "
                                 "nesterov needs momentum > 0 and dampening 0)",
                     opts.momentum, opts.weight_decay);
        return NULL;
    }
    sgd *opt = (sgd *)tg_optim_create(sizeof(sgd), "tg_sgd", p, opts.lr, opts.momentum != 0 ? 1 : 0, update);
    if (opt) opt->opts = opts;
    return opt ? &opt->base : NULL;
}
