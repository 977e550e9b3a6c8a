#include "data/storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tg_path_basename(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* classes pointers followed by their text, one allocation: the given names,
 * or "0", "1", ... */
static char **class_names_new(int64_t classes, const char *const *names) {
    size_t text = 0;
    char digits[24];
    for (int64_t k = 0; k < classes; k++)
        text += (names ? strlen(names[k]) : (size_t)snprintf(digits, sizeof digits, "%lld", (long long)k)) + 1;
    char **table = malloc(sizeof(char *) * (size_t)classes + text);
    if (!table) return NULL;
    char *p = (char *)(table + classes);
    for (int64_t k = 0; k < classes; k++) {
        table[k] = p;
        if (names) {
            size_t len = strlen(names[k]) + 1;
            memcpy(p, names[k], len);
            p += len;
        } else {
            p += snprintf(p, sizeof digits, "%lld", (long long)k) + 1;
        }
    }
    return table;
}

static void storage_release(tg_storage *s) {
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    free(s->block);
    free(s->labels);
    free(s->class_names);
    free(s->targets);
    free(s);
}

/* A view with no rows/name yet, holding a reference to s, its per-feature
 * arrays allocated and set to "not standardised". */
static tg_dataset *view_new(tg_storage *s) {
    tg_dataset *ds = calloc(1, sizeof *ds);
    size_t f = (size_t)s->features;
    void *arrays = ds ? malloc(f * (4 * sizeof(double) + 2 * sizeof(float))) : NULL;
    if (!arrays) {
        free(ds);
        return NULL;
    }
    ds->mean = arrays;
    ds->std = ds->mean + f;
    ds->scale = ds->std + f;
    ds->shift = ds->scale + f;
    ds->scale_f32 = (float *)(ds->shift + f);
    ds->shift_f32 = ds->scale_f32 + f;
    ds->storage = s;
    atomic_fetch_add(&s->refs, 1);
    tg_dataset_update_scale(ds);
    return ds;
}

void tg_dataset_free(tg_dataset *ds) {
    if (!ds) return;
    storage_release(ds->storage);
    free(ds->mean);
    free(ds->rows);
    free(ds->name);
    free(ds);
}

static char *string_copy(const char *s) {
    size_t len = strlen(s) + 1;
    char *copy = malloc(len);
    if (copy) memcpy(copy, s, len);
    return copy;
}

static void parts_free(tg_dataset_parts *p) {
    free(p->block);
    free(p->labels);
    free(p->targets);
}

tg_dataset *tg_dataset_make(const char *who, tg_dataset_parts p) {
    char shape[160];
    /* a batch is [count, sample shape]: a tensor, so at most TG_MAX_DIMS
     * dimensions and an element count the checked shape product accepts */
    int64_t features = 0, all;
    bool fits = p.sample_ndim >= 0 && p.sample_ndim < TG_MAX_DIMS &&
                tg_shape_product(p.sample_ndim, p.sample_shape, &features) &&
                tg_shape_product(2, (int64_t[]){p.n, features}, &all);
    if (!fits) {
        tg_set_error(TG_ERR_FORMAT, "%s: %s has %lld samples of shape %s%s: a batch of them cannot be a tensor (at "
                                    "most %d dimensions, %lld elements)",
                     who, p.name, (long long)p.n,
                     tg_shape_str(p.sample_ndim < TG_MAX_DIMS ? p.sample_ndim : TG_MAX_DIMS, p.sample_shape, shape,
                                  sizeof shape),
                     p.sample_ndim >= TG_MAX_DIMS ? "..." : "", TG_MAX_DIMS, (long long)TG_MAX_NUMEL);
        parts_free(&p);
        return NULL;
    }
    if (p.n < 1 || features < 1) {
        tg_set_error(TG_ERR_FORMAT, "%s: %s has %lld samples of shape %s: nothing to learn from", who, p.name,
                     (long long)p.n, tg_shape_str(p.sample_ndim, p.sample_shape, shape, sizeof shape));
        parts_free(&p);
        return NULL;
    }
    int64_t classes = p.classes;
    if (p.labels && classes == 0)
        for (int64_t i = 0; i < p.n; i++)
            if (p.labels[i] >= classes) classes = p.labels[i] + 1;
    tg_storage *s = calloc(1, sizeof *s);
    char **names = p.labels && s ? class_names_new(classes, p.class_names) : NULL;
    if (!s || (p.labels && !names)) {
        free(s);
        parts_free(&p);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %s", who, p.name);
        return NULL;
    }
    *s = (tg_storage){.type = p.type,
                      .n = p.n,
                      .sample_ndim = p.sample_ndim,
                      .features = features,
                      .data = p.data,
                      .block = p.block,
                      .value_scale = p.value_scale ? p.value_scale : 1,
                      .task = p.labels ? TG_TASK_CLASSIFICATION : TG_TASK_REGRESSION,
                      .labels = p.labels,
                      .classes = p.labels ? classes : 0,
                      .class_names = names,
                      .targets = p.labels ? NULL : p.targets,
                      .n_targets = p.labels ? 0 : p.n_targets};
    if (p.labels) free(p.targets);
    memcpy(s->sample_shape, p.sample_shape, sizeof(int64_t) * (size_t)p.sample_ndim);
    atomic_init(&s->refs, 1); /* this function's reference, released below */
    tg_dataset *ds = view_new(s);
    if (ds) {
        ds->n = p.n;
        ds->name = string_copy(p.name);
    }
    if (ds && !ds->name) {
        tg_dataset_free(ds);
        ds = NULL;
    }
    storage_release(s);
    if (!ds) tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %s", who, p.name);
    return ds;
}

tg_dataset *tg_dataset_view(const char *who, const tg_dataset *parent, int64_t n, int64_t *rows,
                            const char *name) {
    tg_dataset *ds = view_new(parent->storage);
    if (ds) {
        ds->n = n;
        ds->rows = rows;
        rows = NULL;
        ds->name = string_copy(name);
    }
    if (!ds || !ds->name) {
        free(rows);
        tg_dataset_free(ds);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory for a view of %s", who, parent->name);
        return NULL;
    }
    if (parent->standardized) {
        size_t bytes = sizeof(double) * (size_t)parent->storage->features;
        memcpy(ds->mean, parent->mean, bytes);
        memcpy(ds->std, parent->std, bytes);
        ds->standardized = true;
        tg_dataset_update_scale(ds);
    }
    return ds;
}

void tg_dataset_update_scale(tg_dataset *ds) {
    const tg_storage *s = ds->storage;
    for (int64_t j = 0; j < s->features; j++) {
        /* (stored * value_scale - mean) / std */
        double scale = s->value_scale, shift = 0;
        if (ds->standardized) {
            scale /= ds->std[j];
            shift = -ds->mean[j] / ds->std[j];
        }
        ds->scale[j] = scale;
        ds->shift[j] = shift;
        ds->scale_f32[j] = (float)scale;
        ds->shift_f32[j] = (float)shift;
    }
}

void tg_dataset_sample_values(const tg_dataset *ds, int64_t i, double *out) {
    const tg_storage *s = ds->storage;
    int64_t f = s->features, row = tg_dataset_row(ds, i);
    double k = s->value_scale;
    switch (s->type) {
    case TG_STORAGE_U8: {
        const uint8_t *src = (const uint8_t *)s->data + row * f;
        for (int64_t j = 0; j < f; j++) out[j] = src[j] * k;
        break;
    }
    case TG_STORAGE_F32: {
        const float *src = (const float *)s->data + row * f;
        for (int64_t j = 0; j < f; j++) out[j] = src[j] * k;
        break;
    }
    case TG_STORAGE_F64: {
        const double *src = (const double *)s->data + row * f;
        for (int64_t j = 0; j < f; j++) out[j] = src[j] * k;
        break;
    }
    }
}
