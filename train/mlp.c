/* The multi-layer perceptron of `tg train`: (linear [-> batchnorm] -> activation) x n_hidden -> linear. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/nn.h"
#include "ops/shape.h"
#include "ops/unary.h"
#include "train/model.h"

void tg_model_free(tg_model *m) {
    if (m && m->free) m->free(m);
}

static const char *const activation_names[] = {"relu", "tanh", "sigmoid", "gelu", "leaky_relu"};

bool tg_activation_parse(const char *name, tg_activation *out) {
    for (int a = 0; name && a < (int)(sizeof activation_names / sizeof *activation_names); a++)
        if (strcmp(name, activation_names[a]) == 0) {
            *out = (tg_activation)a;
            return true;
        }
    return false;
}

const char *tg_activation_name(tg_activation a) {
    return (unsigned)a < sizeof activation_names / sizeof *activation_names ? activation_names[a] : "?";
}

typedef struct mlp {
    tg_model base;
    tg_mlp_opts opts;
    int n_layers;                              /* n_hidden + 1 linear layers */
    tg_tensor *weight[TG_MLP_MAX_HIDDEN + 1];  /* [in, out] */
    tg_tensor *bias[TG_MLP_MAX_HIDDEN + 1];    /* [out] */
    tg_batchnorm_state bn[TG_MLP_MAX_HIDDEN];
} mlp;

static tg_tensor *activate(tg_tape *t, tg_activation a, tg_tensor *x) {
    switch (a) {
    case TG_ACT_RELU: return tg_relu(t, x);
    case TG_ACT_TANH: return tg_tanh(t, x);
    case TG_ACT_SIGMOID: return tg_sigmoid(t, x);
    case TG_ACT_GELU: return tg_gelu(t, x);
    case TG_ACT_LEAKY_RELU: return tg_leaky_relu(t, x, 0.01);
    }
    return NULL;
}

/* x [N, ...] -> [N, outputs]; each layer in its own scope "layer<k>" */
static tg_tensor *forward(tg_tape *t, tg_model *base, tg_tensor *x, bool training) {
    mlp *m = (mlp *)base;
    int64_t flat[2] = {x && x->ndim ? x->shape[0] : 1, m->opts.inputs};
    tg_tensor *h = !x || x->ndim == 2 ? x : tg_reshape(t, x, 2, flat);
    char scope[32];
    /* every layer even after a failure (h NULL): a synchronised batchnorm
     * must take part in its sums on every rank */
    for (int k = 0; k < m->n_layers; k++) {
        snprintf(scope, sizeof scope, "layer%d", k + 1);
        bool scoped = tg_tape_push_scope(t, scope) == TG_OK;
        h = tg_linear(t, scoped ? h : NULL, m->weight[k], m->bias[k]);
        if (k < m->n_layers - 1) {
            if (m->opts.batchnorm) h = tg_batchnorm(t, h, &m->bn[k], training);
            h = activate(t, m->opts.activation, h);
        }
        if (scoped) tg_tape_pop_scope(t);
    }
    return h;
}

static void mlp_free(tg_model *base) {
    tg_params_free(base->params);
    free(base);
}

/* U(-bound, bound) into a stored tensor */
static void fill_uniform(tg_tensor *x, double bound, tg_rng *rng) {
    for (int64_t i = 0; i < x->numel; i++) tg_set(x, i, bound * (2.0 * tg_rng_uniform(rng) - 1.0));
}

static tg_status check_opts(const tg_mlp_opts *o) {
    if (!o) return tg_set_error(TG_ERR_ARG, "tg_mlp_new: options are NULL");
    if (o->inputs < 1 || o->outputs < 1)
        return tg_set_error(TG_ERR_SHAPE, "tg_mlp_new: %lld inputs and %lld outputs: both must be >= 1",
                            (long long)o->inputs, (long long)o->outputs);
    if (o->n_hidden < 0 || o->n_hidden > TG_MLP_MAX_HIDDEN)
        return tg_set_error(TG_ERR_ARG, "tg_mlp_new: %d hidden layers, at most %d", o->n_hidden, TG_MLP_MAX_HIDDEN);
    for (int k = 0; k < o->n_hidden; k++)
        if (o->hidden[k] < 1)
            return tg_set_error(TG_ERR_SHAPE, "tg_mlp_new: hidden layer %d has %lld units", k + 1,
                                (long long)o->hidden[k]);
    if ((unsigned)o->activation > TG_ACT_LEAKY_RELU)
        return tg_set_error(TG_ERR_ARG, "tg_mlp_new: unknown activation %d", (int)o->activation);
    if (o->dtype != TG_F32 && o->dtype != TG_F64)
        return tg_set_error(TG_ERR_DTYPE, "tg_mlp_new: unknown dtype %d", (int)o->dtype);
    return TG_OK;
}

tg_model *tg_mlp_new(const tg_mlp_opts *opts, uint64_t seed) {
    if (check_opts(opts)) return NULL;
    mlp *m = calloc(1, sizeof *m);
    tg_params *p = tg_params_new();
    if (!m || !p) {
        free(m);
        tg_params_free(p);
        tg_set_error(TG_ERR_NOMEM, "tg_mlp_new: out of memory");
        return NULL;
    }
    m->base = (tg_model){.params = p, .forward = forward, .free = mlp_free};
    m->opts = *opts;
    m->n_layers = opts->n_hidden + 1;
    tg_rng rng = tg_rng_new(seed);
    int pos = snprintf(m->base.description, sizeof m->base.description, "mlp %lld", (long long)opts->inputs);
    for (int k = 0; k < m->n_layers; k++) {
        int64_t in = k == 0 ? opts->inputs : opts->hidden[k - 1];
        int64_t out = k < opts->n_hidden ? opts->hidden[k] : opts->outputs;
        char name[64];
        snprintf(name, sizeof name, "fc%d.weight", k + 1);
        m->weight[k] = tg_param(p, name, opts->dtype, 2, (int64_t[]){in, out}, TG_INIT_ZEROS, NULL);
        snprintf(name, sizeof name, "fc%d.bias", k + 1);
        m->bias[k] = tg_param(p, name, opts->dtype, 1, &out, TG_INIT_ZEROS, NULL);
        if (!m->weight[k] || !m->bias[k]) goto fail;
        double bound = 1.0 / sqrt((double)in); /* torch.nn.Linear's reset_parameters */
        fill_uniform(m->weight[k], bound, &rng);
        fill_uniform(m->bias[k], bound, &rng);
        if (k < opts->n_hidden && opts->batchnorm) {
            snprintf(name, sizeof name, "bn%d", k + 1);
            if (tg_batchnorm_init(&m->bn[k], p, name, opts->dtype, out)) goto fail;
            m->bn[k].sync = opts->replicas;
        }
        if (pos < (int)sizeof m->base.description)
            pos += snprintf(m->base.description + pos, sizeof m->base.description - (size_t)pos, "-%lld",
                            (long long)out);
    }
    if (pos < (int)sizeof m->base.description)
        snprintf(m->base.description + pos, sizeof m->base.description - (size_t)pos, " %s%s%s",
                 tg_activation_name(opts->activation), opts->batchnorm ? " batchnorm" : "",
                 opts->dtype == TG_F64 ? " f64" : "");
    return &m->base;
fail:
    mlp_free(&m->base);
    return NULL;
}
