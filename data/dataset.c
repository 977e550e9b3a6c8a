/* tg_dataset: what a data set is, a data set from the caller's arrays, and
 * the train/validation split. */
#include "data/storage.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pages.h"
#include "core/rng.h"

int64_t tg_dataset_len(const tg_dataset *ds) { return ds ? ds->n : 0; }

int tg_dataset_sample_shape(const tg_dataset *ds, int64_t shape[TG_MAX_DIMS]) {
    if (!ds) return -1;
    for (int d = 0; shape && d < ds->storage->sample_ndim; d++) shape[d] = ds->storage->sample_shape[d];
    return ds->storage->sample_ndim;
}

int64_t tg_dataset_features(const tg_dataset *ds) { return ds ? ds->storage->features : 0; }
tg_task tg_dataset_task(const tg_dataset *ds) { return ds ? ds->storage->task : TG_TASK_CLASSIFICATION; }
int64_t tg_dataset_classes(const tg_dataset *ds) { return ds ? ds->storage->classes : 0; }
int64_t tg_dataset_targets(const tg_dataset *ds) { return ds ? ds->storage->n_targets : 0; }
const char *tg_dataset_name(const tg_dataset *ds) { return ds ? ds->name : NULL; }

const char *tg_dataset_class_name(const tg_dataset *ds, int64_t k) {
    if (!ds || k < 0 || k >= ds->storage->classes) return NULL;
    return ds->storage->class_names[k];
}

int64_t tg_dataset_label(const tg_dataset *ds, int64_t i) {
    if (!ds || !ds->storage->labels || i < 0 || i >= ds->n) return -1;
    return ds->storage->labels[tg_dataset_row(ds, i)];
}

tg_dataset *tg_dataset_from(tg_dtype dtype, int ndim, const int64_t *shape, const void *features,
                            const int64_t *labels, const double *targets, int64_t n_targets) {
    static const char who[] = "tg_dataset_from";
    if (dtype != TG_F32 && dtype != TG_F64) {
        tg_set_error(TG_ERR_DTYPE, "%s: unknown dtype %d (use TG_F32 or TG_F64)", who, (int)dtype);
        return NULL;
    }
    if (!shape || ndim < 2 || ndim > TG_MAX_DIMS) {
        tg_set_error(TG_ERR_SHAPE, "%s: features need a shape [N, ...] of 2 to %d dimensions, got %d%s", who,
                     TG_MAX_DIMS, ndim, ndim == 1 ? " (for one feature per sample use [N,1])" : "");
        return NULL;
    }
    if (tg_check_shape(who, ndim, shape)) return NULL;
    if (!features || (!labels) == (!targets) || (targets && n_targets < 1)) {
        tg_set_error(TG_ERR_ARG, "%s: needs features and either labels or targets with n_targets >= 1 "
                                 "(features %s, labels %s, targets %s, n_targets %lld)",
                     who, features ? "given" : "NULL", labels ? "given" : "NULL", targets ? "given" : "NULL",
                     (long long)n_targets);
        return NULL;
    }
    int64_t n = shape[0], f = tg_shape_numel(ndim - 1, shape + 1);
    if (n < 1 || f < 1) {
        char text[160];
        tg_set_error(TG_ERR_SHAPE, "%s: features of shape %s: no samples, or samples without elements", who,
                     tg_shape_str(ndim, shape, text, sizeof text));
        return NULL;
    }
    for (int64_t i = 0; labels && i < n; i++)
        if (labels[i] < 0 || labels[i] >= TG_DATASET_MAX_CLASSES) {
            tg_set_error(TG_ERR_ARG, "%s: label %lld of sample %lld is out of range [0, %d)", who,
                         (long long)labels[i], (long long)i, TG_DATASET_MAX_CLASSES);
            return NULL;
        }
    size_t bytes = (size_t)(n * f) * tg_dtype_size(dtype);
    void *block = tg_alloc_large(64, bytes);
    int64_t *label_copy = labels ? malloc(sizeof(int64_t) * (size_t)n) : NULL;
    double *target_copy = targets ? malloc(sizeof(double) * (size_t)(n * n_targets)) : NULL;
    if (!block || (labels && !label_copy) || (targets && !target_copy)) {
        free(block);
        free(label_copy);
        free(target_copy);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %lld samples", who, (long long)n);
        return NULL;
    }
    memcpy(block, features, bytes);
    if (labels) memcpy(label_copy, labels, sizeof(int64_t) * (size_t)n);
    if (targets) memcpy(target_copy, targets, sizeof(double) * (size_t)(n * n_targets));
    return tg_dataset_make(who, (tg_dataset_parts){.name = "arrays",
                                                   .type = dtype == TG_F32 ? TG_STORAGE_F32 : TG_STORAGE_F64,
                                                   .block = block,
                                                   .data = block,
                                                   .n = n,
                                                   .sample_ndim = ndim - 1,
                                                   .sample_shape = shape + 1,
                                                   .labels = label_copy,
                                                   .targets = target_copy,
                                                   .n_targets = targets ? n_targets : 0});
}

/* ---- split ---- */

/* "<name> (<part> split)" as a view of rows */
static tg_dataset *split_view(const tg_dataset *ds, int64_t n, int64_t *rows, const char *part) {
    char name[256];
    snprintf(name, sizeof name, "%s (%s split)", ds->name, part);
    return tg_dataset_view("tg_dataset_split", ds, n, rows, name);
}

tg_status tg_dataset_split(const tg_dataset *ds, double valid_fraction, uint64_t seed, tg_dataset **train,
                           tg_dataset **valid) {
    static const char who[] = "tg_dataset_split";
    if (train) *train = NULL;
    if (valid) *valid = NULL;
    if (!ds || !train || !valid)
        return tg_set_error(TG_ERR_ARG, "%s: %s is NULL", who, !ds ? "ds" : !train ? "train" : "valid");
    if (!(valid_fraction > 0 && valid_fraction < 1))
        return tg_set_error(TG_ERR_ARG, "%s: valid_fraction %g is not in (0, 1)", who, valid_fraction);
    int64_t n = ds->n, n_valid = llround(valid_fraction * (double)n), n_train = n - n_valid;
    if (n_valid < 1 || n_train < 1)
        return tg_set_error(TG_ERR_ARG,
                            "%s: valid_fraction %g of %lld samples leaves %lld for validation and %lld for "
                            "training (each needs at least 1)",
                            who, valid_fraction, (long long)n, (long long)n_valid, (long long)n_train);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)n);
    unsigned char *in_valid = calloc((size_t)n, 1);
    int64_t *train_rows = malloc(sizeof(int64_t) * (size_t)n_train);
    int64_t *valid_rows = malloc(sizeof(int64_t) * (size_t)n_valid);
    if (!order || !in_valid || !train_rows || !valid_rows) {
        free(order);
        free(in_valid);
        free(train_rows);
        free(valid_rows);
        return tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %lld samples", who, (long long)n);
    }
    /* the first n_valid steps of a Fisher-Yates shuffle pick a uniformly random subset */
    tg_rng rng = tg_rng_new(seed);
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = 0; i < n_valid; i++) {
        int64_t j = i + (int64_t)tg_rng_below(&rng, (uint64_t)(n - i));
        int64_t chosen = order[j];
        order[j] = order[i];
        order[i] = chosen;
        in_valid[chosen] = 1;
    }
    for (int64_t i = 0, t = 0, v = 0; i < n; i++) {
        if (in_valid[i]) valid_rows[v++] = tg_dataset_row(ds, i);
        else train_rows[t++] = tg_dataset_row(ds, i);
    }
    free(order);
    free(in_valid);
    /* both calls take their rows, so both run whatever the first gives */
    *train = split_view(ds, n_train, train_rows, "train");
    *valid = split_view(ds, n_valid, valid_rows, "validation");
    if (!*train || !*valid) {
        tg_dataset_free(*train);
        tg_dataset_free(*valid);
        *train = *valid = NULL;
        return TG_ERR_NOMEM;
    }
    return TG_OK;
}
