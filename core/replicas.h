/* Replicas: copies of one program (the ranks of a data-parallel run), each
 * working on its part of every batch. The library's lower layers cannot talk
 * to the other copies; whoever can (dist/ on MPI: tg_dist_replicas) fills in
 * this table of collective operations, and the layers that need them take it
 * as a hook: synchronised batchnorm (ops/nn.h) sums its statistics over the
 * replicas, the trainer (train/trainer.h) averages gradients, agrees on
 * errors and lets rank 0 write checkpoints.
 *
 * Every function here is COLLECTIVE: every replica calls it, in the same
 * order, with the same sizes, or the others wait for it forever. A replica
 * that failed earlier still takes part (sum's `failed`, agree's `local`) so
 * that all of them learn of the failure and stop together.
 *
 * tg_replicas_single() is a process alone (rank 0 of 1): sum, average and
 * broadcast leave everything as it is, agree returns its argument. */
#ifndef TG_CORE_REPLICAS_H
#define TG_CORE_REPLICAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/params.h"
#include "core/status.h"
#include "core/tensor.h"

typedef struct tg_replicas {
    int rank, size; /* this replica's index in [0, size) */
    void *user;     /* the implementation's state, passed to every function */
    /* data[i] = sum over replicas of data[i] for i < count, in place, with
     * the same bits on every replica and in every run (a fixed summation
     * order). failed: this replica has no valid values (data is ignored and
     * may be NULL); it takes part anyway and every replica gets a non-OK
     * status with tg_last_error() naming the failed rank. */
    tg_status (*sum)(void *user, tg_dtype dtype, void *data, int64_t count, bool failed);
    /* Every replica's outcome: TG_OK when all passed TG_OK, otherwise, on
     * every replica, the status of the lowest failed rank and its
     * tg_last_error() message prefixed with "rank R of N: ". */
    tg_status (*agree)(void *user, tg_status local);
    /* Every parameter and buffer of p set to rank 0's values (the stores
     * must hold the same names, dtypes and shapes on every replica). */
    tg_status (*broadcast_params)(void *user, tg_params *p);
    /* Every trainable parameter's ->grad replaced by its mean over the
     * replicas (same bits everywhere). The stores must hold the same
     * parameters (names, dtypes, shapes) on every replica. */
    tg_status (*average_grads)(void *user, tg_params *p);
} tg_replicas;

/* A process alone: rank 0 of 1. */
const tg_replicas *tg_replicas_single(void);

#endif
