#include "optim/sgd.h"

#include <stdlib.h>

struct tg_sgd {
    tg_params *params;
    tg_sgd_opts opts;
    double **momentum; /* one buffer per stored tensor, NULL until first step */
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

tg_status tg_sgd_step(tg_sgd *opt) {
    if (!opt) return tg_set_error(TG_ERR_ARG, "tg_sgd_step: optimizer is NULL");
    int count = tg_params_count(opt->params);
    if (count > opt->n) { /* parameters added since the last step */
        double **grown = realloc(opt->momentum, sizeof *grown * (size_t)count);
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
            opt->momentum[i] = calloc((size_t)w->numel, sizeof(double));
            if (!opt->momentum[i]) return tg_set_error(TG_ERR_NOMEM, "tg_sgd_step: out of memory");
            first = true;
        }
        double *buf = opt->momentum[i];
        for (int64_t k = 0; k < w->numel; k++) {
            double x = tg_get(w, k);
            double g = tg_get(w->grad, k) + o->weight_decay * x;
            if (o->momentum != 0) {
                buf[k] = first ? g : o->momentum * buf[k] + (1 - o->dampening) * g;
                g = o->nesterov ? g + o->momentum * buf[k] : buf[k];
            }
            tg_set(w, k, x - o->lr * g);
        }
        tg_tensor_bump_version(w);
    }
    return TG_OK;
}
