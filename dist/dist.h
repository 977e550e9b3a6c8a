/* Data-parallel training on MPI (built with TG_WITH_MPI; the library
 * tapegrad_dist, header <tapegrad_dist.h>).
 *
 * N processes (ranks) each hold the whole model and train on 1/N of every
 * batch; after backward their gradients are averaged, so every rank takes the
 * same optimizer step and the run computes what one process would with the
 * whole batch:
 *
 *   tg_dist *d = tg_dist_init(&argc, &argv, NULL);          // MPI_Init + MPI_COMM_WORLD
 *   ... model (batchnorm .sync = tg_dist_replicas(d)), optimizer ...
 *   tg_dist_broadcast_params(d, params);                     // everyone starts from rank 0's
 *   for (step...) {
 *       ... forward on this rank's part of the batch, backward ...
 *       tg_dist_average_grads(d, params);                    // bucketed, deterministic
 *       tg_optim_step(opt);
 *   }
 *   tg_dist_finalize(d);                                     // MPI_Finalize if tg_dist_init began it
 *
 * or hand the replicas to the trainer: tg_fit_opts.replicas = tg_dist_replicas(d)
 * (train/trainer.h), which also shards the batches, agrees on errors and
 * lets rank 0 alone print progress and write checkpoints.
 *
 * Deterministic: every sum over ranks adds the ranks' values in rank order,
 * (((x_0 + x_1) + x_2) + ...), whatever MPI's own algorithms do, so every rank
 * gets the same bits and a run gives the same bits every time. The sum is
 * done as MPI_Allreduce does it inside, a reduce-scatter then an allgather
 * (each rank moves 2 (N-1)/N of the data), but with the reduction in our
 * hands: MPI_Alltoall hands rank k the k-th slice of every rank's buffer,
 * rank k adds them in rank order, MPI_Allgather hands the sums to everyone.
 * Small buffers (at most small_bytes in all) take one MPI_Allgather of the
 * whole buffer and every rank adds them up itself, with the same bits.
 *
 * Every function taking a tg_dist is COLLECTIVE over its communicator (see
 * core/replicas.h). Errors are values: MPI's errors come back as statuses
 * (the communicator returns errors instead of aborting) with MPI's message. */
#ifndef TG_DIST_DIST_H
#define TG_DIST_DIST_H

#include <mpi.h>
#include <stdbool.h>

#include "core/params.h"
#include "core/replicas.h"

typedef struct tg_dist tg_dist;

typedef struct tg_dist_opts {
    /* Gradients are averaged in buckets of at most this many bytes (a
     * parameter larger than that is a bucket of its own), parameters taken
     * in reverse creation order (the order backward finishes them). 0: 1 MiB. */
    size_t bucket_bytes;
    /* Sums of at most this many bytes (per rank) take one allgather instead
     * of alltoall + allgather (latency over bandwidth). 0: 16 KiB. */
    size_t small_bytes;
} tg_dist_opts;

/* Data parallel over a duplicate of `comm` (the user's communicator is left
 * as it is); MPI must be initialised (MPI_Init or MPI_Init_thread). opts may
 * be NULL. NULL + tg_last_error() if MPI is not initialised or memory runs
 * out. Collective. */
tg_dist *tg_dist_new(MPI_Comm comm, const tg_dist_opts *opts);
/* Frees the duplicate communicator and the buffers; before MPI_Finalize.
 * Collective. NULL is fine. */
void tg_dist_free(tg_dist *d);

/* The common case: initialises MPI if nobody has (MPI_Init_thread, funneled:
 * OpenMP threads never call MPI) and returns a tg_dist over MPI_COMM_WORLD. */
tg_dist *tg_dist_init(int *argc, char ***argv, const tg_dist_opts *opts);
/* tg_dist_free, then MPI_Finalize if tg_dist_init initialised MPI. */
tg_status tg_dist_finalize(tg_dist *d);

/* Whether this process was started by an MPI launcher (mpirun, mpiexec,
 * srun) with more than one process, read from the environment without
 * initialising MPI: for programs that train alone or data-parallel. */
bool tg_dist_launched(void);

int tg_dist_rank(const tg_dist *d);
int tg_dist_size(const tg_dist *d);

/* The collective operations of this communicator as the library's hook
 * (core/replicas.h): synchronised batchnorm's sums, the trainer's data
 * parallelism. Valid as long as d. */
const tg_replicas *tg_dist_replicas(tg_dist *d);

/* Every parameter and buffer of p set to rank 0's values. The stores must
 * hold the same names, dtypes and shapes on every rank: checked first (an
 * XXH3 fingerprint), a mismatch is an error on every rank. */
tg_status tg_dist_broadcast_params(tg_dist *d, tg_params *p);

/* Every trainable parameter's ->grad replaced by its mean over the ranks,
 * sum in rank order / N: same bits on every rank. Checks the stores like
 * tg_dist_broadcast_params (once per store layout). */
tg_status tg_dist_average_grads(tg_dist *d, tg_params *p);

/* data[i] = sum over ranks of data[i] (count values of dtype), in rank order. */
tg_status tg_dist_sum(tg_dist *d, tg_dtype dtype, void *data, int64_t count);

/* Every rank's outcome of a step: TG_OK if local is TG_OK everywhere, else
 * on every rank the status of the lowest failed rank, with its
 * tg_last_error() as "rank R of N: message". */
tg_status tg_dist_agree(tg_dist *d, tg_status local);

#endif
