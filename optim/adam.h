/* Adam and AdamW, PyTorch 1.13's torch.optim.Adam / AdamW equations, with
 * t the parameter's own update count (1, 2, ...):
 *   g = grad (-grad with maximize)
 *   Adam: g = g + weight_decay * w;   AdamW: w = w * (1 - lr * weight_decay)
 *   m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2
 *   amsgrad: v_max = max(v_max, v), and v_max replaces v below
 *   w = w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * State: "exp_avg" (m), "exp_avg_sq" (v), "max_exp_avg_sq" (v_max, amsgrad).
 * lr, weight decay, betas and eps can differ per parameter group. */
#ifndef TG_OPTIM_ADAM_H
#define TG_OPTIM_ADAM_H

#include "optim/optim.h"

typedef struct tg_adam_opts {
    double lr;                   /* > 0 */
    double beta1, beta2;         /* in [0, 1) */
    double eps, weight_decay;    /* >= 0 */
    bool decoupled_weight_decay; /* true: AdamW */
    bool amsgrad;                /* normalise by the largest v so far */
    bool maximize;               /* climb the objective instead */
} tg_adam_opts;

/* PyTorch's defaults: Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0;
 * AdamW the same with weight_decay 0.01. Start from these and change fields. */
tg_adam_opts tg_adam_defaults(void);
tg_adam_opts tg_adamw_defaults(void);

/* NULL + tg_last_error() naming the option and its value on a bad one
 * (NaN, infinite, out of range). */
tg_optim *tg_adam_new(tg_params *p, tg_adam_opts opts);

#endif
