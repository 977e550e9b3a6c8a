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
        TG_PARALLEL_FOR(n)
        for (int64_t i = 0; i < n; i++) {
            float acc = x[i];
            for (int r = 1; r < ranks; r++) acc += x[r * stride + i];
            y[i] = acc;
        }
    } else {
        double *y = out;
        const double *x = in;
        TG_PARALLEL_FOR(n)
        for (int64_t i = 0; i < n; i++) {
            double acc = x[i];
            for (int r = 1; r < ranks; r++) acc += x[r * stride + i];
            y[i] = acc;
        }
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

/* Alltoall + allgather over slices of `slice` values, each led by a flag:
 * count <= size * slice, slice + 1 <= PART_VALUES. */
static tg_status sum_large(tg_dist *d, tg_dtype dtype, void *data, int64_t count, bool failed, const char *who) {
    size_t es = tg_dtype_size(dtype);
    int n = d->size;
    int64_t slice = (count + n - 1) / n, block = slice + 1;
    tg_status st = tg_dist_reserve(&d->send, &d->send_bytes, (size_t)(block * n) * es, who);
    if (!st) st = tg_dist_reserve(&d->recv, &d->recv_bytes, (size_t)(block * (n + 1)) * es, who);
    if (st) return st;
    /* send: block k = [flag, data[k slice .. (k+1) slice)], zero-padded */
    char *send = d->send, *recv = d->recv, *mine = recv + (size_t)(block * n) * es;
    for (int k = 0; k < n; k++) {
        char *b = send + (size_t)(block * k) * es;
        int64_t start = k * slice, len = count - start < slice ? (count - start > 0 ? count - start : 0) : slice;
        set_value(dtype, b, 0, failed ? 1.0 : 0.0);
        if (!failed && data && len) memcpy(b + es, (const char *)data + (size_t)start * es, (size_t)len * es);
        if (failed || !data) len = 0;
        memset(b + es + (size_t)len * es, 0, (size_t)(slice - len) * es);
    }
    st = tg_dist_mpi_status(MPI_Alltoall(send, (int)block, mpi_type(dtype), recv, (int)block, mpi_type(dtype), d->comm),
                            who);
    if (st) return st;
    /* my slice: the lowest failed rank (+1) as the flag, the values in rank order */
    int first = first_flagged(dtype, recv, block, n);
    set_value(dtype, mine, 0, first + 1);
    add_in_rank_order(dtype, mine + es, recv + es, slice, block, n);
    st = tg_dist_mpi_status(MPI_Allgather(mine, (int)block, mpi_type(dtype), send, (int)block, mpi_type(dtype), d->comm),
                            who);
    if (st) return st;
    if (first >= 0) return peer_failed(d, first, failed, who);
    for (int k = 0; k < n; k++) {
        int64_t start = k * slice, len = count - start < slice ? (count - start > 0 ? count - start : 0) : slice;
        if (len) memcpy((char *)data + (size_t)start * es, send + (size_t)(block * k + 1) * es, (size_t)len * es);
    }
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
            int64_t most = (int64_t)(PART_VALUES - 1) * d->size;
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
