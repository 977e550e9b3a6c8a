/* Stochastic gradient descent, PyTorch's torch.optim.SGD equations:
 *   g = grad + weight_decay * w
 *   b = momentum * b + (1 - dampening) * g     (b = g on the first step)
 *   g = nesterov ? g + momentum * b : b        (when momentum != 0)
 *   w = w - lr * g
 * Batch, mini-batch and stochastic gradient descent differ only in how many
 * samples the loss averaged over. */
#ifndef TG_OPTIM_SGD_H
#define TG_OPTIM_SGD_H

#include "optim/optim.h"

typedef struct tg_sgd_opts {
    double lr;
    double momentum;     /* 0: plain SGD */
    double dampening;
    double weight_decay; /* L2 on the gradient, same as tg_l2_penalty(lambda) */
    bool nesterov;       /* needs momentum > 0 and dampening == 0 */
} tg_sgd_opts;

/* NULL + tg_last_error() on bad options (lr <= 0, nesterov without momentum). */
tg_optim *tg_sgd_new(tg_params *p, tg_sgd_opts opts);

#endif
