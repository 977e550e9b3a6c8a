/* Learning-rate schedules: plain functions of the step, PyTorch's formulas.
 * Set the rate before each step: tg_optim_set_lr(opt, tg_lr_cosine(0.1, 0, step, total)).
 * With parameter groups, tg_optim_set_lr scales every group by lr / base
 * (optim/optim.h): PyTorch's per-group schedule for step decay, warm-up and
 * cosine down to 0; a cosine with a floor needs tg_optim_set_group_lr per group. */
#ifndef TG_OPTIM_SCHEDULE_H
#define TG_OPTIM_SCHEDULE_H

#include <stdint.h>

/* StepLR: base * gamma^floor(step / step_size) */
double tg_lr_step_decay(double base, int64_t step, int64_t step_size, double gamma);
/* CosineAnnealingLR: min + (base - min) (1 + cos(pi step / total)) / 2 for
 * step <= total, then min (PyTorch would climb back: one cycle is what training wants) */
double tg_lr_cosine(double base, double min, int64_t step, int64_t total);
/* Linear warm-up from base/warmup_steps to base over warmup_steps steps, then base */
double tg_lr_warmup(double base, int64_t step, int64_t warmup_steps);

#endif
