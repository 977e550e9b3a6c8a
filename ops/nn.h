/* Neural-network composites: ordinary C functions that call primitives inside
 * a named tape scope. The engine knows nothing special about them: their
 * gradients come from the primitives' backward rules, so forward and
 * backward cannot drift apart. */
#ifndef TG_OPS_NN_H
#define TG_OPS_NN_H

#include "core/params.h"
#include "core/replicas.h"
#include "core/tape.h"

/* y = x @ W + b.  x [N,in] or [B,N,in], W [in,out], b [out] or NULL.  Scope "linear". */
tg_tensor *tg_linear(tg_tape *t, tg_tensor *x, tg_tensor *W, tg_tensor *b);

/* lambda/2 * sum over the tensors of sum(w^2), so d/dw = lambda * w (the same
 * as SGD's weight_decay = lambda).  Scope "l2_penalty". The tensors may mix
 * f32 and f64: each dtype is summed in its own, and the result is then f64
 * (PyTorch's type promotion), otherwise of the tensors' dtype. */
tg_tensor *tg_l2_penalty_of(tg_tape *t, int n, tg_tensor *const *tensors, double lambda);
/* The same over every trainable parameter of the store. */
tg_tensor *tg_l2_penalty(tg_tape *t, const tg_params *p, double lambda);

/* Batch normalization, exactly PyTorch's BatchNorm1d/2d: per channel C of an
 * input [N,C] or [N,C,...],
 *   training:   y = (x - mean_b) / sqrt(var_b + eps) * gamma + beta, with the batch
 *               mean and BIASED batch variance over every axis but 1; then, outside
 *               the graph, running = (1 - momentum) * running + momentum * batch
 *               (running_var takes the UNBIASED batch variance);
 *   evaluation: the same with running_mean and running_var.
 * The batch statistics come from one pass over x, shifted by x's first
 * values s (a constant): mean = s + mean(x - s), var = mean((x - s)^2) -
 * (mean - s)^2, exact for any s; with s one of the n values of a channel,
 * (mean - s)^2 <= n var, so the subtraction loses at most log2(n) bits of
 * var in the worst case (a shift of 0 could lose them all). y is then one
 * multiply-add per element, y = (x - mean) a + beta with per-channel a =
 * gamma / sqrt(var + eps); the backward pass sums g, g (x - mean) and g a
 * over x in one read and reads x once more for dx.
 * gamma starts at 1, beta at 0, running_mean at 0, running_var at 1.  Scope "batchnorm". */
typedef struct tg_batchnorm_state {
    tg_tensor *gamma, *beta;               /* [C] trainable */
    tg_tensor *running_mean, *running_var; /* [C] buffers (stored, checkpointed) */
    double momentum;                       /* 0.1 */
    double eps;                            /* 1e-5 */
    int64_t num_batches_tracked;
    /* Synchronised batchnorm (PyTorch's SyncBatchNorm), for data-parallel
     * training: NULL computes the statistics over this process's batch; a
     * tg_replicas (dist/: tg_dist_replicas) computes them over the global
     * batch, the union of every replica's: the sums over the local batch go
     * through tg_replica_sum (ops/replica.h), so the gradient flows back
     * across replicas and the run computes the same function as one process
     * with the whole batch. In training it is COLLECTIVE: every replica makes
     * the same tg_batchnorm calls, also after an earlier op failed (pass the
     * NULL along; the call then takes part and every replica fails). */
    const tg_replicas *sync;
} tg_batchnorm_state;

/* Creates (or finds) "<name>.weight", "<name>.bias" (parameters) and
 * "<name>.running_mean", "<name>.running_var" (buffers) in p. */
tg_status tg_batchnorm_init(tg_batchnorm_state *bn, tg_params *p, const char *name, tg_dtype dtype,
                            int64_t channels);
tg_tensor *tg_batchnorm(tg_tape *t, tg_tensor *x, tg_batchnorm_state *bn, bool training);

#endif
