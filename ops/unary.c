/* Elementwise unary ops: forward kernels (f32, f64) and backward rules. */
#include "ops/unary.h"

#include <tgmath.h>

#include "ops/describe.h"
#include "ops/elementwise.h"
#include "ops/kernel.h"
#include "ops/registry.h"

typedef struct {
    double p, q; /* leaky_relu: p = slope; clamp: [p, q] */
} unary_attrs;

/* y[i] = EXPR(x[i * st[0]]): a fused pass may hand over a broadcast operand (stride 0) */
#define UNARY_ROW(NAME, T, EXPR)                                                                         \
    static void NAME(int64_t n, void *yv, const void *const *in, const int64_t *st, const void *attrs) { \
        typedef T real; /* the element type, for constants in EXPR */                                    \
        (void)sizeof(real);                                                                              \
        T *restrict y = yv;                                                                              \
        const T *px = in[0];                                                                             \
        const unary_attrs *at = attrs;                                                                   \
        T p = at ? (T)at->p : 0, q = at ? (T)at->q : 0;                                                  \
        (void)p, (void)q;                                                                                \
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
#define UNARY_KERNELS(NAME, EXPR)        \
    UNARY_ROW(NAME##_f32, float, EXPR)   \
    UNARY_ROW(NAME##_f64, double, EXPR)

#define GELU_C 0.7978845608028654 /* sqrt(2/pi) */
#define GELU_K 0.044715

UNARY_KERNELS(neg, -x)
UNARY_KERNELS(abs, fabs(x))
UNARY_KERNELS(sign, (x > 0) - (x < 0))
UNARY_KERNELS(exp, exp(x))
UNARY_KERNELS(log, log(x))
UNARY_KERNELS(sqrt, sqrt(x))
UNARY_KERNELS(rsqrt, 1 / sqrt(x))
UNARY_KERNELS(square, x * x)
UNARY_KERNELS(sin, sin(x))
UNARY_KERNELS(cos, cos(x))
UNARY_KERNELS(tanh, tanh(x))
UNARY_KERNELS(sigmoid, x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)))
UNARY_KERNELS(relu, x <= 0 ? 0 : x) /* NaN stays NaN (PyTorch) */
UNARY_KERNELS(leaky_relu, x > 0 ? x : p * x)
UNARY_KERNELS(gelu, (real)0.5 * x * (1 + tanh((real)GELU_C * (x + (real)GELU_K * x * x * x))))
UNARY_KERNELS(softplus, x > 20 ? x : (x > 0 ? x : 0) + log1p(exp(-fabs(x))))
UNARY_KERNELS(clamp, x < p ? p : (x > q ? q : x))

/* The one forward path for every unary op. */
static tg_tensor *unary(tg_tape *t, const tg_op *op, const char *who, tg_row_fn f32, tg_row_fn f64, tg_tensor *x,
                        const unary_attrs *attrs) {
    if (!tg_check_pointwise_inputs(t, who, 1, &x)) return NULL;
    tg_tensor *y;
    if (tg_fuse_pointwise(t, op, f32, f64, 1, &x, x->ndim, x->shape, attrs, attrs ? sizeof *attrs : 0, &y)) return y;
    y = tg_tape_result(t, x->dtype, x->ndim, x->shape);
    if (!y) return NULL;
    if (y->numel) {
        tg_layout l;
        tg_layout_make(&l, y, 1, (const tg_tensor *const[]){x});
        tg_layout_run(&l, x->dtype == TG_F32 ? f32 : f64, y->data, (const void *[]){x->data, NULL, NULL},
                      tg_dtype_size(x->dtype), attrs);
    }
    return tg_tape_record(t, op, 1, &x, y, attrs, attrs ? sizeof *attrs : 0);
}

#define X (node->inputs[0])
#define Y (node->output)
#define ATTRS ((const unary_attrs *)node->attrs)
/* Each rule sets gi[0] = dL/dx from g = dL/dy (the engine only asks when x needs it). */
#define BACKWARD(NAME, EXPR)                                                                             \
    static tg_status NAME##_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {   \
        if (node->inputs[0]->requires_grad) gi[0] = (EXPR);                                              \
        return tg_tape_status(t);                                                                        \
    }

/* 1 - m for a 0/1 mask m */
static tg_tensor *one_minus(tg_tape *t, tg_tensor *m) { return tg_add_scalar(t, tg_neg(t, m), 1.0); }

/* gelu'(x) = 0.5 (1 + th) + 0.5 x (1 - th^2) c (1 + 3k x^2), th = tanh(c (x + k x^3)) */
static tg_tensor *gelu_derivative(tg_tape *t, tg_tensor *x) {
    tg_tensor *x2 = tg_square(t, x);
    tg_tensor *u = tg_mul_scalar(t, tg_add(t, x, tg_mul_scalar(t, tg_mul(t, x2, x), GELU_K)), GELU_C);
    tg_tensor *th = tg_tanh(t, u);
    tg_tensor *left = tg_mul_scalar(t, tg_add_scalar(t, th, 1.0), 0.5);
    tg_tensor *du = tg_mul_scalar(t, tg_add_scalar(t, tg_mul_scalar(t, x2, 3 * GELU_K), 1.0), 0.5 * GELU_C);
    tg_tensor *right = tg_mul(t, tg_mul(t, x, one_minus(t, tg_square(t, th))), du);
    return tg_add(t, left, right);
}

/* clamp passes the gradient where low <= x <= high */
static tg_tensor *clamp_mask(tg_tape *t, tg_tensor *x, double low, double high) {
    tg_tensor *above = tg_gt_scalar(t, x, high);
    tg_tensor *below = tg_gt_scalar(t, tg_neg(t, x), -low);
    return tg_mul(t, one_minus(t, above), one_minus(t, below));
}

BACKWARD(neg, tg_neg(t, g))                                                        /* -g */
BACKWARD(abs, tg_mul(t, g, tg_sign(t, X)))                                         /* g sign(x) */
BACKWARD(exp, tg_mul(t, g, Y))                                                     /* g e^x */
BACKWARD(log, tg_div(t, g, X))                                                     /* g / x */
BACKWARD(sqrt, tg_mul_scalar(t, tg_div(t, g, Y), 0.5))                             /* g / (2 y) */
BACKWARD(rsqrt, tg_mul(t, g, tg_mul_scalar(t, tg_pow_scalar(t, Y, 3.0), -0.5)))    /* -g y^3 / 2 */
BACKWARD(square, tg_mul(t, g, tg_mul_scalar(t, X, 2.0)))                           /* 2 g x */
BACKWARD(sin, tg_mul(t, g, tg_cos(t, X)))                                          /* g cos x */
BACKWARD(cos, tg_neg(t, tg_mul(t, g, tg_sin(t, X))))                               /* -g sin x */
BACKWARD(tanh, tg_tanh_grad(t, Y, g))                                              /* g (1 - y^2) */
BACKWARD(sigmoid, tg_sigmoid_grad(t, Y, g))                                        /* g y (1 - y) */
BACKWARD(relu, tg_relu_grad(t, X, g))                                              /* g [x > 0] */
BACKWARD(leaky_relu, tg_mul(t, g, tg_add_scalar(t, tg_mul_scalar(t, tg_gt_scalar(t, X, 0.0), 1.0 - ATTRS->p),
                                                ATTRS->p)))                        /* g (x > 0 ? 1 : slope) */
BACKWARD(gelu, tg_mul(t, g, gelu_derivative(t, X)))
BACKWARD(softplus, tg_mul(t, g, tg_sigmoid(t, X)))                                 /* g sigmoid(x) */
BACKWARD(clamp, tg_mul(t, g, clamp_mask(t, X, ATTRS->p, ATTRS->q)))

static tg_status sign_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    (void)node, (void)g, (void)gi; /* piecewise constant: zero gradient */
    return tg_tape_status(t);
}

#define UNARY_OP(NAME) static const tg_op NAME##_op = {#NAME, 1, NAME##_backward};
UNARY_OP(neg)
UNARY_OP(abs)
UNARY_OP(sign)
UNARY_OP(exp)
UNARY_OP(log)
UNARY_OP(sqrt)
UNARY_OP(rsqrt)
UNARY_OP(square)
UNARY_OP(sin)
UNARY_OP(cos)
UNARY_OP(tanh)
UNARY_OP(sigmoid)
UNARY_OP(relu)
UNARY_OP(gelu)
UNARY_OP(softplus)

/* "slope=0.1" */
static int leaky_relu_describe(const tg_node *node, char *buf, size_t size) {
    tg_text s = tg_text_on(buf, size);
    tg_text_printf(&s, "slope=");
    tg_text_number(&s, ATTRS->p);
    return tg_text_length(&s);
}
/* "[-0.5, 0.7]" */
static int clamp_describe(const tg_node *node, char *buf, size_t size) {
    tg_text s = tg_text_on(buf, size);
    tg_text_printf(&s, "[");
    tg_text_number(&s, ATTRS->p);
    tg_text_printf(&s, ", ");
    tg_text_number(&s, ATTRS->q);
    tg_text_printf(&s, "]");
    return tg_text_length(&s);
}
static const tg_op leaky_relu_op = {"leaky_relu", 1, leaky_relu_backward, leaky_relu_describe};
static const tg_op clamp_op = {"clamp", 1, clamp_backward, clamp_describe};

#define UNARY_API(NAME)                                                                \
    tg_tensor *tg_##NAME(tg_tape *t, tg_tensor *x) {                                   \
        return unary(t, &NAME##_op, "tg_" #NAME, NAME##_f32, NAME##_f64, x, NULL);     \
    }
UNARY_API(neg)
UNARY_API(abs)
UNARY_API(sign)
UNARY_API(exp)
UNARY_API(log)
UNARY_API(sqrt)
UNARY_API(rsqrt)
UNARY_API(square)
UNARY_API(sin)
UNARY_API(cos)
UNARY_API(tanh)
UNARY_API(sigmoid)
UNARY_API(relu)
UNARY_API(gelu)
UNARY_API(softplus)

tg_tensor *tg_leaky_relu(tg_tape *t, tg_tensor *x, double slope) {
    unary_attrs attrs = {slope, 0};
    return unary(t, &leaky_relu_op, "tg_leaky_relu", leaky_relu_f32, leaky_relu_f64, x, &attrs);
}

tg_tensor *tg_clamp(tg_tape *t, tg_tensor *x, double low, double high) {
    if (t && !(low <= high)) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_clamp: low %g is above high %g", low, high);
        return NULL;
    }
    unary_attrs attrs = {low, high};
    return unary(t, &clamp_op, "tg_clamp", clamp_f32, clamp_f64, x, &attrs);
}

/* ---- registry entries ---- */
static tg_status sample_signed(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 5), 0.1, 2.0); /* away from the kink at 0 */
    return tg_tape_status(t);
}
static tg_status sample_positive(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_uniform(t, rng, dt, TG_SHAPE(3, 5), 0.3, 2.5);
    return tg_tape_status(t);
}
/* clamp(x, -0.5, 0.7): values kept away from both edges */
static tg_status sample_clamp(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_uniform(t, rng, dt, TG_SHAPE(3, 5), -1.5, 1.5);
    for (int64_t i = 0; in[0] && i < in[0]->numel; i++) {
        double v = tg_get(in[0], i);
        if (fabs(v + 0.5) < 0.05 || fabs(v - 0.7) < 0.05) tg_set(in[0], i, v + 0.12);
    }
    return tg_tape_status(t);
}

#define APPLY1(NAME) \
    static tg_tensor *apply_##NAME(tg_tape *t, tg_tensor **in) { return tg_##NAME(t, in[0]); }
APPLY1(neg)
APPLY1(abs)
APPLY1(sign)
APPLY1(exp)
APPLY1(log)
APPLY1(sqrt)
APPLY1(rsqrt)
APPLY1(square)
APPLY1(sin)
APPLY1(cos)
APPLY1(tanh)
APPLY1(sigmoid)
APPLY1(relu)
APPLY1(gelu)
APPLY1(softplus)
static tg_tensor *apply_leaky_relu(tg_tape *t, tg_tensor **in) { return tg_leaky_relu(t, in[0], 0.1); }
static tg_tensor *apply_clamp(tg_tape *t, tg_tensor **in) { return tg_clamp(t, in[0], -0.5, 0.7); }

#define SPEC(NAME, SAMPLE) const tg_op_spec tg_spec_##NAME = {#NAME, "tg_" #NAME, 1, SAMPLE, apply_##NAME};
SPEC(neg, sample_signed)
SPEC(abs, sample_signed)
SPEC(sign, sample_signed)
SPEC(exp, sample_signed)
SPEC(log, sample_positive)
SPEC(sqrt, sample_positive)
SPEC(rsqrt, sample_positive)
SPEC(square, sample_signed)
SPEC(sin, sample_signed)
SPEC(cos, sample_signed)
SPEC(tanh, sample_signed)
SPEC(sigmoid, sample_signed)
SPEC(relu, sample_signed)
SPEC(leaky_relu, sample_signed)
SPEC(gelu, sample_signed)
SPEC(softplus, sample_signed)
SPEC(clamp, sample_clamp)
