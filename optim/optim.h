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
 * refuses to run backward). Parameters added to the store later join in. */
#ifndef TG_OPTIM_OPTIM_H
#define TG_OPTIM_OPTIM_H

#include "core/params.h"

typedef struct tg_optim tg_optim;

tg_status tg_optim_step(tg_optim *opt);
void tg_optim_free(tg_optim *opt);            /* NULL is fine */
double tg_optim_lr(const tg_optim *opt);      /* the current learning rate */
/* Changes the learning rate (schedules call this between steps); lr > 0. */
tg_status tg_optim_set_lr(tg_optim *opt, double lr);
int64_t tg_optim_steps(const tg_optim *opt);  /* steps taken so far */

/* Scales every trainable gradient by max_norm / (total L2 norm) when the total
 * exceeds max_norm (PyTorch's clip_grad_norm_); stores the norm before clipping
 * in *total_norm when not NULL. */
tg_status tg_clip_grad_norm(tg_params *p, double max_norm, double *total_norm);

#endif
