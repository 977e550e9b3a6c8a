/* softmax, log_softmax: forward kernels over rows along an axis and backward
 * rules. x is viewed as [outer, R, inner] with R the size of the axis. */
#include "ops/softmax.h"

#include <math.h>

#include "ops/describe.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/reduce_pass.h"
#include "ops/registry.h"
#include "ops/unary.h"
#include "ops/vexp.h"

enum { CB = TG_REDUCE_COLUMN_BLOCK };

/* y[i] = exp(x[i] - m) for a row; returns their sum */
#define ROW_EXP(NAME, T, VEXP, ROW_SUM)                        \
    static double NAME(const T *x, T *restrict y, int64_t n, T m) { \
        for (int64_t i = 0; i < n; i++) y[i] = VEXP(x[i] - m); \
        return ROW_SUM(y, n);                                  \
    }
ROW_EXP(row_exp_f32, float, tg_vexp_f32, tg_row_sum_f32)
ROW_EXP(row_exp_f64, double, tg_vexp_f64, tg_row_sum_f64)

/* Both kernels: rows (inner == 1) or blocks of CB columns, in parallel over
 * independent rows. LOG selects log_softmax. */
#define SOFTMAX_KERNEL(NAME, T, ROW_MAX, COLUMN_MAX, ROW_EXP_FN, ROW_SUM_EXP, VEXP, LOG)                             \
    static void NAME(const T *x, T *y, int64_t outer, int64_t R, int64_t inner) {                       \
        if (inner == 1) {                                                                               \
            TG_PARALLEL_FOR_WORK(o, outer, outer * R, {                                                 \
                const T *xr = x + o * R;                                                                \
                T *yr = y + o * R;                                                                      \
                T m = ROW_MAX(xr, R);                                                                   \
                if (LOG) {                                                                              \
                    T log_s = (T)log(ROW_SUM_EXP(xr, R, m));                                            \
                    for (int64_t i = 0; i < R; i++) yr[i] = (xr[i] - m) - log_s;                        \
                } else {                                                                                \
                    T inv = (T)(1.0 / ROW_EXP_FN(xr, yr, R, m));                                        \
                    for (int64_t i = 0; i < R; i++) yr[i] *= inv;                                       \
                }                                                                                       \
            });                                                                                         \
            return;                                                                                     \
        }                                                                                               \
        int64_t blocks = (inner + CB - 1) / CB;                                                         \
        TG_PARALLEL_FOR_WORK(task, outer * blocks, outer * R * inner, {                                 \
            int64_t o = task / blocks, k0 = (task % blocks) * CB;                                       \
            int64_t len = inner - k0 < CB ? inner - k0 : CB;                                            \
            const T *xb = x + o * R * inner + k0;                                                       \
            T *yb = y + o * R * inner + k0;                                                             \
            T m[CB], scale[CB];                                                                         \
            double s[CB] = {0};                                                                         \
            COLUMN_MAX(xb, R, inner, len, m);                                                           \
            for (int64_t r = 0; r < R; r++)                                                             \
                for (int64_t k = 0; k < len; k++) {                                                     \
                    T e = VEXP(xb[r * inner + k] - m[k]);                                               \
                    if (!LOG) yb[r * inner + k] = e;                                                    \
                    s[k] += (double)e;                                                                  \
                }                                                                                       \
            for (int64_t k = 0; k < len; k++) scale[k] = (T)(LOG ? log(s[k]) : 1.0 / s[k]);            \
            for (int64_t r = 0; r < R; r++)                                                             \
                for (int64_t k = 0; k < len; k++) {                                                     \
                    if (LOG)                                                                            \
                        yb[r * inner + k] = (xb[r * inner + k] - m[k]) - scale[k];                      \
                    else                                                                                \
                        yb[r * inner + k] *= scale[k];                                                  \
                }                                                                                       \
        });                                                                                             \
    }
#define KERNELS(T, SUFFIX)                                                                                         \
    SOFTMAX_KERNEL(softmax_##SUFFIX, T, tg_row_max_##SUFFIX, tg_column_max_##SUFFIX, row_exp_##SUFFIX,              \
                   tg_row_sum_exp_##SUFFIX, tg_vexp_##SUFFIX, 0)                                                    \
    SOFTMAX_KERNEL(log_softmax_##SUFFIX, T, tg_row_max_##SUFFIX, tg_column_max_##SUFFIX, row_exp_##SUFFIX,          \
                   tg_row_sum_exp_##SUFFIX, tg_vexp_##SUFFIX, 1)
KERNELS(float, f32)
KERNELS(double, f64)

typedef struct {
    int axis; /* normalised */
} softmax_attrs;

#define AXIS(node) (&((const softmax_attrs *)(node)->attrs)->axis)

/* d softmax = y * (g - sum(g * y, axis)) */
static tg_status softmax_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    tg_tensor *y = node->output;
    tg_tensor *dot = tg_sum(t, tg_mul(t, g, y), AXIS(node), 1, true);
    gi[0] = tg_mul(t, y, tg_sub(t, g, dot));
    return tg_tape_status(t);
}
/* d log_softmax = g - exp(y) * sum(g, axis) */
static tg_status log_softmax_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    tg_tensor *total = tg_sum(t, g, AXIS(node), 1, true);
    gi[0] = tg_sub(t, g, tg_mul(t, tg_exp(t, node->output), total));
    return tg_tape_status(t);
}
/* "axis=1" */
static int softmax_describe(const tg_node *node, char *buf, size_t size) {
    tg_text s = tg_text_on(buf, size);
    tg_text_printf(&s, "axis=%d", *AXIS(node));
    return tg_text_length(&s);
}
static const tg_op softmax_op = {"softmax", 1, softmax_backward, softmax_describe};
static const tg_op log_softmax_op = {"log_softmax", 1, log_softmax_backward, softmax_describe};

static tg_tensor *softmax_like(tg_tape *t, const char *who, bool log_form, tg_tensor *x, int axis) {
    if (!tg_check_inputs(t, who, 1, &x)) return NULL;
    softmax_attrs at;
    if (!tg_check_axis(t, who, x, axis, &at.axis)) return NULL;
    tg_tensor *y = tg_tape_result(t, x->dtype, x->ndim, x->shape);
    if (!y) return NULL;
    int64_t outer = 1, R = x->shape[at.axis], inner = 1;
    for (int i = 0; i < at.axis; i++) outer *= x->shape[i];
    for (int i = at.axis + 1; i < x->ndim; i++) inner *= x->shape[i];
    if (y->numel) {
        if (x->dtype == TG_F32)
            (log_form ? log_softmax_f32 : softmax_f32)(x->data, y->data, outer, R, inner);
        else
            (log_form ? log_softmax_f64 : softmax_f64)(x->data, y->data, outer, R, inner);
    }
    return tg_tape_record(t, log_form ? &log_softmax_op : &softmax_op, 1, &x, y, &at, sizeof at);
}

tg_tensor *tg_softmax(tg_tape *t, tg_tensor *x, int axis) { return softmax_like(t, "tg_softmax", false, x, axis); }

tg_tensor *tg_log_softmax(tg_tape *t, tg_tensor *x, int axis) {
    return softmax_like(t, "tg_log_softmax", true, x, axis);
}

/* ---- registry entries ---- */
static tg_status sample_rows(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 5), 0.1, 2.0);
    return tg_tape_status(t);
}
static tg_status sample_3d(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 3, 4), 0.1, 2.0);
    return tg_tape_status(t);
}
static tg_tensor *apply_softmax_last(tg_tape *t, tg_tensor **in) { return tg_softmax(t, in[0], -1); }
static tg_tensor *apply_softmax_middle(tg_tape *t, tg_tensor **in) { return tg_softmax(t, in[0], 1); }
static tg_tensor *apply_log_softmax_last(tg_tape *t, tg_tensor **in) { return tg_log_softmax(t, in[0], -1); }
static tg_tensor *apply_log_softmax_first(tg_tape *t, tg_tensor **in) { return tg_log_softmax(t, in[0], 0); }

const tg_op_spec tg_spec_softmax_last = {"softmax(axis=-1)", "tg_softmax", 1, sample_rows, apply_softmax_last};
const tg_op_spec tg_spec_softmax_middle = {"softmax(axis=1)", "tg_softmax", 1, sample_3d, apply_softmax_middle};
const tg_op_spec tg_spec_log_softmax_last = {"log_softmax(axis=-1)", "tg_log_softmax", 1, sample_rows,
                                             apply_log_softmax_last};
const tg_op_spec tg_spec_log_softmax_first = {"log_softmax(axis=0)", "tg_log_softmax", 1, sample_3d,
                                              apply_log_softmax_first};
