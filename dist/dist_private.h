/* The state of a tg_dist (private to dist/). */
#ifndef TG_DIST_DIST_PRIVATE_H
#define TG_DIST_DIST_PRIVATE_H

#include "dist/dist.h"

/* Gradients averaged together: parameters order[first .. first + n) of the
 * plan, `count` values of one dtype, packed contiguously. */
typedef struct tg_bucket {
    tg_dtype dtype;
    int first, n;
    int64_t count;
} tg_bucket;

/* How a store's gradients are bucketed; rebuilt when the store's layout changes. */
typedef struct tg_bucket_plan {
    const tg_params *store;
    uint64_t fingerprint; /* of names, kinds, dtypes and shapes: the layout */
    int n_params;         /* tensors in the store when planned */
    int *order;           /* trainable parameters, reverse creation order */
    int n_buckets;
    tg_bucket *buckets;
} tg_bucket_plan;

struct tg_dist {
    MPI_Comm comm; /* our duplicate, errors returned (MPI_ERRORS_RETURN) */
    int rank, size;
    bool finalize_mpi; /* tg_dist_init began MPI */
    tg_dist_opts opts;
    tg_replicas replicas;
    /* a sum reported another rank's failure since the last agreement, so
     * this rank's own error is only an echo of it (tg_dist_agree) */
    bool saw_peer_failure;
    /* buffers for the sums, grown on demand, kept across calls */
    void *send, *recv, *bucket;
    size_t send_bytes, recv_bytes, bucket_bytes;
    tg_bucket_plan plan;
};

/* An MPI return code as a status naming `who` and MPI's message. */
tg_status tg_dist_mpi_status(int code, const char *who);
/* buffer *p of at least bytes (64-byte aligned), kept in *size */
tg_status tg_dist_reserve(void **p, size_t *size, size_t bytes, const char *who);

/* blocks: `size` blocks of `block` values each, contiguous. On return block
 * k holds the sum over ranks, in rank order, of every rank's block k, on
 * every rank (alltoall, adds, allgather; no failure flags). */
tg_status tg_dist_sum_blocks(tg_dist *d, tg_dtype dtype, void *blocks, int64_t block, const char *who);

/* The sum in rank order of count values at data; failed as in tg_replicas.sum. */
tg_status tg_dist_sum_checked(tg_dist *d, tg_dtype dtype, void *data, int64_t count, bool failed, const char *who);

/* The layout fingerprint of a store, and the check that every rank has the same. */
uint64_t tg_dist_layout_fingerprint(const tg_params *p);
tg_status tg_dist_check_layout(tg_dist *d, uint64_t fingerprint, const char *who);

void tg_bucket_plan_free(tg_bucket_plan *plan);

#endif
