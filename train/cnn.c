/* The convolutional network of `tg train --model cnn`:
 * (conv 3x3 -> [batchnorm] -> relu -> max pool 2x2) x n_conv -> flatten ->
 * (linear -> relu) x n_hidden -> dropout -> linear.
 * Computed as conv -> [batchnorm] -> max pool -> relu: relu is monotonic, so
 * relu and max pooling commute, values and gradients alike (a window whose
 * maximum is not positive passes no gradient either way), and relu then
 * touches a quarter of the elements. With batchnorm the convolutions have no
 * bias: batchnorm subtracts the mean right after, which cancels it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/conv.h"
#include "ops/dropout.h"
#include "ops/nn.h"
#include "ops/pool.h"
#include "ops/shape.h"
#include "ops/unary.h"
#include "train/model.h"

typedef struct cnn {
    tg_model base;
    tg_cnn_opts opts;
    uint64_t seed;
    tg_tensor *conv_weight[TG_CNN_MAX_CONV]; /* [out, in, 3, 3] */
    tg_tensor *conv_bias[TG_CNN_MAX_CONV];   /* [out], NULL with batchnorm */
    tg_batchnorm_state bn[TG_CNN_MAX_CONV];
    int n_linear;                              /* n_hidden + 1 */
    tg_tensor *weight[TG_MLP_MAX_HIDDEN + 1];  /* [in, out] */
    tg_tensor *bias[TG_MLP_MAX_HIDDEN + 1];    /* [out] */
    tg_tensor *dropout_steps;                  /* buffer [1]: training forward passes so far */
} cnn;

/* x [N, C, H, W] (or [N, C H W] flattened: reshaped) -> [N, outputs]; each block in its scope */
static tg_tensor *forward(tg_tape *t, tg_model *base, tg_tensor *x, bool training) {
    cnn *m = (cnn *)base;
    const tg_cnn_opts *o = &m->opts;
    int64_t image[4] = {x && x->ndim ? x->shape[0] : 1, o->channels, o->height, o->width};
    tg_tensor *h = x ? tg_reshape(t, x, 4, image) : NULL;
    char scope[32];
    /* every block even after a failure (h NULL): a synchronised batchnorm
     * must take part in its sums on every rank */
    for (int k = 0; k < o->n_conv; k++) {
        snprintf(scope, sizeof scope, "conv%d", k + 1);
        bool scoped = tg_tape_push_scope(t, scope) == TG_OK;
        h = tg_conv2d(t, scoped ? h : NULL, m->conv_weight[k], m->conv_bias[k], (tg_conv2d_opts){.padding = {1, 1}});
        if (o->batchnorm) h = tg_batchnorm(t, h, &m->bn[k], training);
        h = tg_relu(t, tg_max_pool2d(t, h, (tg_pool2d_opts){.kernel = {2, 2}}));
        if (scoped) tg_tape_pop_scope(t);
    }
    h = tg_flatten(t, h);
    for (int k = 0; k < m->n_linear && h; k++) {
        bool last = k == m->n_linear - 1;
        snprintf(scope, sizeof scope, "fc%d", k + 1);
        if (tg_tape_push_scope(t, scope)) return NULL;
        if (last && training && o->dropout > 0) {
            /* a generator per step, from the seed and the step counter (a
             * resumed run draws the same masks) and, in data-parallel
             * training, the rank: each rank draws masks for its own samples */
            uint64_t step = (uint64_t)tg_item(m->dropout_steps);
            uint64_t rank = o->replicas ? (uint64_t)o->replicas->rank : 0;
            tg_rng rng = tg_rng_new(m->seed ^ (step + 1) * 0x9E3779B97F4A7C15u ^ rank * 0xD1B54A32D192ED03u);
            h = tg_dropout(t, h, o->dropout, true, &rng);
            tg_set(m->dropout_steps, 0, (double)(step + 1));
            tg_tensor_bump_version(m->dropout_steps);
        }
        h = tg_linear(t, h, m->weight[k], m->bias[k]);
        if (!last) h = tg_relu(t, h);
        tg_tape_pop_scope(t);
    }
    return h;
}

static void cnn_free(tg_model *base) {
    tg_params_free(base->params);
    free(base);
}

/* U(-1/sqrt(fan_in), 1/sqrt(fan_in)) into a stored tensor: torch's Conv2d and Linear defaults */
static void fill_uniform(tg_tensor *x, int64_t fan_in, tg_rng *rng) {
    double bound = 1.0 / sqrt((double)fan_in);
    for (int64_t i = 0; i < x->numel; i++) tg_set(x, i, bound * (2.0 * tg_rng_uniform(rng) - 1.0));
}

static tg_status check_opts(const tg_cnn_opts *o) {
    if (!o) return tg_set_error(TG_ERR_ARG, "tg_cnn_new: options are NULL");
    if (o->n_conv < 1 || o->n_conv > TG_CNN_MAX_CONV)
        return tg_set_error(TG_ERR_ARG, "tg_cnn_new: %d convolutions, 1 to %d allowed", o->n_conv, TG_CNN_MAX_CONV);
    if (o->n_hidden < 0 || o->n_hidden > TG_MLP_MAX_HIDDEN)
        return tg_set_error(TG_ERR_ARG, "tg_cnn_new: %d hidden layers, at most %d", o->n_hidden, TG_MLP_MAX_HIDDEN);
    if (o->channels < 1 || o->outputs < 1)
        return tg_set_error(TG_ERR_SHAPE, "tg_cnn_new: %lld input channels and %lld outputs: both must be >= 1",
                            (long long)o->channels, (long long)o->outputs);
    int64_t side = (int64_t)1 << o->n_conv; /* each block halves the height and width */
    if (o->height < side || o->width < side)
        return tg_set_error(TG_ERR_SHAPE, "tg_cnn_new: %d pooling blocks need images of at least %lldx%lld, got %lldx%lld",
                            o->n_conv, (long long)side, (long long)side, (long long)o->height, (long long)o->width);
    for (int k = 0; k < o->n_conv; k++)
        if (o->conv[k] < 1)
            return tg_set_error(TG_ERR_SHAPE, "tg_cnn_new: convolution %d has %lld channels", k + 1,
                                (long long)o->conv[k]);
    for (int k = 0; k < o->n_hidden; k++)
        if (o->hidden[k] < 1)
            return tg_set_error(TG_ERR_SHAPE, "tg_cnn_new: hidden layer %d has %lld units", k + 1,
                                (long long)o->hidden[k]);
    if (!(o->dropout >= 0 && o->dropout < 1))
        return tg_set_error(TG_ERR_ARG, "tg_cnn_new: dropout %g is outside [0, 1)", o->dropout);
    if (o->dtype != TG_F32 && o->dtype != TG_F64)
        return tg_set_error(TG_ERR_DTYPE, "tg_cnn_new: unknown dtype %d", (int)o->dtype);
    return TG_OK;
}

/* "cnn 1x28x28 conv32-64 fc128-10 batchnorm dropout 0.25" */
static void describe(cnn *m) {
    const tg_cnn_opts *o = &m->opts;
    char *text = m->base.description;
    size_t size = sizeof m->base.description, pos = 0;
#define APPEND(...)                                                                      \
    do {                                                                                 \
        int n = pos < size ? snprintf(text + pos, size - pos, __VA_ARGS__) : 0;           \
        pos += n > 0 ? (size_t)n : 0;                                                    \
    } while (0)
    APPEND("cnn %lldx%lldx%lld conv", (long long)o->channels, (long long)o->height, (long long)o->width);
    for (int k = 0; k < o->n_conv; k++) APPEND("%s%lld", k ? "-" : "", (long long)o->conv[k]);
    APPEND(" fc");
    for (int k = 0; k < o->n_hidden; k++) APPEND("%lld-", (long long)o->hidden[k]);
    APPEND("%lld%s", (long long)o->outputs, o->batchnorm ? " batchnorm" : "");
    if (o->dropout > 0) APPEND(" dropout %g", o->dropout);
    if (o->dtype == TG_F64) APPEND(" f64");
#undef APPEND
}

tg_model *tg_cnn_new(const tg_cnn_opts *opts, uint64_t seed) {
    if (check_opts(opts)) return NULL;
    cnn *m = calloc(1, sizeof *m);
    tg_params *p = tg_params_new();
    if (!m || !p) {
        free(m);
        tg_params_free(p);
        tg_set_error(TG_ERR_NOMEM, "tg_cnn_new: out of memory");
        return NULL;
    }
    m->base = (tg_model){.params = p, .forward = forward, .free = cnn_free};
    m->opts = *opts;
    m->seed = seed;
    m->n_linear = opts->n_hidden + 1;
    tg_rng rng = tg_rng_new(seed);
    char name[64];
    int64_t in = opts->channels, height = opts->height, width = opts->width;
    for (int k = 0; k < opts->n_conv; k++) {
        int64_t out = opts->conv[k];
        snprintf(name, sizeof name, "conv%d.weight", k + 1);
        m->conv_weight[k] = tg_param(p, name, opts->dtype, 4, (int64_t[]){out, in, 3, 3}, TG_INIT_ZEROS, NULL);
        if (!m->conv_weight[k]) goto fail;
        fill_uniform(m->conv_weight[k], in * 9, &rng);
        if (opts->batchnorm) {
            snprintf(name, sizeof name, "bn%d", k + 1);
            if (tg_batchnorm_init(&m->bn[k], p, name, opts->dtype, out)) goto fail;
            m->bn[k].sync = opts->replicas;
        } else {
            snprintf(name, sizeof name, "conv%d.bias", k + 1);
            m->conv_bias[k] = tg_param(p, name, opts->dtype, 1, &out, TG_INIT_ZEROS, NULL);
            if (!m->conv_bias[k]) goto fail;
            fill_uniform(m->conv_bias[k], in * 9, &rng);
        }
        in = out;
        height /= 2;
        width /= 2;
    }
    in *= height * width; /* flattened */
    for (int k = 0; k < m->n_linear; k++) {
        int64_t out = k < opts->n_hidden ? opts->hidden[k] : opts->outputs;
        snprintf(name, sizeof name, "fc%d.weight", k + 1);
        m->weight[k] = tg_param(p, name, opts->dtype, 2, (int64_t[]){in, out}, TG_INIT_ZEROS, NULL);
        snprintf(name, sizeof name, "fc%d.bias", k + 1);
        m->bias[k] = tg_param(p, name, opts->dtype, 1, &out, TG_INIT_ZEROS, NULL);
        if (!m->weight[k] || !m->bias[k]) goto fail;
        fill_uniform(m->weight[k], in, &rng);
        fill_uniform(m->bias[k], in, &rng);
        in = out;
    }
    m->dropout_steps = tg_buffer(p, "dropout.steps", TG_F64, 1, (int64_t[]){1}, TG_INIT_ZEROS, NULL);
    if (!m->dropout_steps) goto fail;
    describe(m);
    return &m->base;
fail:
    cnn_free(&m->base);
    return NULL;
}
