#include "ops/kernel.h"

#include "ops/shape.h"

#include <string.h>

static bool check_inputs(tg_tape *t, const char *op, int n, tg_tensor *const *inputs) {
    if (!t) {
        tg_set_error(TG_ERR_ARG, "%s: tape is NULL", op);
        return false;
    }
    tg_tape_set_op(t, op);
    for (int i = 0; i < n; i++) {
        if (!inputs[i]) {
            tg_tape_fail(t, TG_ERR_ARG, "%s: input %d is NULL", op, i);
            return false;
        }
        const char *why = tg_tape_check_tensor(t, inputs[i]);
        if (why) {
            tg_tape_fail(t, tg_tape_is_stale(t, inputs[i]) ? TG_ERR_STATE : TG_ERR_ARG, "%s: input %d %s", op, i, why);
            return false;
        }
    }
    for (int i = 1; i < n; i++) {
        if (inputs[i]->dtype != inputs[0]->dtype) {
            tg_tape_fail(t, TG_ERR_DTYPE, "%s: dtypes differ: %s and %s (use tg_cast)", op, TG_DESC(inputs[0]),
                         TG_DESC(inputs[i]));
            return false;
        }
    }
    return true;
}

bool tg_check_inputs(tg_tape *t, const char *op, int n, tg_tensor *const *inputs) {
    return check_inputs(t, op, n, inputs) && tg_fuse_realize(t, n, inputs) == TG_OK;
}

bool tg_check_pointwise_inputs(tg_tape *t, const char *op, int n, tg_tensor *const *inputs) {
    return check_inputs(t, op, n, inputs);
}

bool tg_check_axis(tg_tape *t, const char *op, const tg_tensor *x, int axis, int *out) {
    int a = axis < 0 ? axis + x->ndim : axis;
    if (a < 0 || a >= x->ndim) {
        tg_tape_fail(t, TG_ERR_ARG, "%s: axis %d is out of range for %s", op, axis, TG_DESC(x));
        return false;
    }
    *out = a;
    return true;
}

bool tg_check_axes(tg_tape *t, const char *op, const tg_tensor *x, const int *axes, int n_axes,
                   bool reduced[TG_MAX_DIMS]) {
    if (n_axes < 0 || (n_axes > 0 && !axes)) {
        tg_tape_fail(t, TG_ERR_ARG, "%s: %d axes%s for %s (NULL and 0 mean every axis)", op, n_axes,
                     n_axes < 0 ? " is a negative count" : " given but axes is NULL", TG_DESC(x));
        return false;
    }
    for (int i = 0; i < TG_MAX_DIMS; i++) reduced[i] = n_axes == 0 && i < x->ndim;
    if (n_axes == 0) return true;
    for (int i = 0; i < n_axes; i++) {
        int a;
        if (!tg_check_axis(t, op, x, axes[i], &a)) return false;
        if (reduced[a]) {
            tg_tape_fail(t, TG_ERR_ARG, "%s: axis %d is given twice for %s", op, axes[i], TG_DESC(x));
            return false;
        }
        reduced[a] = true;
    }
    return true;
}

bool tg_broadcast_shapes(tg_tape *t, const char *op, const tg_tensor *a, const tg_tensor *b, int *ndim,
                         int64_t shape[TG_MAX_DIMS]) {
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < n; i++) {
        int ia = a->ndim - n + i, ib = b->ndim - n + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            tg_tape_fail(t, TG_ERR_SHAPE, "%s: shapes %s and %s do not broadcast (dimension %d: %lld vs %lld)", op,
                         TG_DESC(a), TG_DESC(b), i, (long long)da, (long long)db);
            return false;
        }
        shape[i] = da == 1 ? db : da;
    }
    *ndim = n;
    return true;
}

void tg_layout_make(tg_layout *l, const tg_tensor *out, int n, const tg_tensor *const *in) {
    int nd = out->ndim;
    int64_t stride[3][TG_MAX_DIMS];
    for (int k = 0; k < n; k++) {
        int64_t s = 1;
        for (int i = nd - 1; i >= 0; i--) {
            int j = in[k]->ndim - nd + i;
            int64_t d = j >= 0 ? in[k]->shape[j] : 1;
            stride[k][i] = (d == 1) ? 0 : s;
            s *= d;
        }
    }
    /* merge dimension i into i+1 when every operand is contiguous across them */
    l->ndim = 0;
    for (int i = 0; i < nd; i++) {
        if (out->shape[i] == 1) continue; /* size-1 dims carry no information */
        int m = l->ndim;
        bool merge = m > 0;
        for (int k = 0; merge && k < n; k++)
            merge = stride[k][i] * out->shape[i] == l->stride[k][m - 1] ||
                    (stride[k][i] == 0 && l->stride[k][m - 1] == 0);
        if (merge) {
            l->shape[m - 1] *= out->shape[i];
            for (int k = 0; k < n; k++) l->stride[k][m - 1] = stride[k][i];
        } else {
            l->shape[m] = out->shape[i];
            for (int k = 0; k < n; k++) l->stride[k][m] = stride[k][i];
            l->ndim++;
        }
    }
    if (l->ndim == 0) { /* a scalar or all-ones shape */
        l->ndim = 1;
        l->shape[0] = 1;
        for (int k = 0; k < n; k++) l->stride[k][0] = 0;
    }
    for (int k = n; k < 3; k++)
        for (int i = 0; i < l->ndim; i++) l->stride[k][i] = 0;
}

enum { TG_ROW_BLOCK = 8192 };

void tg_layout_run(const tg_layout *l, tg_row_fn row, void *y, const void *const *in, size_t elem_size,
                   const void *attrs) {
    int nd = l->ndim;
    if (nd == 1 && l->shape[0] <= TG_ROW_BLOCK) { /* one row: the row function alone */
        int64_t s[3] = {l->stride[0][0], l->stride[1][0], l->stride[2][0]};
        row(l->shape[0], y, in, s, attrs);
        return;
    }
    int64_t inner = l->shape[nd - 1];
    int64_t rows = 1;
    for (int i = 0; i < nd - 1; i++) rows *= l->shape[i];
    int64_t blocks_per_row = (inner + TG_ROW_BLOCK - 1) / TG_ROW_BLOCK;
    int64_t tasks = rows * blocks_per_row;
    int64_t total = rows * inner;
    TG_PARALLEL_FOR_WORK(task, tasks, total, {
        int64_t r = task / blocks_per_row, start = (task % blocks_per_row) * TG_ROW_BLOCK;
        int64_t len = inner - start < TG_ROW_BLOCK ? inner - start : TG_ROW_BLOCK;
        int64_t off[3] = {0, 0, 0};
        int64_t rest = r;
        for (int i = nd - 2; i >= 0; i--) {
            int64_t idx = rest % l->shape[i];
            rest /= l->shape[i];
            for (int k = 0; k < 3; k++) off[k] += idx * l->stride[k][i];
        }
        const void *ptrs[3];
        for (int k = 0; k < 3; k++)
            ptrs[k] = in[k] ? (const char *)in[k] + (size_t)(off[k] + start * l->stride[k][nd - 1]) * elem_size : NULL;
        int64_t s[3] = {l->stride[0][nd - 1], l->stride[1][nd - 1], l->stride[2][nd - 1]};
        row(len, (char *)y + (size_t)(r * inner + start) * elem_size, ptrs, s, attrs);
    });
}

int tg_reduce_passes(const tg_tensor *x, const bool reduced[TG_MAX_DIMS], int64_t passes[TG_MAX_DIMS][3]) {
    /* coalesce into groups of adjacent axes with the same flag (size-1 axes vanish) */
    int64_t size[TG_MAX_DIMS];
    bool red[TG_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (x->shape[i] == 1) continue;
        if (n > 0 && red[n - 1] == reduced[i]) {
            size[n - 1] *= x->shape[i];
        } else {
            size[n] = x->shape[i];
            red[n++] = reduced[i];
        }
    }
    int count = 0;
    for (int g = n - 1; g >= 0; g--) { /* last group first: earlier groups keep their place */
        if (!red[g]) continue;
        int64_t outer = 1, inner = 1;
        for (int i = 0; i < g; i++) outer *= size[i];
        for (int i = g + 1; i < n; i++) inner *= size[i];
        passes[count][0] = outer;
        passes[count][1] = size[g];
        passes[count][2] = inner;
        count++;
        size[g] = 1;
    }
    return count;
}

tg_tensor *tg_as_keepdim(tg_tape *t, tg_tensor *r, const tg_tensor *x, const bool reduced[TG_MAX_DIMS]) {
    int ndim;
    int64_t kept[TG_MAX_DIMS];
    tg_reduced_shape(x, reduced, true, &ndim, kept);
    return tg_reshape(t, r, ndim, kept);
}

void tg_reduced_shape(const tg_tensor *x, const bool reduced[TG_MAX_DIMS], bool keepdim, int *ndim,
                      int64_t shape[TG_MAX_DIMS]) {
    int n = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (!reduced[i])
            shape[n++] = x->shape[i];
        else if (keepdim)
            shape[n++] = 1;
    }
    *ndim = n;
}

#define COPY_ROW(NAME, T)                                                                                \
    void NAME(int64_t n, void *yv, const void *const *in, const int64_t *s, const void *attrs) {         \
        (void)attrs;                                                                                     \
        T *restrict y = yv;                                                                              \
        const T *x = in[0];                                                                              \
        if (s[0] == 0)                                                                                   \
            for (int64_t i = 0; i < n; i++) y[i] = x[0];                                                 \
        else if (s[0] == 1)                                                                              \
            memcpy(y, x, sizeof(T) * (size_t)n);                                                         \
        else                                                                                             \
            for (int64_t i = 0; i < n; i++) y[i] = x[i * s[0]];                                          \
    }
COPY_ROW(tg_row_copy_f32, float)
COPY_ROW(tg_row_copy_f64, double)
