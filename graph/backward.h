/* The reverse-mode engine.
 *
 * tg_backward replays the tape from `root` back to the leaves, calling each
 * node's backward rule, and ACCUMULATES the gradients into ->grad of every
 * parameter and every tape tensor marked with tg_requires_grad (like
 * PyTorch's loss.backward(); clear with tg_zero_grad or tg_set_grad_to_none).
 * Where ->grad is NULL (a tape tensor's first pass; a parameter after
 * tg_set_grad_to_none) the pass writes the gradient instead of adding it: into
 * the parameter's own gradient memory, or a new tensor on the tape. A leaf the
 * pass does not reach keeps ->grad as it was, NULL included. All leaves are
 * written in one parallel region at the end of the pass.
 *
 * ->grad holds values, not a graph: with create_graph, tg_backward records the
 * backward pass on the tape (so the DOT exporter can draw it), but to
 * differentiate a gradient again take it from tg_grad.
 *
 * tg_grad is the functional form (like torch.autograd.grad): it returns the
 * gradients of outputs with respect to inputs as tensors on the tape and
 * leaves ->grad alone. With create_graph the backward pass is itself recorded,
 * so the returned gradients can be differentiated again (Hessian-vector
 * products, gradient penalties).
 */
#ifndef TG_GRAPH_BACKWARD_H
#define TG_GRAPH_BACKWARD_H

#include "core/tape.h"

typedef struct tg_backward_opts {
    tg_tensor *grad_output; /* dL/droot with root's shape; needed when root is not a scalar */
    /* keep the graph for another backward (implied by create_graph), and the
     * gradients gathered on intermediate results (tg_dot's show_grads draws
     * them). Without it the pass gives back, as it goes, the memory of every
     * gradient the rest of the pass no longer needs (like PyTorch freeing
     * them), so its peak stays near the forward pass's memory plus one
     * layer's gradients (tg_tape_arena_peak measures it). */
    bool retain_graph;
    bool create_graph;      /* record the backward pass on the tape */
} tg_backward_opts;

/* opts may be NULL (scalar root, graph released afterwards). Errors: a NULL or
 * foreign root, a root that needs no gradient, a non-scalar root without
 * grad_output, a graph already released by an earlier backward, a parameter
 * modified in place after the forward pass used it, or an earlier error kept
 * on the tape. */
tg_status tg_backward(tg_tape *t, tg_tensor *root, const tg_backward_opts *opts);

typedef struct tg_grad_opts {
    bool retain_graph;
    bool create_graph;
    bool allow_unused;      /* an input the outputs do not depend on gets a NULL gradient */
    bool materialize_grads; /* ... gets zeros instead (implies allow_unused) */
} tg_grad_opts;

/* grads[i] = sum_k d(outputs[k] . grad_outputs[k]) / d inputs[i], like
 * torch.autograd.grad. grad_outputs may be NULL (every output a scalar, seeded
 * with 1) or hold NULL entries for scalar outputs. Every input must require a
 * gradient (a parameter or a tensor marked with tg_requires_grad). An input
 * the outputs do not depend on is an error unless opts allow it (NULL or
 * zeros, as PyTorch's allow_unused and materialize_grads). These argument
 * errors are returned and left in tg_last_error() but not kept on the tape:
 * the tape stays usable. */
tg_status tg_grad(tg_tape *t, int n_outputs, tg_tensor *const *outputs, tg_tensor *const *grad_outputs,
                  int n_inputs, tg_tensor *const *inputs, tg_tensor **grads, const tg_grad_opts *opts);

#endif
