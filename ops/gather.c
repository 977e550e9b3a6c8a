/* gather (torch.gather) and its adjoint scatter_add (torch.scatter_add with
 * index shaped like src). For axis 1 of 2-d tensors:
 *   gather:      y[i][j] = x[i][index[i][j]]        y, index: [N,K]; x: [N',C], N <= N'
 *   scatter_add: y[i][index[i][j]] += src[i][j]     src, index: [N,K]; y: out_shape
 * The "small" tensor (index-shaped) is viewed as [outer, len, inner] around
 * the axis; the "big" one (gather's x, scatter's y) is at least as large
 * outside the axis. Elements with the same outer and inner position form a
 * fiber: they only meet each other, which is what makes scatter_add
 * deterministic without atomics. */
#include <stdio.h>
#include <string.h>

#include "ops/blocks.h"
#include "ops/describe.h"
#include "ops/kernel.h"
#include "ops/registry.h"
#include "ops/shape.h"

typedef struct {
    int axis;
    const int64_t *index; /* shaped like gather's output / scatter's source; in the arena */
} gather_attrs;

/* Offsets into the big tensor for positions of the small one. */
typedef struct {
    int axis;
    const int64_t *small;
    int64_t outer, len, inner;
    int64_t big_stride[TG_MAX_DIMS];
    const int64_t *inner_offset; /* per inner position; NULL when the shapes agree after axis (offset k) */
} fiber_map;

static bool fiber_map_make(tg_tape *t, fiber_map *m, int ndim, int axis, const int64_t *small, const int64_t *big) {
    m->axis = axis;
    m->small = small;
    tg_axis_view(ndim, small, axis, &m->outer, &m->inner);
    m->len = small[axis];
    int64_t s = 1;
    bool same_inner = true;
    for (int d = ndim - 1; d >= 0; d--) {
        m->big_stride[d] = s;
        s *= big[d];
        if (d > axis && small[d] != big[d]) same_inner = false;
    }
    m->inner_offset = NULL;
    if (same_inner) return true;
    int64_t *table = tg_tape_alloc(t, sizeof(int64_t) * (size_t)m->inner);
    if (!table) return false;
    for (int64_t k = 0; k < m->inner; k++) {
        int64_t off = 0, rest = k;
        for (int d = ndim - 1; d > axis; d--) {
            off += (rest % small[d]) * m->big_stride[d];
            rest /= small[d];
        }
        table[k] = off;
    }
    m->inner_offset = table;
    return true;
}

/* Offset in the big tensor of outer position o. */
static inline int64_t outer_offset(const fiber_map *m, int64_t o) {
    int64_t off = 0;
    for (int d = m->axis - 1; d >= 0; d--) {
        off += (o % m->small[d]) * m->big_stride[d];
        o /= m->small[d];
    }
    return off;
}

#define INNER_OFFSET(m, k) ((m)->inner_offset ? (m)->inner_offset[k] : (k))

/* y[o, j, k] = x[outer(o) + index[o, j, k] * stride(axis) + inner(k)]; one task per (o, j) */
#define GATHER(NAME, T)                                                                          \
    static void NAME(const fiber_map *m, const T *x, const int64_t *index, T *y) {               \
        int64_t as = m->big_stride[m->axis], inner = m->inner;                                   \
        TG_PARALLEL_FOR_WORK(task, m->outer * m->len, m->outer * m->len * inner, {               \
            int64_t base = outer_offset(m, task / m->len);                                       \
            const int64_t *idx = index + task * inner;                                           \
            T *restrict out = y + task * inner;                                                  \
            for (int64_t k = 0; k < inner; k++) out[k] = x[base + idx[k] * as + INNER_OFFSET(m, k)]; \
        });                                                                                          \
    }
GATHER(gather_f32, float)
GATHER(gather_f64, double)

enum { INNER_BLOCK = 1024 };

/* y[outer(o) + index[o, j, k] * stride(axis) + inner(k)] += src[o, j, k]; one task per
 * (o, block of k), j in increasing order inside: each fiber is summed in a fixed order. */
#define SCATTER_ADD(NAME, T)                                                                       \
    static void NAME(const fiber_map *m, const T *src, const int64_t *index, T *y) {               \
        int64_t as = m->big_stride[m->axis], inner = m->inner, len = m->len;                       \
        int64_t blocks = (inner + INNER_BLOCK - 1) / INNER_BLOCK;                                  \
        TG_PARALLEL_FOR_WORK(task, m->outer * blocks, m->outer * len * inner, {                    \
            int64_t o = task / blocks, k0 = (task % blocks) * INNER_BLOCK;                         \
            int64_t k1 = inner - k0 < INNER_BLOCK ? inner : k0 + INNER_BLOCK;                      \
            int64_t base = outer_offset(m, o);                                                     \
            for (int64_t j = 0; j < len; j++) {                                                    \
                int64_t row = (o * len + j) * inner;                                               \
                for (int64_t k = k0; k < k1; k++)                                                  \
                    y[base + index[row + k] * as + INNER_OFFSET(m, k)] += src[row + k];            \
            }                                                                                      \
        });                                                                                        \
    }
SCATTER_ADD(scatter_add_f32, float)
SCATTER_ADD(scatter_add_f64, double)

/* Checks small <= big outside axis and 0 <= index < big[axis], then copies the
 * index into the arena. small_desc / big_desc name the two for messages. */
static const int64_t *check_index(tg_tape *t, const char *who, int ndim, int axis, const int64_t *small,
                                  const int64_t *big, const int64_t *index, const char *small_desc,
                                  const char *big_desc) {
    for (int d = 0; d < ndim; d++) {
        if (d != axis && small[d] > big[d]) {
            tg_tape_fail(t, TG_ERR_SHAPE, "%s: %s is larger than %s outside axis %d", who, small_desc, big_desc, axis);
            return NULL;
        }
    }
    int64_t n = tg_shape_numel(ndim, small);
    if (n > 0 && !index) {
        tg_tape_fail(t, TG_ERR_ARG, "%s: index is NULL for %s", who, small_desc);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        if (index[i] < 0 || index[i] >= big[axis]) {
            tg_tape_fail(t, TG_ERR_ARG, "%s: index value %lld (element %lld of %s) is out of range for axis %d of %s",
                         who, (long long)index[i], (long long)i, small_desc, axis, big_desc);
            return NULL;
        }
    }
    int64_t *copy = tg_tape_alloc(t, sizeof(int64_t) * (size_t)n);
    if (copy && n) memcpy(copy, index, sizeof(int64_t) * (size_t)n);
    return copy;
}

/* d gather = scatter_add of g into x's shape */
static tg_status gather_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const gather_attrs *at = node->attrs;
    gi[0] = tg_scatter_add(t, g, at->axis, node->inputs[0]->shape, at->index);
    return tg_tape_status(t);
}
/* "axis=1 index[6]#1a2b3c4d" for an index of n values */
static int describe_index(const tg_node *node, int64_t n, char *buf, size_t size) {
    const gather_attrs *at = node->attrs;
    tg_text s = tg_text_on(buf, size);
    tg_text_printf(&s, "axis=%d ", at->axis);
    tg_text_index(&s, n, at->index);
    return tg_text_length(&s);
}
/* gather's index is shaped like its output */
static int gather_describe(const tg_node *node, char *buf, size_t size) {
    return describe_index(node, node->output->numel, buf, size);
}
static const tg_op gather_op = {"gather", 1, gather_backward, gather_describe};

tg_tensor *tg_gather(tg_tape *t, tg_tensor *x, int axis, int ndim, const int64_t *index_shape,
                     const int64_t *index) {
    if (!tg_check_inputs(t, "tg_gather", 1, &x)) return NULL;
    int a;
    if (!tg_check_axis(t, "tg_gather", x, axis, &a)) return NULL;
    if (ndim != x->ndim || !index_shape) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_gather: index has %d dimensions%s, %s has %d", ndim,
                     index_shape ? "" : " and no shape", TG_DESC(x), x->ndim);
        return NULL;
    }
    if (tg_check_shape("tg_gather", ndim, index_shape)) {
        tg_tape_fail(t, TG_ERR_SHAPE, "%s", tg_last_error());
        return NULL;
    }
    char small[128];
    snprintf(small, sizeof small, "index %s", tg_shape_str(ndim, index_shape, (char[96]){0}, 96));
    gather_attrs at = {a, check_index(t, "tg_gather", ndim, a, index_shape, x->shape, index, small, TG_DESC(x))};
    if (!at.index) return NULL;
    fiber_map m;
    tg_tensor *y = tg_tape_result(t, x->dtype, ndim, index_shape);
    if (!y || !fiber_map_make(t, &m, ndim, a, index_shape, x->shape)) return NULL;
    if (y->numel) {
        if (x->dtype == TG_F32)
            gather_f32(&m, x->data, at.index, y->data);
        else
            gather_f64(&m, x->data, at.index, y->data);
    }
    return tg_tape_record(t, &gather_op, 1, &x, y, &at, sizeof at);
}

/* d scatter_add = gather of g at the same positions */
static tg_status scatter_add_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const gather_attrs *at = node->attrs;
    const tg_tensor *src = node->inputs[0];
    gi[0] = tg_gather(t, g, at->axis, src->ndim, src->shape, at->index);
    return tg_tape_status(t);
}
/* scatter_add's index is shaped like its source */
static int scatter_add_describe(const tg_node *node, char *buf, size_t size) {
    return describe_index(node, node->inputs[0]->numel, buf, size);
}
static const tg_op scatter_add_op = {"scatter_add", 1, scatter_add_backward, scatter_add_describe};

tg_tensor *tg_scatter_add(tg_tape *t, tg_tensor *src, int axis, const int64_t *out_shape, const int64_t *index) {
    if (!tg_check_inputs(t, "tg_scatter_add", 1, &src)) return NULL;
    int a;
    if (!tg_check_axis(t, "tg_scatter_add", src, axis, &a)) return NULL;
    if (!out_shape) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_scatter_add: out_shape is NULL for source %s", TG_DESC(src));
        return NULL;
    }
    if (tg_check_shape("tg_scatter_add", src->ndim, out_shape)) {
        tg_tape_fail(t, TG_ERR_SHAPE, "%s", tg_last_error());
        return NULL;
    }
    char small[128], big[128];
    snprintf(small, sizeof small, "source %s", TG_DESC(src));
    snprintf(big, sizeof big, "the output %s%s", tg_dtype_name(src->dtype),
             tg_shape_str(src->ndim, out_shape, (char[96]){0}, 96));
    gather_attrs at = {a, check_index(t, "tg_scatter_add", src->ndim, a, src->shape, out_shape, index, small, big)};
    if (!at.index) return NULL;
    fiber_map m;
    tg_tensor *y = tg_tape_result(t, src->dtype, src->ndim, out_shape);
    if (!y || !fiber_map_make(t, &m, src->ndim, a, src->shape, out_shape)) return NULL;
    tg_copy_blocks(y->data, 0, NULL, 0, 1, y->numel, tg_dtype_size(y->dtype));
    if (src->numel) {
        if (src->dtype == TG_F32)
            scatter_add_f32(&m, src->data, at.index, y->data);
        else
            scatter_add_f64(&m, src->data, at.index, y->data);
    }
    return tg_tape_record(t, &scatter_add_op, 1, &src, y, &at, sizeof at);
}

/* ---- registry entries ---- */
/* axis 1, index [3,2] into [3,4] (row 1 picks column 1 twice) */
static const int64_t PICK[6] = {3, 0, 1, 1, 2, 0};
/* axis 0, index [2,3] into [3,4]: smaller than x outside the axis */
static const int64_t PICK_ROWS[6] = {2, 0, 1, 1, 1, 0};
/* cross-entropy's use: one label column per row, index [4,1] into [4,5] */
static const int64_t LABELS[4] = {2, 0, 4, 1};

static tg_status sample_3x4(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 4), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_status sample_4x5(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(4, 5), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_status sample_3x2(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 2), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_status sample_2x3(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 3), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_tensor *apply_gather(tg_tape *t, tg_tensor **in) { return tg_gather(t, in[0], 1, TG_SHAPE(3, 2), PICK); }
static tg_tensor *apply_gather_rows(tg_tape *t, tg_tensor **in) {
    return tg_gather(t, in[0], 0, TG_SHAPE(2, 3), PICK_ROWS);
}
static tg_tensor *apply_gather_labels(tg_tape *t, tg_tensor **in) {
    return tg_gather(t, in[0], -1, TG_SHAPE(4, 1), LABELS);
}
static tg_tensor *apply_scatter_add(tg_tape *t, tg_tensor **in) {
    return tg_scatter_add(t, in[0], 1, (const int64_t[]){3, 4}, PICK);
}
static tg_tensor *apply_scatter_add_rows(tg_tape *t, tg_tensor **in) {
    return tg_scatter_add(t, in[0], 0, (const int64_t[]){3, 4}, PICK_ROWS);
}

const tg_op_spec tg_spec_gather = {"gather(axis=1)", "tg_gather", 1, sample_3x4, apply_gather};
const tg_op_spec tg_spec_gather_rows = {"gather(axis=0,smaller index)", "tg_gather", 1, sample_3x4,
                                        apply_gather_rows};
const tg_op_spec tg_spec_gather_labels = {"gather(axis=-1,labels)", "tg_gather", 1, sample_4x5, apply_gather_labels};
const tg_op_spec tg_spec_scatter_add = {"scatter_add(axis=1)", "tg_scatter_add", 1, sample_3x2, apply_scatter_add};
const tg_op_spec tg_spec_scatter_add_rows = {"scatter_add(axis=0,larger output)", "tg_scatter_add", 1, sample_2x3,
                                             apply_scatter_add_rows};
