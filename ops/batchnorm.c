/* Batch normalization as a composite of primitives (see ops/nn.h). */
#include <stdio.h>

#include "ops/elementwise.h"
#include "ops/kernel.h"
#include "ops/nn.h"
#include "ops/reduce.h"
#include "ops/registry.h"
#include "ops/replica.h"
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

/* running = (1 - m) running + m batch * scale, in double, every channel
 * (running and batch of the input's dtype: check_input) */
static void blend(tg_tensor *running, const tg_tensor *batch, double m, double scale) {
    if (running->dtype == TG_F32) {
        float *r = running->data;
        const float *b = batch->data;
        for (int64_t c = 0; c < running->numel; c++) r[c] = (float)((1 - m) * (double)r[c] + m * (double)b[c] * scale);
    } else {
        double *r = running->data;
        const double *b = batch->data;
        for (int64_t c = 0; c < running->numel; c++) r[c] = (1 - m) * r[c] + m * b[c] * scale;
    }
    tg_tensor_bump_version(running);
}

/* running = (1 - m) running + m batch, for mean and (unbiased) variance */
static void update_running(tg_batchnorm_state *bn, const tg_tensor *mean, const tg_tensor *var, int64_t count) {
    double m = bn->momentum, unbias = (double)count / (double)(count - 1);
    blend(bn->running_mean, mean, m, 1.0);
    blend(bn->running_var, var, m, unbias);
    bn->num_batches_tracked++;
}

/* [1,C,1,...] for an input of ndim axes; axes[] = every axis but 1 */
static int statistic_axes(int ndim, int64_t channels, int axes[TG_MAX_DIMS], int64_t stat_shape[TG_MAX_DIMS]) {
    int n_axes = 0;
    for (int i = 0; i < ndim; i++) {
        stat_shape[i] = i == 1 ? channels : 1;
        if (i != 1) axes[n_axes++] = i;
    }
    return n_axes;
}

/* The batch statistics of a training step, per channel [1,C,1,...]: mean
 * and biased variance (also for the running update, made only once the
 * whole forward pass succeeded); count = values per channel */
typedef struct {
    tg_tensor *mean, *var;
    int64_t count;
} batch_stats;

/* x's values at the first sample and the first position of every axis but
 * the channels': [1,C,1,...], a constant (no gradient) */
static tg_tensor *first_values(tg_tape *t, tg_tensor *x) {
    bool was_enabled = tg_tape_set_grad_enabled(t, false);
    tg_tensor *s = x;
    for (int i = 0; i < x->ndim && s; i++)
        if (i != 1) s = tg_slice(t, s, i, 0, 1);
    tg_tape_set_grad_enabled(t, was_enabled);
    return s;
}

/* The statistics over this process's batch, both from ONE pass over x,
 * shifted by a constant s (x's first values):
 *   mean = s + mean(x - s),   var = mean((x - s)^2) - (mean - s)^2   (biased)
 * exact for any constant s. With s one of the values, (mean - s)^2 is at most
 * n var (n values per channel): the subtraction loses at most log2(n) bits
 * of var and cannot make it negative (n below 1/epsilon); a shift far from
 * the data (0, say) could cancel all digits. */
static bool local_stats(tg_tape *t, tg_tensor *x, batch_stats *stats) {
    int axes[TG_MAX_DIMS];
    int64_t stat_shape[TG_MAX_DIMS];
    int n_axes = statistic_axes(x->ndim, x->shape[1], axes, stat_shape);
    tg_tensor *s = first_values(t, x);
    /* x - s twice: one value read by both sums would be stored (ops/fusion.h) */
    tg_tensor *offset = tg_mean(t, tg_sub(t, x, s), axes, n_axes, true); /* mean - s */
    tg_tensor *squares = tg_mean(t, tg_square(t, tg_sub(t, x, s)), axes, n_axes, true);
    tg_tensor *var = tg_sub(t, squares, tg_square(t, offset));
    *stats = (batch_stats){tg_add(t, s, offset), var, x->numel / x->shape[1]};
    return var != NULL;
}

/* s summed over the replicas; a replica whose s is NULL (it failed) still
 * takes part, so that every replica fails instead of waiting for it */
static tg_tensor *sum_over_replicas(tg_tape *t, tg_tensor *s, const tg_batchnorm_state *bn) {
    if (s) return tg_replica_sum(t, s, bn->sync);
    bn->sync->sum(bn->sync->user, bn->gamma->dtype, NULL, bn->gamma->shape[0], true);
    return NULL;
}

/* The same over the global batch, x NULL on a replica that failed before:
 * the shift is the replicas' first values averaged (the same constant on
 * every replica), count = sum_r count_r, and
 *   mean = s + sum_r sum(x_r - s) / count,
 *   var = sum_r sum((x_r - s)^2) / count - (mean - s)^2   (biased) */
static bool synchronised_stats(tg_tape *t, tg_tensor *x, tg_batchnorm_state *bn, batch_stats *stats) {
    const tg_replicas *r = bn->sync;
    double count = x ? (double)(x->numel / x->shape[1]) : 0;
    tg_status st = r->sum(r->user, TG_F64, &count, 1, !x);
    if (st) {
        tg_tape_fail(t, st, "tg_batchnorm: synchronised over %d replicas: %s", r->size, tg_last_error());
        return false;
    }
    if (count < 2) { /* the same count on every replica: all stop here */
        tg_tape_fail(t, TG_ERR_SHAPE,
                     "tg_batchnorm: training needs more than one value per channel, the %d replicas have %g in all",
                     r->size, count);
        return false;
    }
    int axes[TG_MAX_DIMS];
    int64_t stat_shape[TG_MAX_DIMS];
    int n_axes = statistic_axes(x->ndim, x->shape[1], axes, stat_shape);
    tg_tensor *first = first_values(t, x);
    bool was_enabled = tg_tape_set_grad_enabled(t, false); /* the shift is a constant */
    tg_tensor *s = tg_mul_scalar(t, sum_over_replicas(t, first, bn), 1.0 / r->size);
    tg_tape_set_grad_enabled(t, was_enabled);
    /* both local sums pending first: one pass over x computes them */
    tg_tensor *sums = s ? tg_sum(t, tg_sub(t, x, s), axes, n_axes, true) : NULL;
    tg_tensor *squares = s ? tg_sum(t, tg_square(t, tg_sub(t, x, s)), axes, n_axes, true) : NULL;
    tg_tensor *offset = s ? tg_mul_scalar(t, sum_over_replicas(t, sums, bn), 1.0 / count) : NULL; /* mean - s */
    squares = offset ? tg_mul_scalar(t, sum_over_replicas(t, squares, bn), 1.0 / count) : NULL;
    tg_tensor *var = tg_sub(t, squares, tg_square(t, offset)); /* biased */
    *stats = (batch_stats){tg_add(t, s, offset), var, (int64_t)count};
    return var != NULL;
}

/* y = normalized x (x NULL: a synchronised replica that failed takes part
 * in the sums and gives NULL); in training also the batch statistics. One
 * multiply-add per element, y = (x - mean) a + beta with a = gamma /
 * sqrt(var + eps) per channel (running statistics in evaluation); backward
 * then sums g, g (x - mean) and g a over x, in one pass. Centred on the
 * mean, not on the shift s: (x - s) a + (beta - (mean - s) a) would need
 * one sum fewer, but its gradient of a subtracts (mean - s) sum(g) from
 * sum(g (x - s)), which in f32 cancels most digits (a cnn trained on 2
 * ranks then ended 1.5% away from one process, against 5e-7 centred). */
static tg_tensor *normalize(tg_tape *t, tg_tensor *x, tg_batchnorm_state *bn, bool training, batch_stats *stats) {
    bool ok = !training || (bn->sync ? synchronised_stats(t, x, bn, stats) : local_stats(t, x, stats));
    if (!ok || !x) return NULL;
    int axes[TG_MAX_DIMS];
    int64_t stat_shape[TG_MAX_DIMS];
    statistic_axes(x->ndim, x->shape[1], axes, stat_shape);
    tg_tensor *gamma = tg_reshape(t, bn->gamma, x->ndim, stat_shape);
    tg_tensor *beta = tg_reshape(t, bn->beta, x->ndim, stat_shape);
    tg_tensor *var = training ? stats->var : tg_reshape(t, bn->running_var, x->ndim, stat_shape);
    tg_tensor *mean = training ? stats->mean : tg_reshape(t, bn->running_mean, x->ndim, stat_shape);
    tg_tensor *a = tg_mul(t, gamma, tg_rsqrt(t, tg_add_scalar(t, var, bn->eps)));
    return tg_add(t, tg_mul(t, tg_sub(t, x, mean), a), beta);
}

/* The input fits the state; false + tape error if not. */
static bool check_input(tg_tape *t, tg_tensor *x, const tg_batchnorm_state *bn, bool training) {
    if (!tg_check_inputs(t, "tg_batchnorm", 1, &x)) return false;
    const tg_tensor *state[4] = {bn->gamma, bn->beta, bn->running_mean, bn->running_var};
    if (x->ndim < 2) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_batchnorm: input %s must be [N,C] or [N,C,...]", TG_DESC(x));
        return false;
    }
    for (int i = 0; i < 4; i++) {
        if (state[i]->ndim != 1 || state[i]->shape[0] != x->shape[1] || state[i]->dtype != x->dtype) {
            tg_tape_fail(t, TG_ERR_SHAPE, "tg_batchnorm: input %s has %lld channels, the state has %s", TG_DESC(x),
                         (long long)x->shape[1], TG_DESC(state[i]));
            return false;
        }
    }
    /* synchronised: the count over every replica decides (synchronised_stats) */
    if (training && !bn->sync && x->numel / (x->shape[1] ? x->shape[1] : 1) < 2) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_batchnorm: training needs more than one value per channel, input is %s",
                     TG_DESC(x));
        return false;
    }
    return true;
}

tg_tensor *tg_batchnorm(tg_tape *t, tg_tensor *x, tg_batchnorm_state *bn, bool training) {
    if (!bn || !bn->gamma || !bn->beta || !bn->running_mean || !bn->running_var) {
        if (!tg_check_inputs(t, "tg_batchnorm", 1, &x)) return NULL;
        tg_tape_fail(t, TG_ERR_ARG, "tg_batchnorm: state is not initialised (tg_batchnorm_init)");
        return NULL;
    }
    bool valid = check_input(t, x, bn, training);
    bool collective = training && bn->sync;
    if (!valid && !collective) return NULL;
    /* a synchronised batchnorm takes part in its sums even when it failed */
    bool scoped = tg_tape_push_scope(t, "batchnorm") == TG_OK;
    batch_stats stats = {0};
    tg_fuse_begin(t); /* one pass for the statistics, one for y (ops/fusion.h) */
    tg_tensor *y = normalize(t, valid && scoped ? x : NULL, bn, training, &stats);
    /* update_running reads the statistics: computed now, y when the outermost scope ends */
    if (y && training && tg_fuse_realize(t, 2, (tg_tensor *[]){stats.mean, stats.var})) y = NULL;
    if (tg_fuse_end(t, y ? 1 : 0, &y)) y = NULL;
    if (scoped) tg_tape_pop_scope(t);
    if (!valid || !scoped || !y) return NULL;
    if (training) update_running(bn, stats.mean, stats.var, stats.count);
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
static tg_tensor *apply(tg_tape *t, tg_tensor **in, bool training, const tg_replicas *sync) {
    tg_dtype dtype = in[0] && !tg_tape_check_tensor(t, in[0]) ? in[0]->dtype : TG_F64; /* tg_batchnorm reports */
    tg_batchnorm_state bn = {in[1], in[2], tg_full(t, dtype, TG_SHAPE(3), 0.2), tg_full(t, dtype, TG_SHAPE(3), 1.7),
                             0.1, 1e-5, 0, sync};
    return tg_batchnorm(t, in[0], &bn, training);
}
static tg_tensor *apply_train(tg_tape *t, tg_tensor **in) { return apply(t, in, true, NULL); }
static tg_tensor *apply_eval(tg_tape *t, tg_tensor **in) { return apply(t, in, false, NULL); }
/* the synchronised composite (the replica sums) of a process alone */
static tg_tensor *apply_synchronised(tg_tape *t, tg_tensor **in) { return apply(t, in, true, tg_replicas_single()); }

const tg_op_spec tg_spec_batchnorm_train = {"batchnorm(train)", "tg_batchnorm", 3, sample_train, apply_train};
const tg_op_spec tg_spec_batchnorm_eval = {"batchnorm(eval)", "tg_batchnorm", 3, sample_eval, apply_eval};
const tg_op_spec tg_spec_batchnorm_synchronised = {"batchnorm(train,synchronised)", "tg_batchnorm", 3, sample_train,
                                                   apply_synchronised};
