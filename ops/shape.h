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

/* ---- slicing and joining (copies; negative axes count from the end) ---- */
/* y = x[..., start:end, ...] along axis, Python slicing: negative start/end
 * count from the end, both clamp to [0, size], end <= start gives an empty axis.
 * [4,6] (axis 1, 1, -1) -> [4,4]. Adjoint of tg_pad. */
tg_tensor *tg_slice(tg_tape *t, tg_tensor *x, int axis, int64_t start, int64_t end);
/* y = [0 * before, x, 0 * after] along axis: [4,6] (axis 0, 1, 2) -> [7,6].
 * before, after >= 0. Adjoint of tg_slice. */
tg_tensor *tg_pad(tg_tape *t, tg_tensor *x, int axis, int64_t before, int64_t after);
/* y = [xs[0], ..., xs[n-1]] along axis (torch.cat): shapes equal outside axis,
 * n >= 1. [2,1,3] [2,2,3] (axis 1) -> [2,3,3]. Gradient: slices of g. */
tg_tensor *tg_concat(tg_tape *t, int n, tg_tensor *const *xs, int axis);

/* ---- indexing (index arrays are copied; a value out of range is an error) ---- */
/* y[..., i, ...] = x[..., index[i], ...] along axis, 0 <= index[i] < x.shape[axis],
 * repeats allowed (torch.index_select; an embedding lookup with axis 0):
 * [V,E] (axis 0, n indices) -> [n,E]. Adjoint of tg_index_add. */
tg_tensor *tg_index_select(tg_tape *t, tg_tensor *x, int axis, int64_t n, const int64_t *index);
/* y = zeros with `size` along axis; y[..., index[i], ...] += x[..., i, ...],
 * x.shape[axis] = n, 0 <= index[i] < size; repeated indices accumulate, in
 * increasing i (deterministic). [n,E] (axis 0, size V) -> [V,E]. */
tg_tensor *tg_index_add(tg_tape *t, tg_tensor *x, int axis, int64_t size, int64_t n, const int64_t *index);
/* torch.gather: y has index's shape (ndim = x.ndim, index_shape[d] <= x.shape[d]
 * for d != axis), y[i][j] = x[i][index[i][j]] for axis 1 (likewise for any
 * axis and rank); index holds prod(index_shape) values in [0, x.shape[axis]),
 * row-major. Cross-entropy's pick: x [N,C], index [N,1] -> [N,1].
 * Adjoint of tg_scatter_add. */
tg_tensor *tg_gather(tg_tape *t, tg_tensor *x, int axis, int ndim, const int64_t *index_shape,
                     const int64_t *index);
/* y = zeros(out_shape) (out_shape has src.ndim sizes, out_shape[d] >= src.shape[d]
 * for d != axis); y[i][index[i][j]] += src[i][j] for axis 1 (likewise for any
 * axis); index has src's shape, values in [0, out_shape[axis]); repeats
 * accumulate in a fixed order (torch.scatter_add with index shaped like src). */
tg_tensor *tg_scatter_add(tg_tape *t, tg_tensor *src, int axis, const int64_t *out_shape, const int64_t *index);

/* ---- dtype ---- */
/* y = (dtype) x, f32 <-> f64; the gradient is cast back to x's dtype. Always a
 * new tensor on t: to x's own dtype it is a recorded copy (torch's .to()
 * would return x itself). */
tg_tensor *tg_cast(tg_tape *t, tg_tensor *x, tg_dtype dtype);

#endif
