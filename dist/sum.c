/* Deterministic sums over ranks: every value is added in rank order,
 * (((x_0 + x_1) + x_2) + ...), in its own dtype, so every rank gets the same
 * bits and every run too, whichever of the two paths carries it:
 *
 *   small (count * size of one value <= small_bytes): one MPI_Allgather of
 *     [flag, values] from every rank; every rank adds the N copies itself.
 *   large: MPI_Alltoall hands rank k the k-th slice of every rank's buffer
 *     (a reduce-scatter without the reduction), rank k adds its N slices,
 *     MPI_Allgather hands every rank every slice's sum. Each rank sends and
 *     receives 2 (N-1)/N of the buffer, like a ring allreduce.
 *
 * MPI_Allreduce itself promises neither the same bits on every rank nor the
 * same bits run after run for floats: its algorithm (and so the order of the
 * additions) depends on the message size, the rank count and the transport. */
#include <limits.h>
#include <string.h>

#include "core/parallel.h"
#include "dist/dist_private.h"

/* values per MPI call at most (an int count, with room for the flag) */
enum { PART_VALUES = 1 << 28 };

static MPI_Datatype mpi_type(tg_dtype dtype) { return dtype == TG_F32 ? MPI_FLOAT : MPI_DOUBLE; }

/* out[i] = ((in_0[i] + in_1[i]) + ...) for i < n, the N arrays `stride`
 * values apart: the one summation order of this file */
static void add_in_rank_order(tg_dtype dtype, void *out, const void *in, int64_t n, int64_t stride, int ranks) {
    if (dtype == TG_F32) {
        float *y = out;
        const float *x = in;
        TG_PARALLEL_FOR(i, n, {
            float acc = x[i];
            for (int r = 1; r < ranks; r++) acc += x[r * stride + i];
            y[i] = acc;
        });
    } else {
        double *y = out;
        const double *x = in;
        TG_PARALLEL_FOR(i, n, {
            double acc = x[i];
            for (int r = 1; r < ranks; r++) acc += x[r * stride + i];
            y[i] = acc;
        });
    }
}

/* The lowest rank whose flag (value 0 of each of N blocks `stride` apart) is set, or -1. */
static int first_flagged(tg_dtype dtype, const void *blocks, int64_t stride, int ranks) {
    for (int r = 0; r < ranks; r++) {
        double flag = dtype == TG_F32 ? ((const float *)blocks)[r * stride] : ((const double *)blocks)[r * stride];
        if (flag != 0) return r;
    }
    return -1;
}

static void set_value(tg_dtype dtype, void *p, int64_t i, double v) {
    if (dtype == TG_F32)
        ((float *)p)[i] = (float)v;
    else
        ((double *)p)[i] = v;
}

static tg_status peer_failed(tg_dist *d, int rank, bool failed, const char *who) {
    if (!failed) d->saw_peer_failure = true;
    return tg_set_error(TG_ERR_STATE, "%s: rank %d of %d failed before this sum over ranks", who, rank, d->size);
}

/* One allgather of [flag, values]: count values, count + 1 <= PART_VALUES. */
static tg_status sum_small(tg_dist *d, tg_dtype dtype, void *data, int64_t count, bool failed, const char *who) {
    size_t es = tg_dtype_size(dtype), block = (size_t)(count + 1);
    tg_status st = tg_dist_reserve(&d->send, &d->send_bytes, block * es, who);
    if (!st) st = tg_dist_reserve(&d->recv, &d->recv_bytes, block * es * (size_t)d->size, who);
    if (st) return st;
    set_value(dtype, d->send, 0, failed ? 1.0 : 0.0);
    if (failed || !data)
        memset((char *)d->send + es, 0, (size_t)count * es);
    else
        memcpy((char *)d->send + es, data, (size_t)count * es);
    st = tg_dist_mpi_status(MPI_Allgather(d->send, (int)block, mpi_type(dtype), d->recv, (int)block,
                                          mpi_type(dtype), d->comm),
                            who);
    if (st) return st;
    int first = first_flagged(dtype, d->recv, (int64_t)block, d->size);
    if (first >= 0) return peer_failed(d, first, failed, who);
    add_in_rank_order(dtype, data, (char *)d->recv + es, count, (int64_t)block, d->size);
    return TG_OK;
}

tg_status tg_dist_sum_blocks(tg_dist *d, tg_dtype dtype, void *blocks, int64_t block, const char *who) {
    size_t es = tg_dtype_size(dtype), bytes = (size_t)block * es;
    int n = d->size;
    tg_status st = tg_dist_reserve(&d->recv, &d->recv_bytes, bytes * (size_t)(n + 1), who);
    if (st) return st;
    char *recv = d->recv, *mine = recv + bytes * (size_t)n;
    MPI_Datatype type = mpi_type(dtype);
    st = tg_dist_mpi_status(MPI_Alltoall(blocks, (int)block, type, recv, (int)block, type, d->comm), who);
    if (st) return st;
    add_in_rank_order(dtype, mine, recv, block, block, n); /* my block of every rank, in rank order */
    return tg_dist_mpi_status(MPI_Allgather(mine, (int)block, type, blocks, (int)block, type, d->comm), who);
}

/* The lowest failed rank over all (an integer MIN: exact), or -1. */
static tg_status first_failed(tg_dist *d, bool failed, int *first, const char *who) {
    int mine = failed ? d->rank : d->size, lowest = d->size;
    tg_status st = tg_dist_mpi_status(MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, d->comm), who);
    *first = lowest < d->size ? lowest : -1;
    return st;
}

/* count values (count <= size * PART_VALUES) through padded blocks */
static tg_status sum_large(tg_dist *d, tg_dtype dtype, void *data, int64_t count, bool failed, const char *who) {
    int first;
    tg_status st = first_failed(d, failed, &first, who);
    if (st) return st;
    if (first >= 0) return peer_failed(d, first, failed, who);
    size_t es = tg_dtype_size(dtype);
    int64_t block = (count + d->size - 1) / d->size, padded = block * d->size;
    if ((st = tg_dist_reserve(&d->send, &d->send_bytes, (size_t)padded * es, who))) return st;
    memcpy(d->send, data, (size_t)count * es);
    memset((char *)d->send + (size_t)count * es, 0, (size_t)(padded - count) * es);
    if ((st = tg_dist_sum_blocks(d, dtype, d->send, block, who))) return st;
    memcpy(data, d->send, (size_t)count * es);
    return TG_OK;
}

tg_status tg_dist_sum_checked(tg_dist *d, tg_dtype dtype, void *data, int64_t count, bool failed, const char *who) {
    if (!d) return tg_set_error(TG_ERR_ARG, "%s: dist is NULL", who);
    if ((dtype != TG_F32 && dtype != TG_F64) || count < 0 || (!data && !failed && count))
        return tg_set_error(TG_ERR_ARG, "%s: %lld values of dtype %d at %s", who, (long long)count, (int)dtype,
                            data ? "data" : "NULL");
    size_t es = tg_dtype_size(dtype);
    /* one call even for no values: every rank must learn of a failure */
    int64_t done = 0;
    do {
        int64_t part = count - done;
        char *at = data ? (char *)data + (size_t)done * es : NULL;
        tg_status st;
        if ((size_t)part * es <= d->opts.small_bytes && part < PART_VALUES) {
            st = sum_small(d, dtype, at, part, failed, who);
        } else {
            int64_t most = (int64_t)PART_VALUES * d->size;
            if (part > most) part = most;
            st = sum_large(d, dtype, at, part, failed, who);
        }
        if (st) return st;
        done += part;
    } while (done < count);
    return TG_OK;
}

tg_status tg_dist_sum(tg_dist *d, tg_dtype dtype, void *data, int64_t count) {
    return tg_dist_sum_checked(d, dtype, data, count, false, "tg_dist_sum");
}
