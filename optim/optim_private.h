/* What every optimizer implements (private to optim/). */
#ifndef TG_OPTIM_PRIVATE_H
#define TG_OPTIM_PRIVATE_H

#include "optim/optim.h"

struct tg_optim {
    const char *name;  /* "tg_sgd", "tg_adam": for messages */
    tg_params *params;
    double lr;
    int64_t steps;
    /* Updates one parameter w (index i in the store) from w->grad. */
    tg_status (*update)(tg_optim *opt, int i, tg_tensor *w);
    void (*free_state)(tg_optim *opt);
    void **state;      /* per stored tensor, owned by the optimizer (free'd by tg_optim_free) */
    bool *fresh;       /* per stored tensor: its state was just allocated, no step has used it */
    int n_state;
    int state_buffers; /* buffers of numel elements per tensor (momentum: 1, Adam: 2) */
};

/* A new optimizer over p, allocated as `size` zeroed bytes (a struct whose first
 * member is tg_optim), or NULL + tg_last_error() if p is NULL or lr <= 0. */
tg_optim *tg_optim_create(size_t size, const char *name, tg_params *p, double lr, int state_buffers,
                          tg_status (*update)(tg_optim *, int, tg_tensor *));
/* The state buffers of tensor i, zero-filled on first use (NULL if out of memory). */
void *tg_optim_state(tg_optim *opt, int i, const tg_tensor *w, bool *fresh);

#endif
