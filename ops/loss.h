/* Losses: composites of primitives, each in its own tape scope. All return a
 * scalar, the mean over the batch (PyTorch's reduction='mean'). */
#ifndef TG_OPS_LOSS_H
#define TG_OPS_LOSS_H

#include "core/tape.h"

/* mean((pred - target)^2); pred and target of the same shape.  Scope "mse". */
tg_tensor *tg_mse(tg_tape *t, tg_tensor *pred, tg_tensor *target);

/* -mean_i log_softmax(logits)[i, labels[i]]; logits [N,C], labels n = N
 * integers in [0, C).  Scope "cross_entropy". */
tg_tensor *tg_cross_entropy(tg_tape *t, tg_tensor *logits, int64_t n, const int64_t *labels);

/* mean(log(1 + e^x) - x*y), x logits, y targets in [0,1] of the same shape:
 * binary cross entropy on sigmoid(x) in a stable form; gradient sigmoid(x) - y.
 * Scope "bce_with_logits". */
tg_tensor *tg_bce_with_logits(tg_tape *t, tg_tensor *logits, tg_tensor *targets);

#endif
