/* index_select (embedding lookup) and its adjoint index_add.
 * x viewed as [outer, D, inner]; a row is the `inner` contiguous elements at
 * one (outer, axis) position, so both ops move whole rows. */
#include <stdio.h>
#include <string.h>

#include "ops/blocks.h"
#include "ops/describe.h"
#include "ops/kernel.h"
#include "ops/registry.h"
#include "ops/shape.h"

typedef struct {
    int axis;
    int64_t n;            /* number of indices */
    const int64_t *index; /* n values, copied into the tape arena */
} index_attrs;

/* Copies index[0..n) into the arena after checking 0 <= index[i] < size;
 * `target` describes the tensor the indices point into, for messages. */
static const int64_t *copy_index(tg_tape *t, const char *who, int axis, int64_t size, int64_t n,
                                 const int64_t *index, const char *target) {
    if (n < 0 || (n > 0 && !index)) {
        tg_tape_fail(t, TG_ERR_ARG, "%s: %lld indices%s for %s", who, (long long)n, n < 0 ? "" : " but index is NULL",
                     target);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        if (index[i] < 0 || index[i] >= size) {
            tg_tape_fail(t, TG_ERR_ARG, "%s: index[%lld] = %lld is out of range for axis %d of %s", who, (long long)i,
                         (long long)index[i], axis, target);
            return NULL;
        }
    }
    int64_t *copy = tg_tape_alloc(t, sizeof(int64_t) * (size_t)n);
    if (copy && n) memcpy(copy, index, sizeof(int64_t) * (size_t)n);
    return copy;
}

/* d index_select = index_add of g into x's length */
static tg_status index_select_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const index_attrs *at = node->attrs;
    gi[0] = tg_index_add(t, g, at->axis, node->inputs[0]->shape[at->axis], at->n, at->index);
    return tg_tape_status(t);
}
/* "axis=0 index[4]#1a2b3c4d" (index_select and index_add) */
static int index_describe(const tg_node *node, char *buf, size_t size) {
    const index_attrs *at = node->attrs;
    tg_text s = tg_text_on(buf, size);
    tg_text_printf(&s, "axis=%d ", at->axis);
    tg_text_index(&s, at->n, at->index);
    return tg_text_length(&s);
}
static const tg_op index_select_op = {"index_select", 1, index_select_backward, index_describe};

tg_tensor *tg_index_select(tg_tape *t, tg_tensor *x, int axis, int64_t n, const int64_t *index) {
    if (!tg_check_inputs(t, "tg_index_select", 1, &x)) return NULL;
    int a;
    if (!tg_check_axis(t, "tg_index_select", x, axis, &a)) return NULL;
    index_attrs at = {a, n, NULL};
    if (!(at.index = copy_index(t, "tg_index_select", a, x->shape[a], n, index, TG_DESC(x)))) return NULL;
    int64_t shape[TG_MAX_DIMS], outer, inner, D = x->shape[a];
    memcpy(shape, x->shape, sizeof shape);
    shape[a] = n;
    tg_tensor *y = tg_tape_result(t, x->dtype, x->ndim, shape);
    if (!y) return NULL;
    tg_axis_view(x->ndim, x->shape, a, &outer, &inner);
    size_t es = tg_dtype_size(x->dtype), row = (size_t)inner * es;
    const int64_t *idx = at.index;
    const char *src = x->data;
    char *dst = y->data;
    /* y[o, i, :] = x[o, index[i], :] */
    TG_PARALLEL_FOR_WORK(task, outer * n, outer * n * inner, {
        int64_t o = task / n, i = task % n;
        memcpy(dst + (size_t)task * row, src + (size_t)(o * D + idx[i]) * row, row);
    });
    return tg_tape_record(t, &index_select_op, 1, &x, y, &at, sizeof at);
}

/* y[o, j, :] = sum over i with index[i] = j, in increasing i, of x[o, i, :].
 * bucket_start/order list each j's i's (a counting sort), so every output row
 * is summed by one thread in a fixed order. */
#define INDEX_ADD(NAME, T)                                                                                      \
    static void NAME(const T *x, T *y, int64_t outer, int64_t n, int64_t size, int64_t inner,                   \
                     const int64_t *bucket_start, const int64_t *order) {                                      \
        TG_PARALLEL_FOR_WORK(task, outer * size, outer * (n + size) * inner, {                                 \
            int64_t o = task / size, j = task % size;                                                           \
            T *restrict out = y + task * inner;                                                                 \
            memset(out, 0, sizeof(T) * (size_t)inner);                                                          \
            for (int64_t b = bucket_start[j]; b < bucket_start[j + 1]; b++) {                                   \
                const T *in = x + (o * n + order[b]) * inner;                                                   \
                for (int64_t k = 0; k < inner; k++) out[k] += in[k];                                            \
            }                                                                                                   \
        });                                                                                                     \
    }
INDEX_ADD(index_add_f32, float)
INDEX_ADD(index_add_f64, double)

/* d index_add = the rows of g that each x row went to: index_select(g) */
static tg_status index_add_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const index_attrs *at = node->attrs;
    gi[0] = tg_index_select(t, g, at->axis, at->n, at->index);
    return tg_tape_status(t);
}
static const tg_op index_add_op = {"index_add", 1, index_add_backward, index_describe};

tg_tensor *tg_index_add(tg_tape *t, tg_tensor *x, int axis, int64_t size, int64_t n, const int64_t *index) {
    if (!tg_check_inputs(t, "tg_index_add", 1, &x)) return NULL;
    int a;
    if (!tg_check_axis(t, "tg_index_add", x, axis, &a)) return NULL;
    if (x->shape[a] != n || size < 0) {
        tg_tape_fail(t, TG_ERR_SHAPE,
                     "tg_index_add: %s needs %lld indices along axis %d and a size >= 0, got %lld and %lld", TG_DESC(x),
                     (long long)x->shape[a], a, (long long)n, (long long)size);
        return NULL;
    }
    int64_t shape[TG_MAX_DIMS], outer, inner;
    memcpy(shape, x->shape, sizeof shape);
    shape[a] = size;
    index_attrs at = {a, n, NULL};
    char target[128];
    snprintf(target, sizeof target, "the output %s%s", tg_dtype_name(x->dtype),
             tg_shape_str(x->ndim, shape, (char[96]){0}, 96));
    if (!(at.index = copy_index(t, "tg_index_add", a, size, n, index, target))) return NULL;
    int64_t *bucket_start = tg_tape_alloc(t, sizeof(int64_t) * (size_t)(size + 1));
    int64_t *order = tg_tape_alloc(t, sizeof(int64_t) * (size_t)(n ? n : 1));
    tg_tensor *y = tg_tape_result(t, x->dtype, x->ndim, shape);
    if (!bucket_start || !order || !y) return NULL;
    memset(bucket_start, 0, sizeof(int64_t) * (size_t)(size + 1));
    for (int64_t i = 0; i < n; i++) bucket_start[at.index[i] + 1]++;
    for (int64_t j = 0; j < size; j++) bucket_start[j + 1] += bucket_start[j];
    int64_t *fill = tg_tape_alloc(t, sizeof(int64_t) * (size_t)(size ? size : 1));
    if (!fill) return NULL;
    if (size) memcpy(fill, bucket_start, sizeof(int64_t) * (size_t)size);
    for (int64_t i = 0; i < n; i++) order[fill[at.index[i]]++] = i;
    tg_axis_view(x->ndim, x->shape, a, &outer, &inner);
    if (x->dtype == TG_F32)
        index_add_f32(x->data, y->data, outer, n, size, inner, bucket_start, order);
    else
        index_add_f64(x->data, y->data, outer, n, size, inner, bucket_start, order);
    return tg_tape_record(t, &index_add_op, 1, &x, y, &at, sizeof at);
}

/* ---- registry entries ---- */
/* a table of 5 rows looked up with a repeated index */
static const int64_t ROWS[4] = {4, 0, 2, 0};
static tg_status sample_table(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(5, 3), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_tensor *apply_index_select(tg_tape *t, tg_tensor **in) { return tg_index_select(t, in[0], 0, 4, ROWS); }
static tg_status sample_columns(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 5, 2), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_tensor *apply_index_select_mid(tg_tape *t, tg_tensor **in) { return tg_index_select(t, in[0], 1, 4, ROWS); }
static tg_status sample_rows(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(4, 3), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_tensor *apply_index_add(tg_tape *t, tg_tensor **in) { return tg_index_add(t, in[0], 0, 5, 4, ROWS); }

const tg_op_spec tg_spec_index_select = {"index_select(axis=0)", "tg_index_select", 1, sample_table,
                                         apply_index_select};
const tg_op_spec tg_spec_index_select_mid = {"index_select(axis=1)", "tg_index_select", 1, sample_columns,
                                             apply_index_select_mid};
const tg_op_spec tg_spec_index_add = {"index_add(axis=0)", "tg_index_add", 1, sample_rows, apply_index_add};
