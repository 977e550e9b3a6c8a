/* Data movement shared by the shape and indexing ops (private to ops/):
 * a tensor seen around one axis, and parallel copies of contiguous blocks. */
#ifndef TG_OPS_BLOCKS_H
#define TG_OPS_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

/* x viewed as [outer, shape[axis], inner]: outer = prod shape[:axis],
 * inner = prod shape[axis+1:]. */
void tg_axis_view(int ndim, const int64_t *shape, int axis, int64_t *outer, int64_t *inner);

/* For b < count: dst[b*dst_stride .. +len) = src[b*src_stride .. +len), in
 * elements of elem_size bytes; src NULL writes zeros. Each block is one memcpy
 * (or memset); above TG_PARALLEL_MIN elements blocks (and long blocks' pieces)
 * are spread over threads. */
void tg_copy_blocks(void *dst, int64_t dst_stride, const void *src, int64_t src_stride, int64_t count, int64_t len,
                    size_t elem_size);

#endif
