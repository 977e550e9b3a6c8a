/* Optimizers: one interface for every update rule.
 *
 *   tg_optim *opt = tg_adam_new(params, tg_adam_defaults());
 *   for (...) { tg_zero_grad(params); ...forward...; tg_backward(t, loss, NULL);
 *               tg_clip_grad_norm(params, 1.0, NULL);   // optional
 *               tg_optim_step(opt); tg_tape_reset(t); }
 *   tg_optim_free(opt);
 *
 * A step reads every trainable parameter's ->grad, updates the parameter in
 * place and bumps its version (so a graph that still uses the old values
 * refuses to run backward). A parameter whose ->grad is NULL is skipped: it
 * keeps its value, its state and its step count. Parameters added to the
 * store later join in (and join their group, optim/groups.h). Optimizer
 * state is readable by name and saved with the run (optim/optim_state.h).
 *
 * A step is all or nothing: if it fails (out of memory for new state), no
 * parameter has changed. The update is elementwise, so the results are the
 * same bits for any thread count. */
#ifndef TG_OPTIM_OPTIM_H
#define TG_OPTIM_OPTIM_H

#include "core/params.h"

typedef struct tg_optim tg_optim;

tg_status tg_optim_step(tg_optim *opt);
void tg_optim_free(tg_optim *opt);            /* NULL is fine */
int64_t tg_optim_steps(const tg_optim *opt);  /* steps taken so far */
/* Updates the parameter `param_name` has had (Adam's bias correction counts
 * these, per parameter like PyTorch's state['step']); -1 + tg_last_error()
 * if the store has no such parameter. */
int64_t tg_optim_param_steps(const tg_optim *opt, const char *param_name);

/* The learning rate of the default group (group 0, the options given to
 * tg_sgd_new / tg_adam_new). */
double tg_optim_lr(const tg_optim *opt);
/* What a PyTorch scheduler does, for schedules written as the default
 * group's lr: every group's lr becomes its own base lr times
 * lr / (the default group's base lr). Without groups that is simply "the
 * learning rate is now lr"; a group created with half the base lr keeps
 * half of whatever the schedule gives. lr >= 0 and finite (a schedule may
 * end at 0). For a schedule that is not a factor (cosine with a floor),
 * set each group with tg_optim_set_group_lr instead. */
tg_status tg_optim_set_lr(tg_optim *opt, double lr);

/* Scales every trainable gradient by max_norm / (total L2 norm) when the total
 * exceeds max_norm (PyTorch's clip_grad_norm_); stores the norm before clipping
 * in *total_norm when not NULL. */
tg_status tg_clip_grad_norm(tg_params *p, double max_norm, double *total_norm);

#endif
