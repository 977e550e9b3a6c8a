/* Axis views and parallel block copies (see ops/blocks.h). */
#include "ops/blocks.h"

#include <string.h>

#include "core/parallel.h"

/* Long blocks are cut into pieces of this many elements so that one huge
 * block (outer = 1) still spreads over threads. */
enum { PIECE = 16384 };

void tg_axis_view(int ndim, const int64_t *shape, int axis, int64_t *outer, int64_t *inner) {
    int64_t o = 1, i = 1;
    for (int d = 0; d < axis; d++) o *= shape[d];
    for (int d = axis + 1; d < ndim; d++) i *= shape[d];
    *outer = o;
    *inner = i;
}

void tg_copy_blocks(void *dst, int64_t dst_stride, const void *src, int64_t src_stride, int64_t count, int64_t len,
                    size_t elem_size) {
    if (count <= 0 || len <= 0) return;
    int64_t pieces = (len + PIECE - 1) / PIECE;
    int64_t tasks = count * pieces;
    TG_PARALLEL_FOR_WORK(task, tasks, count * len, {
        int64_t b = task / pieces, start = (task % pieces) * PIECE;
        int64_t n = len - start < PIECE ? len - start : PIECE;
        char *d = (char *)dst + (size_t)(b * dst_stride + start) * elem_size;
        if (src)
            memcpy(d, (const char *)src + (size_t)(b * src_stride + start) * elem_size, (size_t)n * elem_size);
        else
            memset(d, 0, (size_t)n * elem_size); /* all-zero bits are 0.0 in IEEE 754 */
    });
}
