#include "optim/adam.h"

#include <math.h>

#include "core/parallel.h"
#include "optim/optim_private.h"

typedef struct {
    tg_optim base;
    tg_adam_opts opts;
} adam;

tg_adam_opts tg_adam_defaults(void) { return (tg_adam_opts){1e-3, 0.9, 0.999, 1e-8, 0.0, false}; }
tg_adam_opts tg_adamw_defaults(void) { return (tg_adam_opts){1e-3, 0.9, 0.999, 1e-8, 0.01, true}; }

/* m and v are the two state buffers; step_size = lr / (1 - beta1^t),
 * root_bc2 = sqrt(1 - beta2^t), shrink = 1 - lr * wd for AdamW (1 for Adam) */
#define ADAM_UPDATE(NAME, T)                                                                                   \
    static void NAME(T *restrict w, const T *restrict grad, T *restrict m, T *restrict v, int64_t n,           \
                     const tg_adam_opts *o, double step_size, double root_bc2, double shrink) {                \
        T b1 = (T)o->beta1, b2 = (T)o->beta2, eps = (T)o->eps, s = (T)step_size, r = (T)root_bc2;             \
        T wd = o->decoupled_weight_decay ? 0 : (T)o->weight_decay, keep = (T)shrink;                           \
        TG_PARALLEL_FOR(k, n, {                                                                                \
            T g = grad[k] + wd * w[k];                                                                         \
            m[k] = b1 * m[k] + (1 - b1) * g;                                                                   \
            v[k] = b2 * v[k] + (1 - b2) * g * g;                                                               \
            w[k] = w[k] * keep - s * m[k] / (sqrt(v[k]) / r + eps);                                            \
        });                                                                                                    \
    }
ADAM_UPDATE(update_f32, float)
ADAM_UPDATE(update_f64, double)

static tg_status update(tg_optim *base, int i, tg_tensor *w) {
    const tg_adam_opts *o = &((adam *)base)->opts;
    bool fresh;
    char *state = tg_optim_state(base, i, w, &fresh);
    if (!state) return tg_set_error(TG_ERR_NOMEM, "tg_adam: out of memory");
    double t = (double)base->steps;
    double step_size = base->lr / (1 - pow(o->beta1, t)), root_bc2 = sqrt(1 - pow(o->beta2, t));
    double shrink = o->decoupled_weight_decay ? 1 - base->lr * o->weight_decay : 1;
    void *v = state + (size_t)w->numel * tg_dtype_size(w->dtype);
    if (w->dtype == TG_F32)
        update_f32(w->data, w->grad->data, (float *)state, v, w->numel, o, step_size, root_bc2, shrink);
    else
        update_f64(w->data, w->grad->data, (double *)state, v, w->numel, o, step_size, root_bc2, shrink);
    return TG_OK;
}

tg_optim *tg_adam_new(tg_params *p, tg_adam_opts opts) {
    if (!(opts.beta1 >= 0 && opts.beta1 < 1) || !(opts.beta2 >= 0 && opts.beta2 < 1) || !(opts.eps >= 0) ||
        !(opts.weight_decay >= 0)) {
        tg_set_error(TG_ERR_ARG, "tg_adam_new: invalid options (betas %g, %g must be in [0, 1); eps %g and "
                                 "weight_decay %g must be >= 0)",
                     opts.beta1, opts.beta2, opts.eps, opts.weight_decay);
        return NULL;
    }
    adam *opt = (adam *)tg_optim_create(sizeof(adam), "tg_adam", p,
                                        opts.lr, 2, update);
    if (opt) opt->opts = opts;
    return opt ? &opt->base : NULL;
}
