/* tapegrad: reverse-mode automatic differentiation on dynamic graphs of
 * tensor operations, in C11. One header gives the whole public API.
 *
 *   tg_params *p = tg_params_new();          // parameters outlive tapes
 *   tg_tape *t = tg_tape_new();              // one step's graph and memory
 *   tg_tensor *y = tg_matmul(t, x, w);       // ops record themselves
 *   tg_tensor *loss = tg_mean(t, tg_square(t, tg_sub(t, y, target)), NULL, 0, false);
 *   if (!loss) puts(tg_tape_error(t));       // errors are values
 *   tg_backward(t, loss, NULL);              // gradients accumulate in w->grad
 *   tg_tape_reset(t);                        // memory kept for the next step
 */
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#ifdef __cplusplus
extern "C" {
#endif

#include "core/status.h"
#include "core/tensor.h"
#include "core/rng.h"
#include "core/tape.h"
#include "core/params.h"
#include "core/checkpoint.h"
#include "core/parallel.h"
#include "core/replicas.h"

#include "ops/elementwise.h"
#include "ops/unary.h"
#include "ops/reduce.h"
#include "ops/softmax.h"
#include "ops/shape.h"
#include "ops/matmul.h"
#include "ops/conv.h"
#include "ops/pool.h"
#include "ops/dropout.h"
#include "ops/nn.h"
#include "ops/loss.h"
#include "ops/registry.h"
#include "ops/custom.h"
#include "ops/fusion.h"
#include "ops/replica.h"

#include "graph/backward.h"
#include "graph/dot.h"
#include "graph/gradcheck.h"

#include "optim/optim.h"
#include "optim/groups.h"
#include "optim/optim_state.h"
#include "optim/sgd.h"
#include "optim/adam.h"
#include "optim/schedule.h"
#include "optim/batches.h"

#include "data/dataset.h"

#include "train/model.h"
#include "train/metrics.h"
#include "train/trainer.h"
#include "train/progress.h"
#include "train/plot.h"
#include "train/inspect.h"
#include "train/lesson.h"
#include "train/lesson_lr.h"
#include "train/lesson_gd.h"
#include "train/lesson_l2.h"
#include "train/lesson_bn.h"
#include "train/lesson_backprop.h"

#ifdef __cplusplus
}
#endif

#endif
