/* Stochastic gradient descent, PyTorch 1.13's torch.optim.SGD equations:
 *   g = grad (-grad with maximize) + weight_decay * w
 *   b = momentum * b + (1 - dampening) * g     (b = g at the parameter's first update)
 *   g = nesterov ? g + momentum * b : b        (when momentum != 0)
 *   w = w - lr * g
 * Batch, mini-batch and stochastic gradient descent differ only in how many
 * samples the loss averaged over. State: "momentum_buffer" (b). lr, weight
 * decay, momentum and dampening can differ per parameter group. */
#ifndef TG_OPTIM_SGD_H
#define TG_OPTIM_SGD_H

#include "optim/optim.h"

typedef struct tg_sgd_opts {
    double lr;           /* > 0 */
    double momentum;     /* >= 0; 0: plain SGD */
    double dampening;    /* in [0, 1] */
    double weight_decay; /* >= 0: L2 on the gradient, same as tg_l2_penalty(lambda) */
    bool nesterov;       /* needs momentum > 0 and dampening == 0 (in every group) */
    bool maximize;       /* climb the objective instead */
} tg_sgd_opts;

/* NULL + tg_last_error() naming the option and its value on a bad one
 * (NaN, infinite, out of range; nesterov without momentum). */
tg_optim *tg_sgd_new(tg_params *p, tg_sgd_opts opts);

#endif
