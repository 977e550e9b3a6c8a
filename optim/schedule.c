#include "optim/schedule.h"

#include <math.h>

double tg_lr_step_decay(double base, int64_t step, int64_t step_size, double gamma) {
    if (step_size < 1 || step < 0) return base;
    return base * pow(gamma, (double)(step / step_size));
}

double tg_lr_cosine(double base, double min, int64_t step, int64_t total) {
    if (total < 1 || step >= total) return min;
    if (step < 0) return base;
    return min + (base - min) * (1 + cos(3.141592653589793 * (double)step / (double)total)) / 2;
}

double tg_lr_warmup(double base, int64_t step, int64_t warmup_steps) {
    if (warmup_steps < 1 || step >= warmup_steps) return base;
    if (step < 0) step = 0;
    return base * (double)(step + 1) / (double)warmup_steps;
}
