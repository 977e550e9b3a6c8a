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

/* With a scalar constant s (no tensor needed). */
tg_tensor *tg_add_scalar(tg_tape *t, tg_tensor *x, double s);  /* x + s */
tg_tensor *tg_mul_scalar(tg_tape *t, tg_tensor *x, double s);  /* x * s */
tg_tensor *tg_pow_scalar(tg_tape *t, tg_tensor *x, double p);  /* x ^ p */
tg_tensor *tg_gt_scalar(tg_tape *t, tg_tensor *x, double s);   /* 1.0 where x > s, no gradient */

#endif
