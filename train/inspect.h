/* Looking inside a model while it trains: a layer's output on the tape, the
 * mean and spread of its values, per unit, and the gradient norm of a group
 * of parameters. Read from a progress callback after a step (tg_progress has
 * the step's tape and model), or after any forward and backward pass.
 *
 *   const tg_tensor *h = tg_scope_output(p->tape, "layer3");     // [N, units]
 *   tg_value_stats s;  tg_tensor_stats(h, &s);                  // s.mean, s.std
 *   double g = tg_params_grad_norm(p->model->params, "fc3.");    // ||dL/d fc3.*||
 */
#ifndef TG_TRAIN_INSPECT_H
#define TG_TRAIN_INSPECT_H

#include "core/params.h"
#include "core/tape.h"

/* The output of the scope `scope` (a path such as "layer3" or "model/layer3")
 * in the forward pass recorded on t: the result of the last node recorded in
 * it or in a scope nested in it ("layer3" matches "layer3" and
 * "layer3/batchnorm", not "layer30"); nodes a create_graph backward pass
 * recorded are not part of the forward pass. For tg_mlp_new's models, scope
 * "layer<k>" gives hidden layer k's activations (linear, batchnorm,
 * activation) and, for the last layer, the outputs; the activation's input
 * is tg_scope_output(...)->node->inputs[0]. NULL + tg_last_error() if no
 * node was recorded in the scope. */
const tg_tensor *tg_scope_output(const tg_tape *t, const char *scope);

/* Summary of a tensor's values (non-finite values included: the mean of a
 * tensor holding NaN is NaN). std is the population std (divisor n). */
typedef struct tg_value_stats {
    int64_t n;
    double mean, std, min, max;
} tg_value_stats;
tg_status tg_tensor_stats(const tg_tensor *x, tg_value_stats *out);

/* Per unit of a layer's output x [N, units] (any [N, ...]: the units are the
 * trailing elements of a sample): mean[u] and std[u] (population) over the N
 * samples. mean and std hold units = x->numel / N values each. */
tg_status tg_unit_stats(const tg_tensor *x, double *mean, double *std);

/* sqrt(sum of squared gradient elements) over the trainable parameters whose
 * names start with prefix ("fc3." for an MLP's third linear layer; NULL or
 * "" for all); parameters without a gradient count as zero. */
double tg_params_grad_norm(const tg_params *p, const char *prefix);

#endif
