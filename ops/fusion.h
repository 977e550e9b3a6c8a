/* Fusion: a chain of pointwise ops (elementwise and broadcasting ops, ops
 * with a scalar, where, mul_add, broadcast_to) and the sums or means that end
 * it, computed in ONE pass over memory instead of one pass per op. How it
 * works: docs/fusion.md.
 *
 *   tg_fuse_begin(t);
 *   tg_tensor *y = tg_relu(t, tg_add(t, tg_mul(t, x, a), b)); // nothing computed yet
 *   tg_fuse_end(t, 1, &y);                                     // one pass: reads x, writes y
 *
 * Inside a scope a pointwise op returns a PENDING tensor: its shape, dtype and
 * requires_grad are set at once, its ->data stays NULL until a pass computes
 * it, which happens when something needs the values: an op that is not
 * pointwise (matmul, reshape, softmax, ...), a pointwise op of a larger shape
 * that it broadcasts into, tg_fuse_realize, or the end of the outermost scope.
 * A pass computes each value with the op's own kernel in the same order, so
 * the results are bit for bit those of the ops run one by one. It is recorded
 * as ONE node (op "fused", its description lists the steps) whose backward
 * rule runs the steps' own backward rules, themselves fused: gradients still
 * come from the primitives, and second derivatives work as before.
 *
 * Composites (batchnorm, l2_penalty, var, mse, bce_with_logits) fuse by
 * themselves, and every backward pass runs fused. Your own forward pass can
 * be one scope: values that feed matmul or another non-pointwise op are
 * computed when it runs, everything else stays in registers.
 *
 * Rules: a tensor made inside a scope and not named in tg_fuse_end or
 * tg_fuse_realize keeps ->data NULL: pass it to ops, but do not read it
 * (tg_get, ->data) before realizing it. Do not change a tensor in place while
 * a pending value still reads it: the pass that computes the value fails with
 * an error that says so. */
#ifndef TG_OPS_FUSION_H
#define TG_OPS_FUSION_H

#include <stdint.h>

#include "core/tape.h"

/* Opens a fusion scope on t (scopes nest). */
tg_status tg_fuse_begin(tg_tape *t);
/* Closes the scope; when it was the outermost one, computes results[0..n)
 * (n may be 0) in as few passes as their shapes allow. */
tg_status tg_fuse_end(tg_tape *t, int n, tg_tensor *const *results);
/* Computes the pending tensors among xs[0..n) now (others are left alone). */
tg_status tg_fuse_realize(tg_tape *t, int n, tg_tensor *const *xs);
/* True while x's values are not computed yet. */
bool tg_is_pending(const tg_tensor *x);

/* Pointwise ops on fewer than min_elements elements compute at once even in
 * a scope: a pass over a few thousand elements saves less than it costs.
 * 0 fuses every size; TG_FUSION_OFF fuses nothing (the unfused path, for
 * comparisons). Process-wide, like tg_set_num_threads; default TG_FUSION_MIN. */
#define TG_FUSION_MIN 4096
#define TG_FUSION_OFF INT64_MAX
void tg_set_fusion_min(int64_t min_elements);
int64_t tg_fusion_min(void);

/* For the engine: true when `sum` is a pending sum of the pending `values`. */
bool tg_fuse_sums(const tg_tensor *sum, const tg_tensor *values);

/* For the engine: computes the pending xs[i] straight into dsts[i] (numel
 * elements of x's dtype), adding to what is there where adds[i]; nothing is
 * recorded and xs stay pending. */
tg_status tg_fuse_realize_into(tg_tape *t, int n, tg_tensor *const *xs, void *const *dsts, const bool *adds);
/* For the engine: calls leaf(context, y) for each computed tensor y that x
 * reads: x itself when computed, else the leaves of its pending expression
 * (through pending inputs of every kind). `visit` is a number new to this
 * call (steps seen by it are skipped, so shared parts are walked once). */
void tg_fuse_visit_leaves(tg_tensor *x, uint64_t visit, void (*leaf)(void *context, const tg_tensor *y),
                          void *context);

#endif
