/* Adam and AdamW, PyTorch's torch.optim.Adam / AdamW equations (t = step count):
 *   g = grad (+ weight_decay * w for Adam; AdamW instead w = w * (1 - lr * weight_decay))
 *   m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2
 *   w = w - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps) */
#ifndef TG_OPTIM_ADAM_H
#define TG_OPTIM_ADAM_H

#include "optim/optim.h"

typedef struct tg_adam_opts {
    double lr, beta1, beta2, eps, weight_decay;
    bool decoupled_weight_decay; /* true: AdamW */
} tg_adam_opts;

/* PyTorch's defaults: Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0;
 * AdamW the same with weight_decay 0.01. Start from these and change fields. */
tg_adam_opts tg_adam_defaults(void);
tg_adam_opts tg_adamw_defaults(void);

/* NULL + tg_last_error() on bad options (lr <= 0, betas outside [0, 1), eps < 0). */
tg_optim *tg_adam_new(tg_params *p, tg_adam_opts opts);

#endif
