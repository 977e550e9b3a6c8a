/* Batch normalization as a composite of primitives (see ops/nn.h). */
#include <stdio.h>

#include "ops/elementwise.h"
#include "ops/kernel.h"
#include "ops/nn.h"
#include "ops/reduce.h"
#include "ops/registry.h"
#include "ops/shape.h"
#include "ops/unary.h"

tg_status tg_batchnorm_init(tg_batchnorm_state *bn, tg_params *p, const char *name, tg_dtype dtype,
                            int64_t channels) {
    const char *who = "tg_batchnorm_init";
    if (!bn || !p || !name || !*name)
        return tg_set_error(TG_ERR_ARG, "%s: state, store or name is NULL (or the name is empty)", who);
    if (dtype != TG_F32 && dtype != TG_F64) return tg_set_error(TG_ERR_DTYPE, "%s: unknown dtype %d", who, (int)dtype);
    if (channels < 1 || channels > TG_MAX_NUMEL)
        return tg_set_error(TG_ERR_SHAPE, "%s: '%s' with %lld channels", who, name, (long long)channels);
    static const char *const suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    char full[4][256];
    /* check all four against the store before creating any */
    for (int i = 0; i < 4; i++) {
        if (snprintf(full[i], sizeof full[i], "%s.%s", name, suffix[i]) >= (int)sizeof full[i])
            return tg_set_error(TG_ERR_ARG, "%s: name '%.40s...' is longer than %d bytes", who, name,
                                (int)sizeof full[i] - 14);
        const tg_tensor *x = tg_params_get(p, full[i]);
        tg_kind kind = i < 2 ? TG_KIND_PARAM : TG_KIND_BUFFER;
        if (x && (x->dtype != dtype || x->ndim != 1 || x->shape[0] != channels || x->kind != kind)) {
            char have[200];
            return tg_set_error(TG_ERR_SHAPE, "%s: '%s' exists as %s %s; batchnorm '%s' needs a %s %s[%lld]", who,
                                full[i], x->kind == TG_KIND_PARAM ? "parameter" : "buffer",
                                tg_tensor_desc(x, have, sizeof have), name,
                                kind == TG_KIND_PARAM ? "parameter" : "buffer", tg_dtype_name(dtype),
                                (long long)channels);
        }
    }
    int before = tg_params_count(p);
    tg_tensor *made[4];
    for (int i = 0; i < 4; i++) {
        tg_init init = (i == 0 || i == 3) ? TG_INIT_ONES : TG_INIT_ZEROS;
        made[i] = i < 2 ? tg_param(p, full[i], dtype, 1, &channels, init, NULL)
                        : tg_buffer(p, full[i], dtype, 1, &channels, init, NULL);
        if (!made[i]) { /* out of memory: take back what this call created */
            tg_status st = tg_last_status();
            tg_params_truncate(p, before);
            return st;
        }
    }
    *bn = (tg_batchnorm_state){made[0], made[1], made[2], made[3], 0.1, 1e-5, 0};
    return TG_OK;
}

/* running = (1 - m) running + m batch, for mean and (unbiased) variance */
static void update_running(tg_batchnorm_state *bn, const tg_tensor *mean, const tg_tensor *var, int64_t count) {
    double m = bn->momentum, unbias = (double)count / (double)(count - 1);
    for (int64_t c = 0; c < mean->numel; c++) {
        tg_set(bn->running_mean, c, (1 - m) * tg_get(bn->running_mean, c) + m * tg_get(mean, c));
        tg_set(bn->running_var, c, (1 - m) * tg_get(bn->running_var, c) + m * tg_get(var, c) * unbias);
    }
    tg_tensor_bump_version(bn->running_mean);
    tg_tensor_bump_version(bn->running_var);
    bn->num_batches_tracked++;
}

/* y = normalized x; in training also the batch statistics (for the running
 * update, made only once the whole forward pass succeeded) */
static tg_tensor *normalize(tg_tape *t, tg_tensor *x, tg_batchnorm_state *bn, bool training, tg_tensor **batch_mean,
                            tg_tensor **batch_var) {
    int axes[TG_MAX_DIMS], n_axes = 0;
    int64_t stat_shape[TG_MAX_DIMS]; /* [1,C,1,...] */
    for (int i = 0; i < x->ndim; i++) {
        stat_shape[i] = i == 1 ? x->shape[1] : 1;
        if (i != 1) axes[n_axes++] = i;
    }
    tg_tensor *xhat;
    if (training) {
        tg_tensor *mean = tg_mean(t, x, axes, n_axes, true);
        tg_tensor *centered = tg_sub(t, x, mean);
        tg_tensor *var = tg_mean(t, tg_square(t, centered), axes, n_axes, true); /* biased */
        xhat = tg_mul(t, centered, tg_rsqrt(t, tg_add_scalar(t, var, bn->eps)));
        if (xhat && !tg_fuse_realize(t, 2, (tg_tensor *[]){mean, var})) { /* read by update_running */
            *batch_mean = mean;
            *batch_var = var;
        }
    } else {
        tg_tensor *mean = tg_reshape(t, bn->running_mean, x->ndim, stat_shape);
        tg_tensor *var = tg_reshape(t, bn->running_var, x->ndim, stat_shape);
        xhat = tg_mul(t, tg_sub(t, x, mean), tg_rsqrt(t, tg_add_scalar(t, var, bn->eps)));
    }
    tg_tensor *gamma = tg_reshape(t, bn->gamma, x->ndim, stat_shape);
    tg_tensor *beta = tg_reshape(t, bn->beta, x->ndim, stat_shape);
    return tg_add(t, tg_mul(t, xhat, gamma), beta);
}

tg_tensor *tg_batchnorm(tg_tape *t, tg_tensor *x, tg_batchnorm_state *bn, bool training) {
    if (!tg_check_inputs(t, "tg_batchnorm", 1, &x)) return NULL;
    if (!bn || !bn->gamma || !bn->beta || !bn->running_mean || !bn->running_var) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_batchnorm: state is not initialised (tg_batchnorm_init)");
        return NULL;
    }
    tg_tensor *state[4] = {bn->gamma, bn->beta, bn->running_mean, bn->running_var};
    if (x->ndim < 2) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_batchnorm: input %s must be [N,C] or [N,C,...]", TG_DESC(x));
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        if (state[i]->ndim != 1 || state[i]->shape[0] != x->shape[1] || state[i]->dtype != x->dtype) {
            tg_tape_fail(t, TG_ERR_SHAPE, "tg_batchnorm: input %s has %lld channels, the state has %s", TG_DESC(x),
                         (long long)x->shape[1], TG_DESC(state[i]));
            return NULL;
        }
    }
    if (training && x->numel / (x->shape[1] ? x->shape[1] : 1) < 2) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_batchnorm: training needs more than one value per channel, input is %s",
                     TG_DESC(x));
        return NULL;
    }
    tg_tensor *y, *mean = NULL, *var = NULL;
    TG_IN_FUSED_SCOPE(t, "batchnorm", y, normalize(t, x, bn, training, &mean, &var));
    if (y && mean && var) update_running(bn, mean, var, x->numel / x->shape[1]);
    return y;
}

/* ---- registry entries: gamma and beta are inputs, running statistics fixed ---- */
static tg_status sample_train(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(4, 3, 2), 0.1, 2.0);
    in[1] = tg_sample_uniform(t, rng, dt, TG_SHAPE(3), 0.5, 1.5);
    in[2] = tg_sample_signed(t, rng, dt, TG_SHAPE(3), 0.1, 1.0);
    return tg_tape_status(t);
}
static tg_status sample_eval(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(5, 3), 0.1, 2.0);
    in[1] = tg_sample_uniform(t, rng, dt, TG_SHAPE(3), 0.5, 1.5);
    in[2] = tg_sample_signed(t, rng, dt, TG_SHAPE(3), 0.1, 1.0);
    return tg_tape_status(t);
}
static tg_tensor *apply(tg_tape *t, tg_tensor **in, bool training) {
    tg_dtype dtype = in[0] && !tg_tape_check_tensor(t, in[0]) ? in[0]->dtype : TG_F64; /* tg_batchnorm reports */
    tg_batchnorm_state bn = {in[1], in[2], tg_full(t, dtype, TG_SHAPE(3), 0.2), tg_full(t, dtype, TG_SHAPE(3), 1.7),
                             0.1, 1e-5, 0};
    return tg_batchnorm(t, in[0], &bn, training);
}
static tg_tensor *apply_train(tg_tape *t, tg_tensor **in) { return apply(t, in, true); }
static tg_tensor *apply_eval(tg_tape *t, tg_tensor **in) { return apply(t, in, false); }

const tg_op_spec tg_spec_batchnorm_train = {"batchnorm(train)", "tg_batchnorm", 3, sample_train, apply_train};
const tg_op_spec tg_spec_batchnorm_eval = {"batchnorm(eval)", "tg_batchnorm", 3, sample_eval, apply_eval};
