/* Reductions over all elements (axes NULL, n_axes 0) or over a list of axes
 * (negative axes count from the end; each at most once; a negative n_axes is
 * an error). keepdim keeps reduced axes as size 1.
 * Results are deterministic: each output is summed in a fixed order whatever
 * the thread count. */
#ifndef TG_OPS_REDUCE_H
#define TG_OPS_REDUCE_H

#include "core/tape.h"

tg_tensor *tg_sum(tg_tape *t, tg_tensor *x, const int *axes, int n_axes, bool keepdim);  /* sum */
tg_tensor *tg_mean(tg_tape *t, tg_tensor *x, const int *axes, int n_axes, bool keepdim); /* sum / count */
/* max / min (torch.amax / amin): NaN if any reduced element is NaN; tied
 * extrema share the gradient evenly; reducing an empty axis is an error. */
tg_tensor *tg_max(tg_tape *t, tg_tensor *x, const int *axes, int n_axes, bool keepdim);  /* max */
tg_tensor *tg_min(tg_tape *t, tg_tensor *x, const int *axes, int n_axes, bool keepdim);  /* min */
/* log sum exp x = m + log sum exp(x - m), m = max x (no overflow); -inf over
 * an empty axis (torch.logsumexp). Gradient g * exp(x - y) = g * softmax(x). */
tg_tensor *tg_logsumexp(tg_tape *t, tg_tensor *x, const int *axes, int n_axes, bool keepdim);
/* Composite: sum (x - mean x)^2 / (count - 1) if unbiased (torch.var,
 * correction=1: NaN for one element), / count if not. Recorded in scope "var". */
tg_tensor *tg_var(tg_tape *t, tg_tensor *x, const int *axes, int n_axes, bool keepdim, bool unbiased);

/* Sum x down to `shape`, which x's shape broadcasts from (the adjoint of
 * broadcast_to): [N,C] -> [C], [N,C] -> [1,C]. */
tg_tensor *tg_sum_to(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape);
/* Stretch x to `shape` under NumPy broadcasting: [C] -> [N,C]. */
tg_tensor *tg_broadcast_to(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape);

#endif
