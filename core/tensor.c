#include "core/tensor.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "core/rng.h"
#include "core/tape.h"

size_t tg_dtype_size(tg_dtype dtype) { return dtype == TG_F64 ? sizeof(double) : sizeof(float); }
const char *tg_dtype_name(tg_dtype dtype) { return dtype == TG_F64 ? "f64" : "f32"; }

int64_t tg_shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

char *tg_shape_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t pos = 0;
    pos += (size_t)snprintf(buf + pos, size - pos, "[");
    for (int i = 0; i < ndim && pos < size; i++)
        pos += (size_t)snprintf(buf + pos, size - pos, i ? ",%" PRId64 : "%" PRId64, shape[i]);
    if (pos < size) snprintf(buf + pos, size - pos, "]");
    return buf;
}

char *tg_tensor_desc(const tg_tensor *x, char *buf, size_t size) {
    if (!x) {
        snprintf(buf, size, "NULL");
        return buf;
    }
    char shape[160];
    if (x->ndim < 0 || x->ndim > TG_MAX_DIMS) /* not a tensor (a stale pointer): print no shape */
        snprintf(shape, sizeof shape, "[?]");
    else
        tg_shape_str(x->ndim, x->shape, shape, sizeof shape);
    snprintf(buf, size, "%s%s", tg_dtype_name(x->dtype), shape);
    return buf;
}

bool tg_shape_product(int ndim, const int64_t *shape, int64_t *numel) {
    int64_t product = 1, nonzero = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return false;
        if (shape[i] == 0) {
            product = 0;
            continue;
        }
        if (nonzero > TG_MAX_NUMEL / shape[i]) return false;
        nonzero *= shape[i];
        product *= shape[i];
    }
    if (numel) *numel = product;
    return true;
}

tg_status tg_check_shape(const char *who, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > TG_MAX_DIMS)
        return tg_set_error(TG_ERR_SHAPE, "%s: %d dimensions requested, tapegrad supports 0 to %d", who, ndim,
                            TG_MAX_DIMS);
    if (ndim > 0 && !shape) return tg_set_error(TG_ERR_ARG, "%s: shape is NULL for %d dimensions", who, ndim);
    if (tg_shape_product(ndim, shape, NULL)) return TG_OK;
    char buf[160];
    tg_shape_str(ndim, shape, buf, sizeof buf);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return tg_set_error(TG_ERR_SHAPE, "%s: negative dimension in shape %s", who, buf);
    return tg_set_error(TG_ERR_SHAPE, "%s: shape %s is too large (more than %lld elements)", who, buf,
                        (long long)TG_MAX_NUMEL);
}

static tg_status check_dtype(const char *who, tg_dtype dtype) {
    if (dtype != TG_F32 && dtype != TG_F64)
        return tg_set_error(TG_ERR_DTYPE, "%s: unknown dtype %d (use TG_F32 or TG_F64)", who, (int)dtype);
    return TG_OK;
}

/* `who` for op results: the message names the running op */
static const char RESULT[] = "tg_tape_result";

/* Every tape tensor is made here: its arguments checked (errors on the tape),
 * then its header alone (tg_tensor_wrap points it at the caller's memory) or
 * its header and data in one block (data 64-byte aligned after the header). */
static bool valid(tg_tape *t, const char *who, tg_dtype dtype, int ndim, const int64_t *shape) {
    if (!t) {
        tg_set_error(TG_ERR_ARG, "%s: tape is NULL", who);
        return false;
    }
    if (who != RESULT) tg_tape_set_op(t, NULL); /* tg_zeros etc. are not part of an op */
    else if (tg_tape_op(t)) who = tg_tape_op(t);
    tg_status st = check_dtype(who, dtype);
    if (!st) st = tg_check_shape(who, ndim, shape);
    if (st) tg_tape_fail(t, st, "%s", tg_last_error());
    return st == TG_OK;
}

enum { HEADER_BYTES = (sizeof(tg_tensor) + 63) / 64 * 64 };

static tg_tensor *tensor_block(tg_tape *t, const char *who, tg_dtype dtype, int ndim, const int64_t *shape,
                               bool with_data) {
    if (!valid(t, who, dtype, ndim, shape)) return NULL;
    int64_t numel = tg_shape_numel(ndim, shape);
    unsigned char *block = tg_tape_alloc(t, HEADER_BYTES + (with_data ? (size_t)numel * tg_dtype_size(dtype) : 0));
    if (!block) return NULL;
    tg_tensor *x = (tg_tensor *)block;
    *x = (tg_tensor){.dtype = dtype, .ndim = ndim, .numel = numel, .tape = t, .epoch = tg_tape_epoch(t),
                     .kind = TG_KIND_CONSTANT, .data = with_data ? block + HEADER_BYTES : NULL};
    for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
    return x;
}

static tg_tensor *tensor_new(tg_tape *t, const char *who, tg_dtype dtype, int ndim, const int64_t *shape) {
    return tensor_block(t, who, dtype, ndim, shape, true);
}

tg_tensor *tg_tensor_wrap(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape, void *data) {
    tg_tensor *x = tensor_block(t, "tg_tensor_wrap", dtype, ndim, shape, false);
    if (!x) return NULL;
    if (!data || (uintptr_t)data % tg_dtype_size(dtype) != 0) {
        char buf[160];
        tg_tape_fail(t, TG_ERR_ARG, "tg_tensor_wrap: data for %s%s is %s", tg_dtype_name(dtype),
                     tg_shape_str(ndim, shape, buf, sizeof buf),
                     data ? "not aligned for its dtype" : "NULL");
        return NULL;
    }
    x->data = data;
    return x;
}

tg_tensor *tg_tape_result(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape) {
    return tensor_new(t, RESULT, dtype, ndim, shape);
}

tg_tensor *tg_tensor_empty(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape) {
    return tensor_new(t, "tg_tensor_empty", dtype, ndim, shape);
}

tg_tensor *tg_tensor_from(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    tg_tensor *x = tensor_new(t, "tg_tensor_from", dtype, ndim, shape);
    if (!x) return NULL;
    if (!data && x->numel) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_tensor_from: data is NULL");
        return NULL;
    }
    if (x->numel) memcpy(x->data, data, (size_t)x->numel * tg_dtype_size(dtype));
    return x;
}

static void fill(tg_tensor *x, double value) {
    if (x->dtype == TG_F32) {
        float *p = x->data, v = (float)value;
        for (int64_t i = 0; i < x->numel; i++) p[i] = v;
    } else {
        double *p = x->data;
        for (int64_t i = 0; i < x->numel; i++) p[i] = value;
    }
}

tg_tensor *tg_full(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape, double value) {
    tg_tensor *x = tensor_new(t, "tg_full", dtype, ndim, shape);
    if (x) fill(x, value);
    return x;
}

tg_tensor *tg_zeros(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape) {
    tg_tensor *x = tensor_new(t, "tg_zeros", dtype, ndim, shape);
    if (x) memset(x->data, 0, (size_t)x->numel * tg_dtype_size(dtype));
    return x;
}

tg_tensor *tg_ones(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape) {
    tg_tensor *x = tensor_new(t, "tg_ones", dtype, ndim, shape);
    if (x) fill(x, 1.0);
    return x;
}

tg_tensor *tg_scalar(tg_tape *t, tg_dtype dtype, double value) {
    tg_tensor *x = tensor_new(t, "tg_scalar", dtype, 0, NULL);
    if (x) fill(x, value);
    return x;
}

tg_tensor *tg_uniform(tg_tape *t, tg_rng *rng, tg_dtype dtype, int ndim, const int64_t *shape, double low,
                      double high) {
    if (!rng) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_uniform: rng is NULL");
        return NULL;
    }
    tg_tensor *x = tensor_new(t, "tg_uniform", dtype, ndim, shape);
    if (!x) return NULL;
    for (int64_t i = 0; i < x->numel; i++) tg_set(x, i, low + (high - low) * tg_rng_uniform(rng));
    return x;
}

tg_tensor *tg_normal(tg_tape *t, tg_rng *rng, tg_dtype dtype, int ndim, const int64_t *shape, double mean,
                     double std) {
    if (!rng) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_normal: rng is NULL");
        return NULL;
    }
    tg_tensor *x = tensor_new(t, "tg_normal", dtype, ndim, shape);
    if (!x) return NULL;
    for (int64_t i = 0; i < x->numel; i++) tg_set(x, i, mean + std * tg_rng_normal(rng));
    return x;
}

tg_tensor *tg_detach(tg_tape *t, const tg_tensor *x) {
    if (!x) {
        if (t) tg_tape_fail(t, TG_ERR_ARG, "tg_detach: input is NULL");
        return NULL;
    }
    if (tg_tape_is_stale(t, x)) {
        tg_tape_fail(t, TG_ERR_STATE, "tg_detach: the tensor " TG_STALE_TENSOR);
        return NULL;
    }
    return tg_tensor_from(t, x->dtype, x->ndim, x->shape, x->data);
}

tg_status tg_requires_grad(tg_tensor *x) {
    if (!x) return tg_set_error(TG_ERR_ARG, "tg_requires_grad: tensor is NULL");
    if (x->kind == TG_KIND_BUFFER)
        return tg_set_error(TG_ERR_ARG, "tg_requires_grad: '%s' is a non-trainable buffer", x->name ? x->name : "?");
    if (x->kind == TG_KIND_CONSTANT) x->kind = TG_KIND_INPUT;
    x->requires_grad = true;
    x->keeps_grad = true;
    return TG_OK;
}

tg_status tg_tensor_set_name(tg_tensor *x, const char *name) {
    if (!x) return tg_set_error(TG_ERR_ARG, "tg_tensor_set_name: tensor is NULL");
    if (!x->tape) return tg_set_error(TG_ERR_ARG, "tg_tensor_set_name: stored tensors are named by their store");
    if (!name) {
        x->name = NULL;
        return TG_OK;
    }
    const char *copy = tg_tape_strdup(x->tape, name);
    if (!copy) return tg_tape_status(x->tape);
    x->name = copy;
    return TG_OK;
}

/* tg_get / tg_set: x not NULL and 0 <= i < numel, or false and a message */
static bool element_exists(const char *who, const tg_tensor *x, int64_t i) {
    if (__builtin_expect(x && i >= 0 && i < x->numel, 1)) return true;
    if (!x) {
        tg_set_error(TG_ERR_ARG, "%s: tensor is NULL", who);
    } else {
        char desc[200];
        tg_set_error(TG_ERR_ARG, "%s: index %lld is outside %s (%lld elements)", who, (long long)i,
                     tg_tensor_desc(x, desc, sizeof desc), (long long)x->numel);
    }
    return false;
}

double tg_get(const tg_tensor *x, int64_t i) {
    if (!element_exists("tg_get", x, i)) return NAN;
    return x->dtype == TG_F32 ? (double)((const float *)x->data)[i] : ((const double *)x->data)[i];
}

void tg_set(tg_tensor *x, int64_t i, double value) {
    if (!element_exists("tg_set", x, i)) return;
    if (x->dtype == TG_F32)
        ((float *)x->data)[i] = (float)value;
    else
        ((double *)x->data)[i] = value;
}

double tg_item(const tg_tensor *x) { return x && x->numel ? tg_get(x, 0) : NAN; }

tg_status tg_tensor_to_f64(const tg_tensor *x, double *out) {
    if (!x || !out) return tg_set_error(TG_ERR_ARG, "tg_tensor_to_f64: tensor or output is NULL");
    for (int64_t i = 0; i < x->numel; i++) out[i] = tg_get(x, i);
    return TG_OK;
}

tg_status tg_tensor_copy_values(tg_tensor *dst, const tg_tensor *src) {
    if (!dst || !src) return tg_set_error(TG_ERR_ARG, "tg_tensor_copy_values: tensor is NULL");
    if (dst->numel != src->numel) {
        char a[200], b[200];
        return tg_set_error(TG_ERR_SHAPE, "tg_tensor_copy_values: %s and %s differ in size",
                            tg_tensor_desc(dst, a, sizeof a), tg_tensor_desc(src, b, sizeof b));
    }
    if (dst->dtype == src->dtype)
        memmove(dst->data, src->data, (size_t)src->numel * tg_dtype_size(src->dtype));
    else
        for (int64_t i = 0; i < src->numel; i++) tg_set(dst, i, tg_get(src, i));
    tg_tensor_bump_version(dst);
    return TG_OK;
}

bool tg_same_shape(const tg_tensor *a, const tg_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

int64_t tg_tensor_first_nonfinite(const tg_tensor *x) {
    if (!x) return -1;
    if (x->dtype == TG_F32) {
        const float *v = x->data;
        for (int64_t i = 0; i < x->numel; i++)
            if (!isfinite(v[i])) return i;
    } else {
        const double *v = x->data;
        for (int64_t i = 0; i < x->numel; i++)
            if (!isfinite(v[i])) return i;
    }
    return -1;
}

void tg_tensor_bump_version(tg_tensor *x) {
    if (x) x->version++;
}

uint64_t tg_tensor_hash(const tg_tensor *x) {
    if (!x) return 0;
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    int32_t header[2] = {(int32_t)x->dtype, (int32_t)x->ndim};
    XXH3_64bits_update(&state, header, sizeof header);
    XXH3_64bits_update(&state, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    XXH3_64bits_update(&state, x->data, (size_t)x->numel * tg_dtype_size(x->dtype));
    return XXH3_64bits_digest(&state);
}

/* numpy-like: nested brackets, long tensors summarised with "..." */
enum { TG_PRINT_EDGE = 3, TG_PRINT_MAX = 1000 };

static void print_block(FILE *out, const tg_tensor *x, int dim, int64_t offset, int64_t stride_product,
                        int indent, bool summarise) {
    if (x->ndim == 0) {
        fprintf(out, "%.6g", tg_get(x, 0));
        return;
    }
    int64_t n = x->shape[dim];
    int64_t stride = stride_product / n;
    fputc('[', out);
    for (int64_t i = 0; i < n; i++) {
        if (summarise && n > 2 * TG_PRINT_EDGE && i == TG_PRINT_EDGE) {
            fprintf(out, dim == x->ndim - 1 ? "..., " : "...,\n%*s", dim == x->ndim - 1 ? 0 : indent + 1, "");
            i = n - TG_PRINT_EDGE;
        }
        if (dim == x->ndim - 1) {
            fprintf(out, "%.6g", tg_get(x, offset + i));
        } else {
            print_block(out, x, dim + 1, offset + i * stride, stride, indent + 1, summarise);
        }
        if (i + 1 < n) fprintf(out, dim == x->ndim - 1 ? ", " : ",\n%*s", dim == x->ndim - 1 ? 0 : indent + 1, "");
    }
    fputc(']', out);
}

void tg_tensor_print(FILE *out, const tg_tensor *x) {
    if (!out) return;
    if (!x) {
        fprintf(out, "tensor(NULL)\n");
        return;
    }
    char desc[200];
    fprintf(out, "tensor(");
    if (x->numel == 0 && x->ndim > 0)
        fprintf(out, "[]");
    else
        print_block(out, x, 0, 0, x->numel, 7, x->numel > TG_PRINT_MAX);
    fprintf(out, ", %s)\n", tg_tensor_desc(x, desc, sizeof desc));
}
