/* The one operation that crosses replicas (core/replicas.h): a sum of a
 * tensor over every rank of a data-parallel run. Synchronised batchnorm
 * (ops/nn.h) builds its global batch statistics from it; it is an ordinary
 * recorded op, so the gradient flows back through the reduction. */
#ifndef TG_OPS_REPLICA_H
#define TG_OPS_REPLICA_H

#include "core/replicas.h"
#include "core/tape.h"

/* y = sum over replicas r of x_r, the same shape as x and the same bits on
 * every replica. Every replica uses y, so dL/dx_r = sum over replicas of
 * dL_r'/dy: the backward rule is this op again. COLLECTIVE (r->sum): every
 * replica records it at the same point of its forward pass. With
 * tg_replicas_single() it is the identity. NULL + tape error on a NULL
 * input (no collective: the caller must still take part, see r->sum's
 * `failed`) or when a replica failed. */
tg_tensor *tg_replica_sum(tg_tape *t, tg_tensor *x, const tg_replicas *r);

#endif
