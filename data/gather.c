/* Gathering a batch onto a tape: x[i, j] = stored[row(i), j] * scale[j] + shift[j],
 * one multiply-add per element from the stored type to the batch's dtype. */
#include "data/storage.h"

#include <string.h>

#include "core/parallel.h"

/* Below this many elements a batch is copied on one thread: forking a
 * parallel region costs more than converting it (see tools/bench_gather.c). */
#define TG_GATHER_PARALLEL_MIN (1 << 18)

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

static void gather_features(const tg_dataset *ds, int64_t count, const int64_t *indices, tg_tensor *x) {
    const tg_storage *s = ds->storage;
    int64_t f = s->features;
    size_t src_size = s->type == TG_STORAGE_U8 ? 1 : s->type == TG_STORAGE_F32 ? 4 : 8;
    size_t dst_size = tg_dtype_size(x->dtype);
    const char *src = s->data;
    char *dst = x->data;
    row_fn row = pick_row(s->type, x->dtype);
    /* the branch comes before the pragma: a parallel region with a false
     * `if` clause still costs a synchronisation */
    if (count * f >= TG_GATHER_PARALLEL_MIN) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < count; i++) {
            int64_t r = tg_dataset_row(ds, indices ? indices[i] : i);
            row(f, src + (size_t)(r * f) * src_size, dst + (size_t)(i * f) * dst_size, ds);
        }
    } else {
        for (int64_t i = 0; i < count; i++) {
            int64_t r = tg_dataset_row(ds, indices ? indices[i] : i);
            row(f, src + (size_t)(r * f) * src_size, dst + (size_t)(i * f) * dst_size, ds);
        }
    }
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
    if (count < 1 || (!indices && count > ds->n))
        return fail(t, tg_set_error(TG_ERR_ARG, "%s: %lld samples asked of %s, which has %lld", who,
                                    (long long)count, ds->name, (long long)ds->n));
    for (int64_t i = 0; indices && i < count; i++)
        if (indices[i] < 0 || indices[i] >= ds->n)
            return fail(t, tg_set_error(TG_ERR_ARG, "%s: indices[%lld] = %lld is out of range for %s (%lld samples)",
                                        who, (long long)i, (long long)indices[i], ds->name, (long long)ds->n));
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
