/* Loss composites: mse, cross_entropy, bce_with_logits. */
#include "ops/loss.h"

#include "ops/elementwise.h"
#include "ops/kernel.h"
#include "ops/reduce.h"
#include "ops/registry.h"
#include "ops/shape.h"
#include "ops/softmax.h"
#include "ops/unary.h"

static bool same_shape_or_fail(tg_tape *t, const char *who, tg_tensor *a, tg_tensor *b) {
    tg_tensor *in[2] = {a, b};
    if (!tg_check_inputs(t, who, 2, in)) return false;
    if (!tg_same_shape(a, b)) {
        tg_tape_fail(t, TG_ERR_SHAPE, "%s: shapes differ: %s and %s", who, TG_DESC(a), TG_DESC(b));
        return false;
    }
    return true;
}

tg_tensor *tg_mse(tg_tape *t, tg_tensor *pred, tg_tensor *target) {
    if (!same_shape_or_fail(t, "tg_mse", pred, target)) return NULL;
    tg_tensor *y;
    TG_IN_FUSED_SCOPE(t, "mse", y, tg_mean(t, tg_square(t, tg_sub(t, pred, target)), NULL, 0, false));
    return y;
}

/* picked[i] = log_softmax(logits)[i, labels[i]] via gather with index [N,1] */
static tg_tensor *cross_entropy(tg_tape *t, tg_tensor *logits, int64_t n, const int64_t *labels) {
    tg_tensor *logp = tg_log_softmax(t, logits, 1);
    tg_tensor *picked = tg_gather(t, logp, 1, 2, (const int64_t[]){n, 1}, labels);
    return tg_neg(t, tg_mean(t, picked, NULL, 0, false));
}

tg_tensor *tg_cross_entropy(tg_tape *t, tg_tensor *logits, int64_t n, const int64_t *labels) {
    if (!tg_check_inputs(t, "tg_cross_entropy", 1, &logits)) return NULL;
    if (!labels && n > 0) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_cross_entropy: labels is NULL (%lld labels expected for logits %s)",
                     (long long)n, TG_DESC(logits));
        return NULL;
    }
    if (logits->ndim != 2 || n != logits->shape[0]) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_cross_entropy: logits %s must be [N,C] with N = %lld labels", TG_DESC(logits),
                     (long long)n);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= logits->shape[1]) {
            tg_tape_fail(t, TG_ERR_ARG, "tg_cross_entropy: label %lld of sample %lld is outside [0, %lld) for logits %s",
                         (long long)labels[i], (long long)i, (long long)logits->shape[1], TG_DESC(logits));
            return NULL;
        }
    }
    tg_tensor *y;
    TG_IN_SCOPE(t, "cross_entropy", y, cross_entropy(t, logits, n, labels));
    return y;
}

/* softplus(x) - x*y: equal to max(x,0) - x*y + log(1 + e^-|x|), but smooth at
 * x = 0, so the gradient there is sigmoid(0) - y as it should be (a model whose
 * last layer starts at zero sits exactly there) */
static tg_tensor *bce(tg_tape *t, tg_tensor *x, tg_tensor *y) {
    return tg_mean(t, tg_sub(t, tg_softplus(t, x), tg_mul(t, x, y)), NULL, 0, false);
}

tg_tensor *tg_bce_with_logits(tg_tape *t, tg_tensor *logits, tg_tensor *targets) {
    if (!same_shape_or_fail(t, "tg_bce_with_logits", logits, targets)) return NULL;
    tg_tensor *y;
    TG_IN_FUSED_SCOPE(t, "bce_with_logits", y, bce(t, logits, targets));
    return y;
}

/* ---- registry entries ---- */
static tg_status sample_pair(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(4, 3), 0.1, 2.0);
    in[1] = tg_sample_uniform(t, rng, dt, TG_SHAPE(4, 3), 0.05, 0.95);
    return tg_tape_status(t);
}
static tg_status sample_logits(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(4, 5), 0.1, 2.0);
    return tg_tape_status(t);
}
static tg_tensor *apply_mse(tg_tape *t, tg_tensor **in) { return tg_mse(t, in[0], in[1]); }
static tg_tensor *apply_bce(tg_tape *t, tg_tensor **in) { return tg_bce_with_logits(t, in[0], in[1]); }
static tg_tensor *apply_cross_entropy(tg_tape *t, tg_tensor **in) {
    return tg_cross_entropy(t, in[0], 4, (const int64_t[]){2, 0, 4, 2});
}

const tg_op_spec tg_spec_mse = {"mse", "tg_mse", 2, sample_pair, apply_mse};
const tg_op_spec tg_spec_cross_entropy = {"cross_entropy", "tg_cross_entropy", 1, sample_logits, apply_cross_entropy};
const tg_op_spec tg_spec_bce_with_logits = {"bce_with_logits", "tg_bce_with_logits", 2, sample_pair, apply_bce};
