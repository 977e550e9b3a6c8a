/* Shape operations: reshape, transpose/permute, slice, concat, indexing, cast. */
#ifndef TG_OPS_SHAPE_H
#define TG_OPS_SHAPE_H

#include "core/tape.h"

/* Same elements in a new shape; one dimension may be -1 (inferred).
 * Shares x's storage (tensors are contiguous). */
tg_tensor *tg_reshape(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape);

/* y.shape[i] = x.shape[perm[i]]: [N,C,H] (0,2,1) -> [N,H,C]. Copies. */
tg_tensor *tg_permute(tg_tape *t, tg_tensor *x, const int *perm);
/* Swaps two axes (negative axes count from the end): [B,M,N] (-2,-1) -> [B,N,M]. */
tg_tensor *tg_transpose(tg_tape *t, tg_tensor *x, int axis0, int axis1);

#endif
