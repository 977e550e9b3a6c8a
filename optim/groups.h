/* Parameter groups: settings per set of parameters, PyTorch's param_groups.
 * The usual one, no weight decay on biases and batchnorm parameters:
 *
 *   tg_optim *opt = tg_sgd_new(p, (tg_sgd_opts){.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4});
 *   tg_optim_add_group(opt, "*.bias|bn*", (tg_optim_group_opts){.weight_decay = TG_OVERRIDE(0)});
 *
 * Group 0 is the default group: the options given to the constructor. Each
 * tg_optim_add_group adds group 1, 2, ...: a pattern and the options it
 * overrides; an option left unset inherits the default group's value. A
 * parameter belongs to exactly one group: the first added group whose
 * pattern matches its name, else the default group. Parameters created later
 * join by the same rule, and adding a group re-applies it (a parameter keeps
 * its state when it changes group).
 *
 * Patterns are fnmatch(3) shell patterns on the whole name ('*' also matches
 * '.' and '/'), several of them joined by '|': "*.bias|bn*.weight".
 * Learning rates: each group has a base lr (its own, or the default group's)
 * and tg_optim_set_lr scales them all alike (optim/optim.h). */
#ifndef TG_OPTIM_GROUPS_H
#define TG_OPTIM_GROUPS_H

#include <stdbool.h>

#include "optim/optim.h"

/* A value that is either set or left to inherit: TG_OVERRIDE(0.0), or {0} (unset). */
typedef struct tg_override {
    bool set;
    double value;
} tg_override;
#define TG_OVERRIDE(v) ((tg_override){true, (double)(v)})

/* What a group may change. Options of another optimizer (momentum on Adam,
 * betas on SGD) are an error. Flags (nesterov, maximize, amsgrad, AdamW)
 * belong to the whole optimizer. */
typedef struct tg_optim_group_opts {
    tg_override lr, weight_decay;
    tg_override momentum, dampening; /* SGD */
    tg_override beta1, beta2, eps;   /* Adam, AdamW */
} tg_optim_group_opts;

/* Adds a group; returns its index (1, 2, ...), or -1 + tg_last_error() on an
 * empty pattern or an invalid option (named with its value). */
int tg_optim_add_group(tg_optim *opt, const char *pattern, tg_optim_group_opts overrides);
int tg_optim_group_count(const tg_optim *opt); /* the default group included */
/* The group of a parameter; -1 + tg_last_error() if the store has no such parameter. */
int tg_optim_group_of(const tg_optim *opt, const char *param_name);
/* A group's current learning rate (-1 + tg_last_error() for a bad index) and
 * a new one for it alone (until the next tg_optim_set_lr). */
double tg_optim_group_lr(const tg_optim *opt, int group);
tg_status tg_optim_set_group_lr(tg_optim *opt, int group, double lr);

#endif
