/* Gathering a batch onto a tape: x[i, j] = stored[row(i), j] * scale[j] + shift[j],
 * one multiply-add per element from the stored type to the batch's dtype. */
#include "data/storage.h"

#include <stdint.h>
#include <string.h>

#include "core/parallel.h"

/* Below this many elements a batch is copied on one thread. Measured on 2
 * cores, shuffled u8 rows of Fashion-MNIST: two threads gather a batch of 64
 * (50176 elements) and more about 1.7x faster than one; compare with
 * `tg bench --op data --threads 1` and `--threads 2`. */
#define TG_GATHER_PARALLEL_MIN (1 << 16)

/* One sample: dst[j] = src[j] * scale[j] + shift[j] for j < f. f32 batches
 * from u8 or f32 storage compute in float; the others in double. */
typedef void (*row_fn)(int64_t f, const void *src, void *dst, const tg_dataset *ds);

#define TG_DEFINE_ROW(name, SRC, DST, MATH, SCALE, SHIFT)                              \
    static void name(int64_t f, const void *src_, void *dst_, const tg_dataset *ds) {  \
        const SRC *restrict src = src_;                                                \
        DST *restrict dst = dst_;                                                      \
        const MATH *restrict scale = ds->SCALE, *restrict shift = ds->SHIFT;           \
        for (int64_t j = 0; j < f; j++) dst[j] = (DST)((MATH)src[j] * scale[j] + shift[j]); \
    }
TG_DEFINE_ROW(row_u8_f32, uint8_t, float, float, scale_f32, shift_f32)
TG_DEFINE_ROW(row_f32_f32, float, float, float, scale_f32, shift_f32)
TG_DEFINE_ROW(row_f64_f32, double, float, double, scale, shift)
TG_DEFINE_ROW(row_u8_f64, uint8_t, double, double, scale, shift)
TG_DEFINE_ROW(row_f32_f64, float, double, double, scale, shift)
TG_DEFINE_ROW(row_f64_f64, double, double, double, scale, shift)

static row_fn pick_row(tg_storage_type type, tg_dtype dtype) {
    static const row_fn table[3][2] = {
        [TG_STORAGE_U8] = {row_u8_f32, row_u8_f64},
        [TG_STORAGE_F32] = {row_f32_f32, row_f32_f64},
        [TG_STORAGE_F64] = {row_f64_f32, row_f64_f64},
    };
    return table[type][dtype == TG_F64];
}

static size_t stored_row_bytes(const tg_storage *s) {
    return (size_t)s->features * (s->type == TG_STORAGE_U8 ? 1 : s->type == TG_STORAGE_F32 ? 4 : 8);
}

/* Everything one sample's copy needs. */
typedef struct gather_job {
    const tg_dataset *ds;
    const int64_t *indices; /* NULL: 0..count-1 */
    int64_t count, f;
    const char *src;
    size_t src_row_bytes, dst_row_bytes;
    char *dst;
    row_fn row;
} gather_job;

/* Samples this far ahead are prefetched: rows drawn at random from a large
 * set miss every cache level, and fetching them early halves a batch's time. */
enum { PREFETCH_AHEAD = 4 };

/* Asks for every cache line of bytes [p, p + n), to be read: into L1
 * (locality 3) when the read comes next, else into the levels below
 * (locality 1), as what runs before the read works in L1. */
#define PREFETCH_BYTES(p, n, locality)                                                                    \
    for (uintptr_t line_ = (uintptr_t)(p) & ~(uintptr_t)63; line_ < (uintptr_t)(p) + (n); line_ += 64) \
    __builtin_prefetch((const void *)line_, 0, locality)

static inline const char *source_row(const gather_job *job, int64_t i) {
    int64_t r = tg_dataset_row(job->ds, job->indices ? job->indices[i] : i);
    return job->src + (size_t)r * job->src_row_bytes;
}

static inline void gather_sample(const gather_job *job, int64_t i) {
    if (i + PREFETCH_AHEAD < job->count) {
        const char *ahead = source_row(job, i + PREFETCH_AHEAD);
        PREFETCH_BYTES(ahead, job->src_row_bytes, 3);
    }
    job->row(job->f, source_row(job, i), job->dst + (size_t)i * job->dst_row_bytes, job->ds);
}

static void gather_features(const tg_dataset *ds, int64_t count, const int64_t *indices, tg_tensor *x) {
    const tg_storage *s = ds->storage;
    gather_job job = {.ds = ds,
                      .indices = indices,
                      .count = count,
                      .f = s->features,
                      .src = s->data,
                      .src_row_bytes = stored_row_bytes(s),
                      .dst_row_bytes = (size_t)s->features * tg_dtype_size(x->dtype),
                      .dst = x->data,
                      .row = pick_row(s->type, x->dtype)};
    /* the branch comes before the pragma: a parallel region with a false
     * `if` clause still costs a synchronisation (core/parallel.h decides
     * whether threads are available at all) */
    if (count * job.f >= TG_GATHER_PARALLEL_MIN && tg_parallel_available()) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < count; i++) gather_sample(&job, i);
    } else {
        for (int64_t i = 0; i < count; i++) gather_sample(&job, i);
    }
}

/* indices[0..count) name samples of ds (NULL: 0..count-1 must) */
static tg_status check_indices(const char *who, const tg_dataset *ds, int64_t count, const int64_t *indices) {
    if (!indices && count > ds->n)
        return tg_set_error(TG_ERR_ARG, "%s: %lld samples asked of %s, which has %lld", who, (long long)count,
                            ds->name, (long long)ds->n);
    for (int64_t i = 0; indices && i < count; i++)
        if (indices[i] < 0 || indices[i] >= ds->n)
            return tg_set_error(TG_ERR_ARG, "%s: indices[%lld] = %lld is out of range for %s (%lld samples)", who,
                                (long long)i, (long long)indices[i], ds->name, (long long)ds->n);
    return TG_OK;
}

static tg_status fail(tg_tape *t, tg_status status) {
    return t ? tg_tape_fail(t, status, "%s", tg_last_error()) : status;
}

tg_status tg_dataset_gather(tg_tape *t, const tg_dataset *ds, tg_dtype dtype, int64_t count,
                            const int64_t *indices, tg_batch *out) {
    static const char who[] = "tg_dataset_gather";
    if (out) memset(out, 0, sizeof *out);
    if (!t || !ds || !out)
        return fail(t, tg_set_error(TG_ERR_ARG, "%s: %s is NULL", who, !t ? "tape" : !ds ? "ds" : "out"));
    if (dtype != TG_F32 && dtype != TG_F64)
        return fail(t, tg_set_error(TG_ERR_DTYPE, "%s: unknown dtype %d (use TG_F32 or TG_F64)", who, (int)dtype));
    if (count < 1)
        return fail(t, tg_set_error(TG_ERR_ARG, "%s: %lld samples asked of %s, which has %lld", who,
                                    (long long)count, ds->name, (long long)ds->n));
    tg_status checked = check_indices(who, ds, count, indices);
    if (checked) return fail(t, checked);
    const tg_storage *s = ds->storage;
    int64_t shape[TG_MAX_DIMS + 1] = {count};
    memcpy(shape + 1, s->sample_shape, sizeof(int64_t) * (size_t)s->sample_ndim);
    tg_tensor *x = tg_tensor_empty(t, dtype, 1 + s->sample_ndim, shape);
    tg_tensor *targets = NULL;
    int64_t *labels = NULL;
    if (x && s->labels) labels = tg_tape_alloc(t, sizeof(int64_t) * (size_t)count);
    if (x && s->targets) targets = tg_tensor_empty(t, dtype, 2, (int64_t[]){count, s->n_targets});
    if (!x || (s->labels && !labels) || (s->targets && !targets)) {
        tg_status st = tg_tape_status(t);
        return st ? st : TG_ERR_NOMEM;
    }
    gather_features(ds, count, indices, x);
    for (int64_t i = 0; labels && i < count; i++) labels[i] = s->labels[tg_dataset_row(ds, indices ? indices[i] : i)];
    for (int64_t i = 0; targets && i < count; i++) {
        const double *src = s->targets + tg_dataset_row(ds, indices ? indices[i] : i) * s->n_targets;
        for (int64_t k = 0; k < s->n_targets; k++) tg_set(targets, i * s->n_targets + k, src[k]);
    }
    *out = (tg_batch){.x = x, .labels = labels, .targets = targets, .count = count};
    return TG_OK;
}

tg_status tg_dataset_prefetch(const tg_dataset *ds, int64_t count, const int64_t *indices) {
    static const char who[] = "tg_dataset_prefetch";
    if (!ds) return tg_set_error(TG_ERR_ARG, "%s: ds is NULL", who);
    if (count < 0) return tg_set_error(TG_ERR_ARG, "%s: %lld samples asked of %s", who, (long long)count, ds->name);
    tg_status st = check_indices(who, ds, count, indices);
    if (st) return st;
    const tg_storage *s = ds->storage;
    size_t row_bytes = stored_row_bytes(s);
    for (int64_t i = 0; i < count; i++) {
        int64_t r = tg_dataset_row(ds, indices ? indices[i] : i);
        const char *row = (const char *)s->data + (size_t)r * row_bytes;
        PREFETCH_BYTES(row, row_bytes, 1);
        if (s->labels) __builtin_prefetch(s->labels + r, 0, 1);
        if (s->targets) PREFETCH_BYTES(s->targets + r * s->n_targets, sizeof *s->targets * (size_t)s->n_targets, 1);
    }
    return TG_OK;
}
