/* Parameters across ranks: rank 0's values to everyone, and gradients
 * averaged in buckets (see dist/dist.h). A bucket packs the gradients of a
 * few parameters into one contiguous buffer, so a model of many small
 * tensors makes a few large exchanges instead of many small ones. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "core/parallel.h"
#include "dist/dist_private.h"

/* ---- the layout of a store ---- */

uint64_t tg_dist_layout_fingerprint(const tg_params *p) {
    uint64_t h = 0;
    for (int i = 0; i < tg_params_count(p); i++) {
        const tg_tensor *x = tg_params_at(p, i);
        int64_t header[3 + TG_MAX_DIMS] = {x->kind, x->dtype, x->ndim};
        memcpy(header + 3, x->shape, sizeof(int64_t) * (size_t)x->ndim);
        h = XXH3_64bits_withSeed(header, sizeof(int64_t) * (size_t)(3 + x->ndim), h);
        h = XXH3_64bits_withSeed(x->name, x->name ? strlen(x->name) : 0, h);
    }
    return h;
}

/* min over ranks of (h, ~h) gives the smallest and (negated) the largest h */
tg_status tg_dist_check_layout(tg_dist *d, uint64_t fingerprint, const char *who) {
    uint64_t mine[2] = {fingerprint, ~fingerprint}, lowest[2];
    tg_status st = tg_dist_mpi_status(MPI_Allreduce(mine, lowest, 2, MPI_UINT64_T, MPI_MIN, d->comm), who);
    if (st) return st;
    if (lowest[0] != ~lowest[1])
        return tg_set_error(TG_ERR_STATE,
                            "%s: the ranks' parameter stores differ (names, dtypes or shapes): every rank must "
                            "build the same model",
                            who);
    return TG_OK;
}

tg_status tg_dist_broadcast_params(tg_dist *d, tg_params *p) {
    const char *who = "tg_dist_broadcast_params";
    if (!d || !p) return tg_set_error(TG_ERR_ARG, "%s: dist or store is NULL", who);
    tg_status st = tg_dist_check_layout(d, tg_dist_layout_fingerprint(p), who);
    for (int i = 0; !st && i < tg_params_count(p); i++) {
        tg_tensor *x = tg_params_at(p, i);
        st = tg_dist_mpi_status(MPI_Bcast(x->data, (int)x->numel, x->dtype == TG_F32 ? MPI_FLOAT : MPI_DOUBLE, 0,
                                          d->comm),
                                who);
        if (!st && d->rank != 0) tg_tensor_bump_version(x);
    }
    return st;
}

/* ---- buckets ---- */

void tg_bucket_plan_free(tg_bucket_plan *plan) {
    free(plan->order);
    free(plan->buckets);
    *plan = (tg_bucket_plan){0};
}

/* Trainable parameters in reverse creation order, cut into buckets of one
 * dtype and at most bucket_bytes (a larger parameter alone). */
static tg_status make_plan(tg_dist *d, const tg_params *p, uint64_t fingerprint, const char *who) {
    tg_bucket_plan_free(&d->plan);
    int count = tg_params_count(p);
    tg_bucket_plan plan = {.store = p, .fingerprint = fingerprint, .n_params = count};
    plan.order = malloc(sizeof(int) * (size_t)(count ? count : 1));
    plan.buckets = malloc(sizeof(tg_bucket) * (size_t)(count ? count : 1));
    if (!plan.order || !plan.buckets) {
        tg_bucket_plan_free(&plan);
        return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    }
    int n = 0;
    tg_bucket *open = NULL;
    for (int i = count - 1; i >= 0; i--) {
        const tg_tensor *x = tg_params_at(p, i);
        if (x->kind != TG_KIND_PARAM) continue;
        size_t bytes = (size_t)x->numel * tg_dtype_size(x->dtype);
        bool fits = open && open->dtype == x->dtype &&
                    (size_t)open->count * tg_dtype_size(x->dtype) + bytes <= d->opts.bucket_bytes;
        if (!fits) {
            open = &plan.buckets[plan.n_buckets++];
            *open = (tg_bucket){.dtype = x->dtype, .first = n};
        }
        plan.order[n++] = i;
        open->n++;
        open->count += x->numel;
    }
    d->plan = plan;
    return TG_OK;
}

/* grads of the bucket's parameters -> buf, contiguously */
static void pack(const tg_params *p, const int *order, const tg_bucket *b, void *buf) {
    size_t es = tg_dtype_size(b->dtype), at = 0;
    for (int k = 0; k < b->n; k++) {
        const tg_tensor *x = tg_params_at(p, order[b->first + k]);
        size_t bytes = (size_t)x->numel * es;
        if (x->grad)
            memcpy((char *)buf + at, x->grad->data, bytes);
        else
            memset((char *)buf + at, 0, bytes);
        at += bytes;
    }
}

/* grad = sum / ranks, back from buf */
static void unpack_mean(tg_params *p, const int *order, const tg_bucket *b, const void *buf, int ranks) {
    int64_t at = 0;
    for (int k = 0; k < b->n; k++) {
        tg_tensor *x = tg_params_at(p, order[b->first + k]);
        int64_t n = x->numel;
        if (x->grad && b->dtype == TG_F32) {
            float *g = x->grad->data;
            const float *s = (const float *)buf + at;
            TG_PARALLEL_FOR(i, n, { g[i] = s[i] / (float)ranks; });
        } else if (x->grad) {
            double *g = x->grad->data;
            const double *s = (const double *)buf + at;
            TG_PARALLEL_FOR(i, n, { g[i] = s[i] / (double)ranks; });
        }
        at += n;
    }
}

tg_status tg_dist_average_grads(tg_dist *d, tg_params *p) {
    const char *who = "tg_dist_average_grads";
    if (!d || !p) return tg_set_error(TG_ERR_ARG, "%s: dist or store is NULL", who);
    uint64_t fingerprint = tg_dist_layout_fingerprint(p);
    if (d->plan.store != p || d->plan.fingerprint != fingerprint || d->plan.n_params != tg_params_count(p)) {
        tg_status st = tg_dist_check_layout(d, fingerprint, who);
        if (!st) st = make_plan(d, p, fingerprint, who);
        if (st) return st;
    }
    /* a parameter whose ->grad is NULL adds zeros, and gets none back; the
     * bucket is packed straight into `size` equal blocks (zero-padded) */
    for (int b = 0; b < d->plan.n_buckets; b++) {
        const tg_bucket *bucket = &d->plan.buckets[b];
        size_t es = tg_dtype_size(bucket->dtype);
        int64_t block = (bucket->count + d->size - 1) / d->size, padded = block * d->size;
        if (block > INT_MAX)
            return tg_set_error(TG_ERR_ARG, "%s: a bucket of %lld values is more than MPI's int counts carry", who,
                                (long long)bucket->count);
        tg_status st = tg_dist_reserve(&d->bucket, &d->bucket_bytes, (size_t)padded * es, who);
        if (st) return st;
        pack(p, d->plan.order, bucket, d->bucket);
        memset((char *)d->bucket + (size_t)bucket->count * es, 0, (size_t)(padded - bucket->count) * es);
        if ((st = tg_dist_sum_blocks(d, bucket->dtype, d->bucket, block, who))) return st;
        unpack_mean(p, d->plan.order, bucket, d->bucket, d->size);
    }
    return TG_OK;
}
