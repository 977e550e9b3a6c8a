/* Elementwise binary ops with broadcasting; forward kernels and backward rules.
 * Backward of a broadcast input sums the gradient back to its shape (sum_to). */
#include "ops/elementwise.h"

#include <tgmath.h>

#include "ops/describe.h"
#include "ops/kernel.h"
#include "ops/reduce.h"
#include "ops/registry.h"
#include "ops/unary.h"

/* y[i] = EXPR(a, b) with fast paths for contiguous and broadcast operands */
#define BINARY_ROW(NAME, T, EXPR)                                                                       \
    static void NAME(int64_t n, void *yv, const void *const *in, const int64_t *s, const void *attrs) {  \
        (void)attrs;                                                                                     \
        T *restrict y = yv;                                                                              \
        const T *pa = in[0], *pb = in[1];                                                                \
        if (s[0] == 1 && s[1] == 1) {                                                                    \
            for (int64_t i = 0; i < n; i++) {                                                            \
                T a = pa[i], b = pb[i];                                                                  \
                y[i] = (EXPR);                                                                           \
            }                                                                                            \
        } else if (s[0] == 1 && s[1] == 0) {                                                             \
            T b = pb[0];                                                                                 \
            for (int64_t i = 0; i < n; i++) {                                                            \
                T a = pa[i];                                                                             \
                y[i] = (EXPR);                                                                           \
            }                                                                                            \
        } else if (s[0] == 0 && s[1] == 1) {                                                             \
            T a = pa[0];                                                                                 \
            for (int64_t i = 0; i < n; i++) {                                                            \
                T b = pb[i];                                                                             \
                y[i] = (EXPR);                                                                           \
            }                                                                                            \
        } else {                                                                                         \
            for (int64_t i = 0; i < n; i++) {                                                            \
                T a = pa[i * s[0]], b = pb[i * s[1]];                                                    \
                y[i] = (EXPR);                                                                           \
            }                                                                                            \
        }                                                                                                \
    }

#define BINARY_KERNELS(NAME, EXPR)            \
    BINARY_ROW(NAME##_f32, float, EXPR)       \
    BINARY_ROW(NAME##_f64, double, EXPR)

BINARY_KERNELS(add, a + b)
BINARY_KERNELS(sub, a - b)
BINARY_KERNELS(mul, a * b)
BINARY_KERNELS(div, a / b)
BINARY_KERNELS(pow, pow(a, b))
/* a NaN on either side is the result (PyTorch) */
BINARY_KERNELS(maximum, (a > b || isnan(a)) ? a : b)
BINARY_KERNELS(minimum, (a < b || isnan(a)) ? a : b)
BINARY_KERNELS(gt, (a > b) ? 1 : 0)
BINARY_KERNELS(ge, (a >= b) ? 1 : 0)
BINARY_KERNELS(eq, (a == b) ? 1 : 0)
/* fused backward primitives: a is y (or x for relu), b the incoming gradient */
BINARY_KERNELS(tanh_grad, b * (1 - a * a))
BINARY_KERNELS(sigmoid_grad, b * (a * (1 - a)))
BINARY_KERNELS(relu_grad, a <= 0 ? 0 : b) /* NaN x passes g, like PyTorch */

/* The one forward path for every binary op. */
static tg_tensor *binary(tg_tape *t, const tg_op *op, const char *who, tg_row_fn f32, tg_row_fn f64, tg_tensor *a,
                         tg_tensor *b) {
    tg_tensor *in[2] = {a, b};
    if (!tg_check_pointwise_inputs(t, who, 2, in)) return NULL;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    if (!tg_broadcast_shapes(t, who, a, b, &ndim, shape)) return NULL;
    tg_tensor *y;
    if (tg_fuse_pointwise(t, op, f32, f64, 2, in, ndim, shape, NULL, 0, &y)) return y;
    y = tg_tape_result(t, a->dtype, ndim, shape);
    if (!y) return NULL;
    if (y->numel) {
        tg_layout l;
        tg_layout_make(&l, y, 2, (const tg_tensor *const[]){a, b});
        tg_layout_run(&l, a->dtype == TG_F32 ? f32 : f64, y->data, (const void *[]){a->data, b->data, NULL},
                      tg_dtype_size(a->dtype), NULL);
    }
    return tg_tape_record(t, op, 2, in, y, NULL, 0);
}

static tg_tensor *sum_like(tg_tape *t, tg_tensor *g, const tg_tensor *x) {
    return tg_sum_to(t, g, x->ndim, x->shape);
}

#define NEEDS(i) (node->inputs[i]->requires_grad)

/* d(a+b) = g, g */
static tg_status add_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    if (NEEDS(0)) gi[0] = sum_like(t, g, node->inputs[0]);
    if (NEEDS(1)) gi[1] = sum_like(t, g, node->inputs[1]);
    return tg_tape_status(t);
}

/* d(a-b) = g, -g */
static tg_status sub_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    if (NEEDS(0)) gi[0] = sum_like(t, g, node->inputs[0]);
    if (NEEDS(1)) gi[1] = sum_like(t, tg_neg(t, g), node->inputs[1]);
    return tg_tape_status(t);
}

/* d(a*b) = g*b, g*a */
static tg_status mul_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    tg_tensor *a = node->inputs[0], *b = node->inputs[1];
    if (NEEDS(0)) gi[0] = sum_like(t, tg_mul(t, g, b), a);
    if (NEEDS(1)) gi[1] = sum_like(t, tg_mul(t, g, a), b);
    return tg_tape_status(t);
}

/* d(a/b) = g/b, -g*a/b^2 = -(g/b)*(a/b) */
static tg_status div_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    tg_tensor *a = node->inputs[0], *b = node->inputs[1];
    tg_tensor *g_over_b = tg_div(t, g, b);
    if (NEEDS(0)) gi[0] = sum_like(t, g_over_b, a);
    if (NEEDS(1)) gi[1] = sum_like(t, tg_neg(t, tg_mul(t, g_over_b, tg_div(t, a, b))), b);
    return tg_tape_status(t);
}

/* d(a^b) = g*b*a^(b-1), g*a^b*log(a); the first is 0 where b == 0, also at
 * a == 0 where b*a^(b-1) would be 0*inf (PyTorch) */
static tg_status pow_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    tg_tensor *a = node->inputs[0], *b = node->inputs[1];
    if (NEEDS(0)) {
        tg_tensor *zero = tg_scalar(t, b->dtype, 0.0);
        tg_tensor *slope = tg_mul(t, b, tg_pow(t, a, tg_add_scalar(t, b, -1.0)));
        gi[0] = sum_like(t, tg_mul(t, g, tg_where(t, tg_eq(t, b, zero), zero, slope)), a);
    }
    if (NEEDS(1)) gi[1] = sum_like(t, tg_mul(t, g, tg_mul(t, tg_pow(t, a, b), tg_log(t, a))), b);
    return tg_tape_status(t);
}

/* max: the gradient goes to the larger input; ties split it in half (PyTorch).
 * share_a = [a > b] + 0.5 [a == b]; share_b = 1 - share_a.  min mirrors it. */
static tg_status select_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi, bool is_max) {
    tg_tensor *a = node->inputs[0], *b = node->inputs[1];
    tg_tensor *wins = is_max ? tg_gt(t, a, b) : tg_gt(t, b, a);
    tg_tensor *share_a = tg_add(t, wins, tg_mul_scalar(t, tg_eq(t, a, b), 0.5));
    if (NEEDS(0)) gi[0] = sum_like(t, tg_mul(t, g, share_a), a);
    if (NEEDS(1)) gi[1] = sum_like(t, tg_mul(t, g, tg_add_scalar(t, tg_neg(t, share_a), 1.0)), b);
    return tg_tape_status(t);
}
static tg_status maximum_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    return select_backward(t, node, g, gi, true);
}
static tg_status minimum_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    return select_backward(t, node, g, gi, false);
}

/* comparisons are piecewise constant: zero gradient */
static tg_status no_gradient(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    (void)node, (void)g, (void)gi;
    return tg_tape_status(t);
}

/* d/dg tanh_grad(y, g) = tanh_grad(y, G); d/dy = -2 y g G */
static tg_status tanh_grad_backward(tg_tape *t, const tg_node *node, tg_tensor *G, tg_tensor **gi) {
    tg_tensor *y = node->inputs[0], *g = node->inputs[1];
    if (NEEDS(0)) gi[0] = sum_like(t, tg_mul_scalar(t, tg_mul(t, tg_mul(t, G, g), y), -2.0), y);
    if (NEEDS(1)) gi[1] = sum_like(t, tg_tanh_grad(t, y, G), g);
    return tg_tape_status(t);
}
/* d/dg sigmoid_grad(y, g) = sigmoid_grad(y, G); d/dy = g G (1 - 2y) */
static tg_status sigmoid_grad_backward(tg_tape *t, const tg_node *node, tg_tensor *G, tg_tensor **gi) {
    tg_tensor *y = node->inputs[0], *g = node->inputs[1];
    if (NEEDS(0)) gi[0] = sum_like(t, tg_mul(t, tg_mul(t, G, g), tg_add_scalar(t, tg_mul_scalar(t, y, -2.0), 1.0)), y);
    if (NEEDS(1)) gi[1] = sum_like(t, tg_sigmoid_grad(t, y, G), g);
    return tg_tape_status(t);
}
/* d/dg relu_grad(x, g) = relu_grad(x, G); piecewise constant in x */
static tg_status relu_grad_backward(tg_tape *t, const tg_node *node, tg_tensor *G, tg_tensor **gi) {
    if (NEEDS(1)) gi[1] = sum_like(t, tg_relu_grad(t, node->inputs[0], G), node->inputs[1]);
    return tg_tape_status(t);
}

static const tg_op add_op = {"add", 2, add_backward};
static const tg_op sub_op = {"sub", 2, sub_backward};
static const tg_op mul_op = {"mul", 2, mul_backward};
static const tg_op div_op = {"div", 2, div_backward};
static const tg_op pow_op = {"pow", 2, pow_backward};
static const tg_op maximum_op = {"maximum", 2, maximum_backward};
static const tg_op minimum_op = {"minimum", 2, minimum_backward};
static const tg_op gt_op = {"gt", 2, no_gradient};
static const tg_op ge_op = {"ge", 2, no_gradient};
static const tg_op eq_op = {"eq", 2, no_gradient};
static const tg_op tanh_grad_op = {"tanh_grad", 2, tanh_grad_backward};
static const tg_op sigmoid_grad_op = {"sigmoid_grad", 2, sigmoid_grad_backward};
static const tg_op relu_grad_op = {"relu_grad", 2, relu_grad_backward};

#define BINARY_API(NAME)                                                          \
    tg_tensor *tg_##NAME(tg_tape *t, tg_tensor *a, tg_tensor *b) {                \
        return binary(t, &NAME##_op, "tg_" #NAME, NAME##_f32, NAME##_f64, a, b);  \
    }
BINARY_API(add)
BINARY_API(sub)
BINARY_API(mul)
BINARY_API(div)
BINARY_API(pow)
BINARY_API(maximum)
BINARY_API(minimum)
BINARY_API(gt)
BINARY_API(ge)
BINARY_API(eq)
BINARY_API(tanh_grad)
BINARY_API(sigmoid_grad)
BINARY_API(relu_grad)

/* ---- where(cond, a, b) ---- */
#define WHERE_ROW(NAME, T)                                                                              \
    static void NAME(int64_t n, void *yv, const void *const *in, const int64_t *s, const void *attrs) { \
        (void)attrs;                                                                                    \
        T *y = yv;                                                                                      \
        const T *c = in[0], *a = in[1], *b = in[2];                                                     \
        for (int64_t i = 0; i < n; i++) y[i] = c[i * s[0]] != 0 ? a[i * s[1]] : b[i * s[2]];            \
    }
WHERE_ROW(where_f32, float)
WHERE_ROW(where_f64, double)

/* d where = where(cond, g, 0), where(cond, 0, g) */
static tg_status where_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    tg_tensor *cond = node->inputs[0];
    tg_tensor *zero = tg_scalar(t, g->dtype, 0.0);
    if (NEEDS(1)) gi[1] = sum_like(t, tg_where(t, cond, g, zero), node->inputs[1]);
    if (NEEDS(2)) gi[2] = sum_like(t, tg_where(t, cond, zero, g), node->inputs[2]);
    return tg_tape_status(t);
}
static const tg_op where_op = {"where", 3, where_backward};

/* The one forward path for the ops of three broadcast operands. */
static tg_tensor *ternary(tg_tape *t, const tg_op *op, const char *who, tg_row_fn f32, tg_row_fn f64, tg_tensor *a,
                          tg_tensor *b, tg_tensor *c) {
    tg_tensor *in[3] = {a, b, c};
    if (!tg_check_pointwise_inputs(t, who, 3, in)) return NULL;
    int nd1, nd;
    int64_t s1[TG_MAX_DIMS], shape[TG_MAX_DIMS];
    if (!tg_broadcast_shapes(t, who, a, b, &nd1, s1)) return NULL;
    tg_tensor probe = {.dtype = a->dtype, .ndim = nd1};
    for (int i = 0; i < nd1; i++) probe.shape[i] = s1[i];
    if (!tg_broadcast_shapes(t, who, &probe, c, &nd, shape)) return NULL;
    tg_tensor *y;
    if (tg_fuse_pointwise(t, op, f32, f64, 3, in, nd, shape, NULL, 0, &y)) return y;
    y = tg_tape_result(t, a->dtype, nd, shape);
    if (!y) return NULL;
    if (y->numel) {
        tg_layout l;
        tg_layout_make(&l, y, 3, (const tg_tensor *const[]){a, b, c});
        tg_layout_run(&l, a->dtype == TG_F32 ? f32 : f64, y->data, (const void *[]){a->data, b->data, c->data},
                      tg_dtype_size(a->dtype), NULL);
    }
    return tg_tape_record(t, op, 3, in, y, NULL, 0);
}

tg_tensor *tg_where(tg_tape *t, tg_tensor *cond, tg_tensor *a, tg_tensor *b) {
    return ternary(t, &where_op, "tg_where", where_f32, where_f64, cond, a, b);
}

/* ---- mul_add(a, b, c) = a * b + c ---- */
#define MUL_ADD_ROW(NAME, T)                                                                            \
    static void NAME(int64_t n, void *yv, const void *const *in, const int64_t *s, const void *attrs) { \
        (void)attrs;                                                                                    \
        T *restrict y = yv;                                                                             \
        const T *a = in[0], *b = in[1], *c = in[2];                                                     \
        if (s[0] == 1 && s[1] == 1 && s[2] == 1)                                                        \
            for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i] + c[i];                                  \
        else if (s[0] == 1 && s[1] == 0 && s[2] == 0)                                                   \
            for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[0] + c[0];                                  \
        else                                                                                            \
            for (int64_t i = 0; i < n; i++) y[i] = a[i * s[0]] * b[i * s[1]] + c[i * s[2]];             \
    }
MUL_ADD_ROW(mul_add_f32, float)
MUL_ADD_ROW(mul_add_f64, double)

/* d(a b + c) = g b, g a, g */
static tg_status mul_add_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    tg_tensor *a = node->inputs[0], *b = node->inputs[1];
    if (NEEDS(0)) gi[0] = sum_like(t, tg_mul(t, g, b), a);
    if (NEEDS(1)) gi[1] = sum_like(t, tg_mul(t, g, a), b);
    if (NEEDS(2)) gi[2] = sum_like(t, g, node->inputs[2]);
    return tg_tape_status(t);
}
static const tg_op mul_add_op = {"mul_add", 3, mul_add_backward};

tg_tensor *tg_mul_add(tg_tape *t, tg_tensor *a, tg_tensor *b, tg_tensor *c) {
    return ternary(t, &mul_add_op, "tg_mul_add", mul_add_f32, mul_add_f64, a, b, c);
}

/* ---- with a scalar constant: x (op) s ---- */
typedef struct {
    double s;
} scalar_attrs;

/* y[i] = EXPR(x[i * st[0]], s): a fused pass may hand over a broadcast operand (stride 0) */
#define SCALAR_ROW(NAME, T, EXPR)                                                                        \
    static void NAME(int64_t n, void *yv, const void *const *in, const int64_t *st, const void *attrs) { \
        T *restrict y = yv;                                                                              \
        const T *px = in[0];                                                                             \
        T s = (T)((const scalar_attrs *)attrs)->s;                                                       \
        (void)s; /* pow_two and pow_three do not read it */                                              \
        if (st[0] == 1) {                                                                                \
            for (int64_t i = 0; i < n; i++) {                                                            \
                T x = px[i];                                                                             \
                y[i] = (EXPR);                                                                           \
            }                                                                                            \
        } else {                                                                                         \
            for (int64_t i = 0; i < n; i++) {                                                            \
                T x = px[i * st[0]];                                                                     \
                y[i] = (EXPR);                                                                           \
            }                                                                                            \
        }                                                                                                \
    }
#define SCALAR_KERNELS(NAME, EXPR)       \
    SCALAR_ROW(NAME##_f32, float, EXPR)  \
    SCALAR_ROW(NAME##_f64, double, EXPR)

SCALAR_KERNELS(add_scalar, x + s)
SCALAR_KERNELS(mul_scalar, x * s)
/* pow with the exponents 2 and 3 as products (PyTorch's fast paths; x x is
 * pow(x, 2) exactly): rsqrt's backward takes y^3 */
SCALAR_KERNELS(pow_general, pow(x, s))
SCALAR_KERNELS(pow_two, x * x)
SCALAR_KERNELS(pow_three, x * x * x)
#define POW_ROW(SUFFIX)                                                                                    \
    static void pow_scalar_##SUFFIX(int64_t n, void *y, const void *const *in, const int64_t *st,               \
                                    const void *attrs) {                                                       \
        double s = ((const scalar_attrs *)attrs)->s;                                                           \
        (s == 2 ? pow_two_##SUFFIX : s == 3 ? pow_three_##SUFFIX : pow_general_##SUFFIX)(n, y, in, st, attrs); \
    }
POW_ROW(f32)
POW_ROW(f64)
SCALAR_KERNELS(gt_scalar, (x > s) ? 1 : 0)

static tg_tensor *with_scalar(tg_tape *t, const tg_op *op, const char *who, tg_row_fn f32, tg_row_fn f64,
                              tg_tensor *x, double s) {
    if (!tg_check_pointwise_inputs(t, who, 1, &x)) return NULL;
    scalar_attrs attrs = {s};
    tg_tensor *y;
    if (tg_fuse_pointwise(t, op, f32, f64, 1, &x, x->ndim, x->shape, &attrs, sizeof attrs, &y)) return y;
    y = tg_tape_result(t, x->dtype, x->ndim, x->shape);
    if (!y) return NULL;
    if (y->numel) {
        tg_layout l;
        tg_layout_make(&l, y, 1, (const tg_tensor *const[]){x});
        tg_layout_run(&l, x->dtype == TG_F32 ? f32 : f64, y->data, (const void *[]){x->data, NULL, NULL},
                      tg_dtype_size(x->dtype), &attrs);
    }
    return tg_tape_record(t, op, 1, &x, y, &attrs, sizeof attrs);
}

static double scalar_of(const tg_node *node) { return ((const scalar_attrs *)node->attrs)->s; }

static tg_status add_scalar_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    if (NEEDS(0)) gi[0] = g;
    return tg_tape_status(t);
}
static tg_status mul_scalar_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    if (NEEDS(0)) gi[0] = tg_mul_scalar(t, g, scalar_of(node));
    return tg_tape_status(t);
}
/* d x^p = g * p * x^(p-1); 0 for p == 0, also at x == 0 (PyTorch) */
static tg_status pow_scalar_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    double p = scalar_of(node);
    if (NEEDS(0) && p == 0.0) gi[0] = tg_mul_scalar(t, g, 0.0);
    else if (NEEDS(0)) gi[0] = tg_mul(t, g, tg_mul_scalar(t, tg_pow_scalar(t, node->inputs[0], p - 1.0), p));
    return tg_tape_status(t);
}

/* "s=0.75" */
static int scalar_describe(const tg_node *node, char *buf, size_t size) {
    tg_text s = tg_text_on(buf, size);
    tg_text_printf(&s, "s=");
    tg_text_number(&s, scalar_of(node));
    return tg_text_length(&s);
}

static const tg_op add_scalar_op = {"add_scalar", 1, add_scalar_backward, scalar_describe};
static const tg_op mul_scalar_op = {"mul_scalar", 1, mul_scalar_backward, scalar_describe};
static const tg_op pow_scalar_op = {"pow_scalar", 1, pow_scalar_backward, scalar_describe};
static const tg_op gt_scalar_op = {"gt_scalar", 1, no_gradient, scalar_describe};

#define SCALAR_API(NAME)                                                                   \
    tg_tensor *tg_##NAME(tg_tape *t, tg_tensor *x, double s) {                             \
        return with_scalar(t, &NAME##_op, "tg_" #NAME, NAME##_f32, NAME##_f64, x, s);      \
    }
SCALAR_API(add_scalar)
SCALAR_API(mul_scalar)
SCALAR_API(pow_scalar)
SCALAR_API(gt_scalar)

/* ---- registry entries ---- */
/* broadcasting operands: [3,4] with [4] exercises sum_to in backward */
static tg_status sample_broadcast_pair(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 4), 0.2, 1.5);
    in[1] = tg_sample_signed(t, rng, dt, TG_SHAPE(4), 0.2, 1.5);
    return tg_tape_status(t);
}
/* distinct values (no ties) for max/min/comparisons: b = a shifted by +-[0.2, 0.8] */
static tg_status sample_untied_pair(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 4), 0.1, 1.0);
    in[1] = tg_add(t, in[0], tg_sample_signed(t, rng, dt, TG_SHAPE(3, 4), 0.2, 0.8));
    if (in[1]) in[1] = tg_detach(t, in[1]);
    return tg_tape_status(t);
}
/* pow needs a > 0 */
static tg_status sample_pow(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_uniform(t, rng, dt, TG_SHAPE(3, 4), 0.5, 2.0);
    in[1] = tg_sample_signed(t, rng, dt, TG_SHAPE(1, 4), 0.3, 2.0);
    return tg_tape_status(t);
}
static tg_status sample_one(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_uniform(t, rng, dt, TG_SHAPE(2, 3, 2), 0.3, 2.0);
    return tg_tape_status(t);
}
/* gt_scalar(x, 1.1): values kept 0.05 away from the threshold (f32 checks step by 1e-3) */
static tg_status sample_gt_scalar(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    sample_one(t, rng, dt, in);
    for (int64_t i = 0; in[0] && i < in[0]->numel; i++)
        if (fabs(tg_get(in[0], i) - 1.1) < 0.05) tg_set(in[0], i, tg_get(in[0], i) + 0.1);
    return tg_tape_status(t);
}
static tg_status sample_where(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_gt_scalar(t, tg_sample_uniform(t, rng, dt, TG_SHAPE(3, 4), 0.0, 1.0), 0.5);
    if (in[0]) in[0] = tg_detach(t, in[0]);
    in[1] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 4), 0.2, 1.5);
    in[2] = tg_sample_signed(t, rng, dt, TG_SHAPE(4), 0.2, 1.5);
    return tg_tape_status(t);
}

/* y = tanh or sigmoid of something: values inside (-0.9, 0.9) or (0.1, 0.9) */
static tg_status sample_tanh_grad(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 4), 0.1, 0.9);
    in[1] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 4), 0.2, 1.5);
    return tg_tape_status(t);
}
static tg_status sample_sigmoid_grad(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_uniform(t, rng, dt, TG_SHAPE(3, 4), 0.1, 0.9);
    in[1] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 4), 0.2, 1.5);
    return tg_tape_status(t);
}
/* relu_grad: x away from the kink at 0 (x is not differentiated) */
static tg_status sample_relu_grad(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 4), 0.1, 1.5);
    in[1] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 4), 0.2, 1.5);
    return tg_tape_status(t);
}
/* mul_add: [3,4] * [4] + [3,1], every operand broadcast somewhere */
static tg_status sample_mul_add(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 4), 0.2, 1.5);
    in[1] = tg_sample_signed(t, rng, dt, TG_SHAPE(4), 0.2, 1.5);
    in[2] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 1), 0.2, 1.5);
    return tg_tape_status(t);
}

#define APPLY2(NAME) \
    static tg_tensor *apply_##NAME(tg_tape *t, tg_tensor **in) { return tg_##NAME(t, in[0], in[1]); }
APPLY2(add)
APPLY2(sub)
APPLY2(mul)
APPLY2(div)
APPLY2(pow)
APPLY2(maximum)
APPLY2(minimum)
APPLY2(gt)
APPLY2(ge)
APPLY2(eq)
APPLY2(tanh_grad)
APPLY2(sigmoid_grad)
APPLY2(relu_grad)
static tg_tensor *apply_where(tg_tape *t, tg_tensor **in) { return tg_where(t, in[0], in[1], in[2]); }
static tg_tensor *apply_mul_add(tg_tape *t, tg_tensor **in) { return tg_mul_add(t, in[0], in[1], in[2]); }
static tg_tensor *apply_add_scalar(tg_tape *t, tg_tensor **in) { return tg_add_scalar(t, in[0], 0.75); }
static tg_tensor *apply_mul_scalar(tg_tape *t, tg_tensor **in) { return tg_mul_scalar(t, in[0], -1.5); }
static tg_tensor *apply_pow_scalar(tg_tape *t, tg_tensor **in) { return tg_pow_scalar(t, in[0], 2.5); }
static tg_tensor *apply_gt_scalar(tg_tape *t, tg_tensor **in) { return tg_gt_scalar(t, in[0], 1.1); }

const tg_op_spec tg_spec_add = {"add", "tg_add", 2, sample_broadcast_pair, apply_add};
const tg_op_spec tg_spec_sub = {"sub", "tg_sub", 2, sample_broadcast_pair, apply_sub};
const tg_op_spec tg_spec_mul = {"mul", "tg_mul", 2, sample_broadcast_pair, apply_mul};
const tg_op_spec tg_spec_div = {"div", "tg_div", 2, sample_broadcast_pair, apply_div};
const tg_op_spec tg_spec_pow = {"pow", "tg_pow", 2, sample_pow, apply_pow};
const tg_op_spec tg_spec_maximum = {"maximum", "tg_maximum", 2, sample_untied_pair, apply_maximum};
const tg_op_spec tg_spec_minimum = {"minimum", "tg_minimum", 2, sample_untied_pair, apply_minimum};
const tg_op_spec tg_spec_gt = {"gt", "tg_gt", 2, sample_untied_pair, apply_gt};
const tg_op_spec tg_spec_ge = {"ge", "tg_ge", 2, sample_untied_pair, apply_ge};
const tg_op_spec tg_spec_eq = {"eq", "tg_eq", 2, sample_untied_pair, apply_eq};
const tg_op_spec tg_spec_where = {"where", "tg_where", 3, sample_where, apply_where, .constant_inputs = 1u};
const tg_op_spec tg_spec_add_scalar = {"add_scalar", "tg_add_scalar", 1, sample_one, apply_add_scalar};
const tg_op_spec tg_spec_mul_scalar = {"mul_scalar", "tg_mul_scalar", 1, sample_one, apply_mul_scalar};
const tg_op_spec tg_spec_pow_scalar = {"pow_scalar", "tg_pow_scalar", 1, sample_one, apply_pow_scalar};
const tg_op_spec tg_spec_gt_scalar = {"gt_scalar", "tg_gt_scalar", 1, sample_gt_scalar, apply_gt_scalar};
const tg_op_spec tg_spec_mul_add = {"mul_add", "tg_mul_add", 3, sample_mul_add, apply_mul_add};
const tg_op_spec tg_spec_tanh_grad = {"tanh_grad", "tg_tanh_grad", 2, sample_tanh_grad, apply_tanh_grad};
const tg_op_spec tg_spec_sigmoid_grad = {"sigmoid_grad", "tg_sigmoid_grad", 2, sample_sigmoid_grad,
                                         apply_sigmoid_grad};
const tg_op_spec tg_spec_relu_grad = {"relu_grad", "tg_relu_grad", 2, sample_relu_grad, apply_relu_grad,
                                      .constant_inputs = 1u};
