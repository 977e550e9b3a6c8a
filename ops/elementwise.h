/* Elementwise binary operations with NumPy broadcasting (like PyTorch):
 * shapes are aligned from the right; a dimension of 1 stretches.
 * [N,C] + [C] -> [N,C];  [N,1] * [1,C] -> [N,C];  [2,3] + [4] -> error.
 * Both inputs must have the same dtype (tg_cast converts). */
#ifndef TG_OPS_ELEMENTWISE_H
#define TG_OPS_ELEMENTWISE_H

#include "core/tape.h"

tg_tensor *tg_add(tg_tape *t, tg_tensor *a, tg_tensor *b);     /* a + b */
tg_tensor *tg_sub(tg_tape *t, tg_tensor *a, tg_tensor *b);     /* a - b */
tg_tensor *tg_mul(tg_tape *t, tg_tensor *a, tg_tensor *b);     /* a * b */
tg_tensor *tg_div(tg_tape *t, tg_tensor *a, tg_tensor *b);     /* a / b */
tg_tensor *tg_pow(tg_tape *t, tg_tensor *a, tg_tensor *b);     /* a ^ b (a > 0 for a gradient in b) */
tg_tensor *tg_maximum(tg_tape *t, tg_tensor *a, tg_tensor *b); /* max(a, b); ties split the gradient */
tg_tensor *tg_minimum(tg_tape *t, tg_tensor *a, tg_tensor *b); /* min(a, b); ties split the gradient */
/* cond != 0 ? a : b, all three broadcast; no gradient flows to cond */
tg_tensor *tg_where(tg_tape *t, tg_tensor *cond, tg_tensor *a, tg_tensor *b);

/* Comparisons: 1.0 where true, 0.0 where false; gradient zero everywhere. */
tg_tensor *tg_gt(tg_tape *t, tg_tensor *a, tg_tensor *b);      /* a > b */
tg_tensor *tg_ge(tg_tape *t, tg_tensor *a, tg_tensor *b);      /* a >= b */
tg_tensor *tg_eq(tg_tape *t, tg_tensor *a, tg_tensor *b);      /* a == b */

/* a * b + c in one pass, all three broadcast (the same bits as add(mul(a, b), c)). */
tg_tensor *tg_mul_add(tg_tape *t, tg_tensor *a, tg_tensor *b, tg_tensor *c);

/* Fused backward primitives: what the backward rules of tanh, sigmoid and
 * relu compute, in one pass instead of three or four ops; themselves ops with
 * their own backward rules, so second derivatives go through them. */
tg_tensor *tg_tanh_grad(tg_tape *t, tg_tensor *y, tg_tensor *g);    /* g (1 - y^2), y = tanh x */
tg_tensor *tg_sigmoid_grad(tg_tape *t, tg_tensor *y, tg_tensor *g); /* g (y (1 - y)), y = sigmoid x */
/* x <= 0 ? 0 : g (PyTorch's threshold_backward: +0 where x <= 0 whatever g is, g where x is NaN);
 * no gradient flows to x */
tg_tensor *tg_relu_grad(tg_tape *t, tg_tensor *x, tg_tensor *g);

/* With a scalar constant s (no tensor needed). */
tg_tensor *tg_add_scalar(tg_tape *t, tg_tensor *x, double s);  /* x + s */
tg_tensor *tg_mul_scalar(tg_tape *t, tg_tensor *x, double s);  /* x * s */
tg_tensor *tg_pow_scalar(tg_tape *t, tg_tensor *x, double p);  /* x ^ p */
tg_tensor *tg_gt_scalar(tg_tape *t, tg_tensor *x, double s);   /* 1.0 where x > s, no gradient */

#endif
