#include "core/params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checkpoint.h"

#include "core/parallel.h"

struct tg_params {
    tg_tensor **tensors;
    int count, capacity;
    /* tg_params_parallel's segments: store indices and sizes (capacity entries) */
    int *segment_index;
    int64_t *segment_sizes;
};

tg_params *tg_params_new(void) {
    tg_params *p = calloc(1, sizeof *p);
    if (!p) tg_set_error(TG_ERR_NOMEM, "tg_params_new: out of memory");
    return p;
}

static void tensor_free(tg_tensor *x) {
    if (!x) return;
    free(x->data);
    free((char *)x->name);
    free(x);
}

void tg_params_free(tg_params *p) {
    if (!p) return;
    for (int i = 0; i < p->count; i++) {
        tensor_free(p->tensors[i]->grad_storage);
        tensor_free(p->tensors[i]);
    }
    free(p->tensors);
    free(p->segment_index);
    free(p->segment_sizes);
    free(p);
}

static tg_tensor *stored_tensor_new(tg_dtype dtype, int ndim, const int64_t *shape) {
    tg_tensor *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->epoch = TG_EPOCH_STORED;
    x->dtype = dtype;
    x->ndim = ndim;
    for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
    x->numel = tg_shape_numel(ndim, shape);
    size_t bytes = (size_t)x->numel * tg_dtype_size(dtype);
    bytes = (bytes + 63) & ~(size_t)63;
    x->data = aligned_alloc(64, bytes ? bytes : 64);
    if (!x->data) {
        free(x);
        return NULL;
    }
    memset(x->data, 0, bytes ? bytes : 64);
    return x;
}

static void fan_in_out(const tg_tensor *x, double *fan_in, double *fan_out) {
    if (x->ndim == 0 || x->numel == 0) { /* an empty tensor has no values to draw */
        *fan_in = *fan_out = 1;
        return;
    }
    *fan_out = (double)x->shape[x->ndim - 1];
    *fan_in = x->ndim == 1 ? (double)x->shape[0] : (double)(x->numel / x->shape[x->ndim - 1]);
}

static void initialise(tg_tensor *x, tg_init init, tg_rng *rng) {
    double fan_in, fan_out, bound = 1.0;
    fan_in_out(x, &fan_in, &fan_out);
    if (init == TG_INIT_XAVIER_UNIFORM) bound = sqrt(6.0 / (fan_in + fan_out));
    if (init == TG_INIT_KAIMING_UNIFORM) bound = 1.0 / sqrt(fan_in > 0 ? fan_in : 1);
    for (int64_t i = 0; i < x->numel; i++) {
        double v = 0;
        switch (init) {
        case TG_INIT_ZEROS: v = 0; break;
        case TG_INIT_ONES: v = 1; break;
        case TG_INIT_NORMAL: v = tg_rng_normal(rng); break;
        case TG_INIT_UNIFORM:
        case TG_INIT_XAVIER_UNIFORM:
        case TG_INIT_KAIMING_UNIFORM: v = bound * (2.0 * tg_rng_uniform(rng) - 1.0); break;
        }
        tg_set(x, i, v);
    }
}

static tg_tensor *find(const tg_params *p, const char *name) {
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->tensors[i]->name, name) == 0) return p->tensors[i];
    return NULL;
}

static tg_status add_tensor(tg_params *p, tg_tensor *x) {
    if (p->count == p->capacity) {
        int cap = p->capacity ? p->capacity * 2 : 16;
        tg_tensor **grown = realloc(p->tensors, (size_t)cap * sizeof *grown);
        if (grown) p->tensors = grown;
        int *index = grown ? realloc(p->segment_index, (size_t)cap * sizeof *index) : NULL;
        if (index) p->segment_index = index;
        int64_t *sizes = index ? realloc(p->segment_sizes, (size_t)cap * sizeof *sizes) : NULL;
        if (!sizes) return TG_ERR_NOMEM; /* arrays that grew are kept; capacity stays */
        p->segment_sizes = sizes;
        p->capacity = cap;
    }
    p->tensors[p->count++] = x;
    return TG_OK;
}

static tg_tensor *create(const char *who, tg_params *p, const char *name, tg_dtype dtype, int ndim,
                         const int64_t *shape, tg_init init, tg_rng *rng, bool trainable) {
    if (!p || !name || !*name) {
        tg_set_error(TG_ERR_ARG, "%s: %s", who, !p ? "store is NULL" : "name is NULL or empty");
        return NULL;
    }
    if (dtype != TG_F32 && dtype != TG_F64) {
        tg_set_error(TG_ERR_DTYPE, "%s: '%s': unknown dtype %d", who, name, (int)dtype);
        return NULL;
    }
    if (tg_check_shape(who, ndim, shape)) return NULL;
    if ((unsigned)init > TG_INIT_KAIMING_UNIFORM) {
        tg_set_error(TG_ERR_ARG, "%s: '%s': unknown init %d", who, name, (int)init);
        return NULL;
    }
    bool random = init != TG_INIT_ZEROS && init != TG_INIT_ONES;
    tg_tensor *existing = find(p, name);
    if (existing) {
        char want[200], have[200];
        tg_tensor probe = {.dtype = dtype, .ndim = ndim};
        for (int i = 0; i < ndim; i++) probe.shape[i] = shape[i];
        if (existing->dtype != dtype || !tg_same_shape(existing, &probe) ||
            (existing->kind == TG_KIND_PARAM) != trainable) {
            tg_set_error(TG_ERR_SHAPE, "%s: '%s' exists as %s %s, asked for %s %s", who, name,
                         existing->kind == TG_KIND_PARAM ? "parameter" : "buffer",
                         tg_tensor_desc(existing, have, sizeof have), trainable ? "parameter" : "buffer",
                         tg_tensor_desc(&probe, want, sizeof want));
            return NULL;
        }
        return existing;
    }
    if (random && !rng) {
        tg_set_error(TG_ERR_ARG, "%s: '%s': a random init needs an rng", who, name);
        return NULL;
    }
    tg_tensor *x = stored_tensor_new(dtype, ndim, shape);
    char *name_copy = x ? malloc(strlen(name) + 1) : NULL;
    tg_tensor *grad = x && trainable ? stored_tensor_new(dtype, ndim, shape) : NULL;
    if (!x || !name_copy || (trainable && !grad) || add_tensor(p, x)) {
        tensor_free(x);
        tensor_free(grad);
        free(name_copy);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory creating '%s'", who, name);
        return NULL;
    }
    strcpy(name_copy, name);
    x->name = name_copy;
    x->kind = trainable ? TG_KIND_PARAM : TG_KIND_BUFFER;
    x->requires_grad = trainable;
    x->keeps_grad = trainable;
    x->grad = x->grad_storage = grad;
    initialise(x, init, rng);
    return x;
}

tg_tensor *tg_param(tg_params *p, const char *name, tg_dtype dtype, int ndim, const int64_t *shape,
                    tg_init init, tg_rng *rng) {
    return create("tg_param", p, name, dtype, ndim, shape, init, rng, true);
}

tg_tensor *tg_buffer(tg_params *p, const char *name, tg_dtype dtype, int ndim, const int64_t *shape,
                     tg_init init, tg_rng *rng) {
    return create("tg_buffer", p, name, dtype, ndim, shape, init, rng, false);
}

tg_tensor *tg_params_get(const tg_params *p, const char *name) { return p && name ? find(p, name) : NULL; }
int tg_params_count(const tg_params *p) { return p ? p->count : 0; }

void tg_params_truncate(tg_params *p, int count) {
    if (!p || count < 0) return;
    while (p->count > count) {
        tg_tensor *x = p->tensors[--p->count];
        tensor_free(x->grad);
        tensor_free(x);
    }
}
tg_tensor *tg_params_at(const tg_params *p, int i) { return p && i >= 0 && i < p->count ? p->tensors[i] : NULL; }

/* tg_params_parallel: the segments are the parameters that have a gradient */
typedef struct {
    const tg_params *p;
    tg_param_piece_fn piece;
    void *context;
} params_pieces;

static void param_piece(void *context, int segment, int64_t begin, int64_t end) {
    const params_pieces *pp = context;
    int index = pp->p->segment_index[segment];
    pp->piece(pp->context, index, pp->p->tensors[index], begin, end);
}

void tg_params_parallel(tg_params *p, tg_param_piece_fn piece, void *context) {
    if (!p || !piece) return;
    int n = 0;
    for (int i = 0; i < p->count; i++) {
        tg_tensor *x = p->tensors[i];
        if (x->kind != TG_KIND_PARAM || !x->grad) continue;
        p->segment_index[n] = i;
        p->segment_sizes[n++] = x->numel;
    }
    params_pieces pp = {p, piece, context};
    tg_parallel_segments(n, p->segment_sizes, param_piece, &pp);
}

static void zero_piece(void *context, int index, tg_tensor *x, int64_t begin, int64_t end) {
    (void)context, (void)index;
    size_t es = tg_dtype_size(x->dtype);
    memset((char *)x->grad->data + (size_t)begin * es, 0, (size_t)(end - begin) * es); /* all-zero bits are 0.0 */
}

void tg_zero_grad(tg_params *p) {
    for (int i = 0; p && i < p->count; i++)
        if (p->tensors[i]->grad_storage) p->tensors[i]->grad = p->tensors[i]->grad_storage;
    tg_params_parallel(p, zero_piece, NULL);
}

void tg_set_grad_to_none(tg_params *p) {
    for (int i = 0; p && i < p->count; i++)
        if (p->tensors[i]->grad_storage) p->tensors[i]->grad = NULL;
}

int64_t tg_params_numel(const tg_params *p) {
    int64_t n = 0;
    for (int i = 0; p && i < p->count; i++)
        if (p->tensors[i]->kind == TG_KIND_PARAM) n += p->tensors[i]->numel;
    return n;
}

/* ---- checkpoints (core/checkpoint.h holds the file format) ---- */

tg_status tg_params_save(const tg_params *p, const char *path) {
    const char *who = "tg_params_save";
    if (!p || !path) return tg_set_error(TG_ERR_ARG, "%s: store or path is NULL", who);
    tg_checkpoint *c = tg_checkpoint_new();
    tg_status st = c ? tg_checkpoint_add_params(c, p) : TG_ERR_NOMEM;
    if (!st) st = tg_checkpoint_write_as(c, path, who);
    tg_checkpoint_free(c);
    return st;
}

static const char *kind_name(int kind) { return kind == TG_KIND_PARAM ? "parameter" : "buffer"; }

static bool is_store_record(const tg_record *r) { return r->kind == TG_RECORD_PARAM || r->kind == TG_RECORD_BUFFER; }

/* Appends "'name'" to a report's list (truncated with "..."). */
static void list_name(char *list, size_t size, const char *name) {
    size_t len = strlen(list);
    if (len + 4 >= size) return;
    int n = snprintf(list + len, size - len, "%s'%s'", len ? ", " : "", name);
    if (n < 0 || (size_t)n >= size - len) snprintf(list + (size - 5 > len ? size - 5 : len), 5, "...");
}

/* Checks the checkpoint against the store without changing anything. */
static tg_status check_checkpoint(const char *who, const tg_params *p, const tg_checkpoint *c, bool strict,
                                  tg_load_report *report) {
    const char *origin = tg_checkpoint_origin(c);
    char missing[256] = "", unexpected[256] = "";
    *report = (tg_load_report){0};
    for (int i = 0; i < tg_checkpoint_count(c); i++) {
        const tg_record *e = tg_checkpoint_at(c, i);
        if (!is_store_record(e)) continue;
        tg_tensor *x = find(p, e->name);
        if (!x) {
            if (p->count == 0) {
                report->created++;
            } else {
                report->unexpected++;
                list_name(unexpected, sizeof unexpected, e->name);
            }
            continue;
        }
        tg_tensor probe = {.dtype = e->dtype, .ndim = e->ndim};
        memcpy(probe.shape, e->shape, sizeof probe.shape);
        if (x->dtype != probe.dtype || !tg_same_shape(x, &probe)) {
            char have[200], want[200];
            return tg_set_error(TG_ERR_SHAPE, "%s: '%s' in '%s' is %s, the store has %s", who, e->name, origin,
                                tg_tensor_desc(&probe, want, sizeof want), tg_tensor_desc(x, have, sizeof have));
        }
        if ((int)x->kind != (int)e->kind)
            return tg_set_error(TG_ERR_FORMAT, "%s: '%s' in '%s' is a %s, the store has a %s", who, e->name, origin,
                                kind_name((int)e->kind), kind_name((int)x->kind));
        report->loaded++;
    }
    for (int i = 0; i < p->count; i++) {
        const tg_record *e = tg_checkpoint_find(c, p->tensors[i]->name);
        if (!e || !is_store_record(e)) {
            report->missing++;
            list_name(missing, sizeof missing, p->tensors[i]->name);
        }
    }
    snprintf(report->names, sizeof report->names, "%s%s%s%s%s", report->missing ? "missing " : "", missing,
             report->missing && report->unexpected ? "; " : "", report->unexpected ? "unexpected " : "", unexpected);
    if (strict && (report->missing || report->unexpected))
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: '%s' does not hold this model (%s); nothing was loaded "
                            "(a non-strict load takes the names both have)",
                            who, origin, report->names);
    return TG_OK;
}

static tg_status load_checked(const char *who, tg_params *p, const tg_checkpoint *c, bool strict,
                              tg_load_report *report) {
    tg_load_report none;
    if (!report) report = &none;
    if (!p || !c) return tg_set_error(TG_ERR_ARG, "%s: store or checkpoint is NULL", who);
    tg_status st = check_checkpoint(who, p, c, strict, report);
    if (st) return st;
    /* everything checked: now change values (creating only into an empty store) */
    bool into_empty = p->count == 0;
    if (into_empty) { /* create every tensor first: out of memory leaves the store empty */
        for (int i = 0; i < tg_checkpoint_count(c); i++) {
            const tg_record *e = tg_checkpoint_at(c, i);
            if (is_store_record(e) &&
                !create(who, p, e->name, e->dtype, e->ndim, e->shape, TG_INIT_ZEROS, NULL, e->kind == TG_RECORD_PARAM)) {
                tg_params_truncate(p, 0);
                return tg_last_status();
            }
        }
    }
    for (int i = 0; i < tg_checkpoint_count(c); i++) {
        const tg_record *e = tg_checkpoint_at(c, i);
        if (!is_store_record(e)) continue;
        tg_tensor *x = find(p, e->name);
        if (!x) continue;
        memcpy(x->data, e->data, e->bytes);
        tg_tensor_bump_version(x);
    }
    return TG_OK;
}

tg_status tg_params_check_checkpoint(const tg_params *p, const tg_checkpoint *c, bool strict) {
    tg_load_report report;
    if (!p || !c) return tg_set_error(TG_ERR_ARG, "tg_params_check_checkpoint: store or checkpoint is NULL");
    return check_checkpoint("tg_params_check_checkpoint", p, c, strict, &report);
}

tg_status tg_params_load_checkpoint(tg_params *p, const tg_checkpoint *c, bool strict, tg_load_report *report) {
    return load_checked("tg_params_load_checkpoint", p, c, strict, report);
}

tg_status tg_params_load_ex(tg_params *p, const char *path, bool strict, tg_load_report *report) {
    const char *who = strict ? "tg_params_load" : "tg_params_load_ex";
    if (!p || !path) return tg_set_error(TG_ERR_ARG, "%s: store or path is NULL", who);
    tg_checkpoint *c = tg_checkpoint_read_as(path, who);
    if (!c) return tg_last_status();
    tg_status st = load_checked(who, p, c, strict, report);
    tg_checkpoint_free(c);
    return st;
}

tg_status tg_params_load(tg_params *p, const char *path) { return tg_params_load_ex(p, path, true, NULL); }
