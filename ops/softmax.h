/* Softmax and log-softmax along one axis (negative counts from the end), any
 * axis of a tensor with at least one dimension. Numerically stable: the row
 * maximum is subtracted first, so inputs like 1000 do not overflow. A row
 * whose maximum is infinite gives NaN, like torch.softmax. */
#ifndef TG_OPS_SOFTMAX_H
#define TG_OPS_SOFTMAX_H

#include "core/tape.h"

/* y_i = exp(x_i - m) / sum_j exp(x_j - m); gradient y * (g - sum(g * y)) */
tg_tensor *tg_softmax(tg_tape *t, tg_tensor *x, int axis);
/* y_i = x_i - m - log sum_j exp(x_j - m); gradient g - exp(y) * sum(g) */
tg_tensor *tg_log_softmax(tg_tape *t, tg_tensor *x, int axis);

#endif
