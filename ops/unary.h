/* Elementwise unary operations: y has x's shape and dtype. */
#ifndef TG_OPS_UNARY_H
#define TG_OPS_UNARY_H

#include "core/tape.h"

tg_tensor *tg_neg(tg_tape *t, tg_tensor *x);      /* -x */
tg_tensor *tg_abs(tg_tape *t, tg_tensor *x);      /* |x|, gradient sign(x) (0 at 0, like PyTorch) */
tg_tensor *tg_sign(tg_tape *t, tg_tensor *x);     /* -1, 0, 1; gradient zero */
tg_tensor *tg_exp(tg_tape *t, tg_tensor *x);      /* e^x */
tg_tensor *tg_log(tg_tape *t, tg_tensor *x);      /* ln x */
tg_tensor *tg_sqrt(tg_tape *t, tg_tensor *x);     /* sqrt(x) */
tg_tensor *tg_rsqrt(tg_tape *t, tg_tensor *x);    /* 1 / sqrt(x) */
tg_tensor *tg_square(tg_tape *t, tg_tensor *x);   /* x^2 */
tg_tensor *tg_sin(tg_tape *t, tg_tensor *x);      /* sin x */
tg_tensor *tg_cos(tg_tape *t, tg_tensor *x);      /* cos x */
tg_tensor *tg_tanh(tg_tape *t, tg_tensor *x);     /* tanh x */
tg_tensor *tg_sigmoid(tg_tape *t, tg_tensor *x);  /* 1 / (1 + e^-x), stable for large |x| */
tg_tensor *tg_relu(tg_tape *t, tg_tensor *x);     /* max(x, 0), gradient 0 at 0 */
tg_tensor *tg_leaky_relu(tg_tape *t, tg_tensor *x, double slope); /* x > 0 ? x : slope*x */
/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): GELU, tanh form */
tg_tensor *tg_gelu(tg_tape *t, tg_tensor *x);
/* log(1 + e^x); x for x > 20 (PyTorch's beta=1, threshold=20) */
tg_tensor *tg_softplus(tg_tape *t, tg_tensor *x);
/* min(max(x, low), high); gradient 1 where low <= x <= high (PyTorch) */
tg_tensor *tg_clamp(tg_tape *t, tg_tensor *x, double low, double high);

#endif
