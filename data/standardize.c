/* Standardisation: per-feature mean and population std, fitted on one data
 * set and applied (by gather) to any with the same features. */
#include "data/storage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void set_standardization(tg_dataset *ds, const double *mean, const double *std) {
    size_t bytes = sizeof(double) * (size_t)ds->storage->features;
    memmove(ds->mean, mean, bytes);
    memmove(ds->std, std, bytes);
    ds->standardized = true;
    tg_dataset_update_scale(ds);
}

tg_status tg_dataset_standardize(tg_dataset *ds) {
    static const char who[] = "tg_dataset_standardize";
    if (!ds) return tg_set_error(TG_ERR_ARG, "%s: data set is NULL", who);
    int64_t f = ds->storage->features, n = ds->n;
    /* values of one sample, then per feature: sum -> mean, min, max, sum of squared deviations -> std */
    double *work = malloc(sizeof(double) * (size_t)f * 6);
    if (!work) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %lld features", who, (long long)f);
    double *values = work, *mean = work + f, *min = work + 2 * f, *max = work + 3 * f, *squares = work + 4 * f,
           *std = work + 5 * f;
    for (int64_t j = 0; j < f; j++) {
        mean[j] = squares[j] = 0;
        min[j] = INFINITY;
        max[j] = -INFINITY;
    }
    /* two passes (mean, then squared deviations from it): no cancellation */
    for (int64_t i = 0; i < n; i++) {
        tg_dataset_sample_values(ds, i, values);
        for (int64_t j = 0; j < f; j++) {
            mean[j] += values[j];
            min[j] = values[j] < min[j] ? values[j] : min[j];
            max[j] = values[j] > max[j] ? values[j] : max[j];
        }
    }
    for (int64_t j = 0; j < f; j++) mean[j] /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        tg_dataset_sample_values(ds, i, values);
        for (int64_t j = 0; j < f; j++) squares[j] += (values[j] - mean[j]) * (values[j] - mean[j]);
    }
    for (int64_t j = 0; j < f; j++) {
        if (min[j] == max[j]) { /* constant: exactly its value, and std 1 */
            mean[j] = min[j];
            std[j] = 1;
        } else {
            std[j] = sqrt(squares[j] / (double)n);
        }
    }
    set_standardization(ds, mean, std);
    free(work);
    return TG_OK;
}

tg_status tg_dataset_standardize_like(tg_dataset *ds, const tg_dataset *fitted) {
    static const char who[] = "tg_dataset_standardize_like";
    if (!ds || !fitted) return tg_set_error(TG_ERR_ARG, "%s: %s is NULL", who, !ds ? "ds" : "fitted");
    if (!fitted->standardized)
        return tg_set_error(TG_ERR_STATE, "%s: %s is not standardised (call tg_dataset_standardize on it first)",
                            who, fitted->name);
    if (fitted->storage->features != ds->storage->features) {
        char a[160], b[160];
        const tg_storage *s = ds->storage, *r = fitted->storage;
        return tg_set_error(TG_ERR_SHAPE, "%s: %s has samples %s (%lld features), %s has %s (%lld features)", who,
                            ds->name, tg_shape_str(s->sample_ndim, s->sample_shape, a, sizeof a),
                            (long long)s->features, fitted->name,
                            tg_shape_str(r->sample_ndim, r->sample_shape, b, sizeof b), (long long)r->features);
    }
    set_standardization(ds, fitted->mean, fitted->std);
    return TG_OK;
}

tg_status tg_dataset_get_standardization(const tg_dataset *ds, double *mean, double *std) {
    static const char who[] = "tg_dataset_get_standardization";
    if (!ds || !mean || !std)
        return tg_set_error(TG_ERR_ARG, "%s: %s is NULL", who, !ds ? "ds" : !mean ? "mean" : "std");
    if (!ds->standardized) return tg_set_error(TG_ERR_STATE, "%s: %s is not standardised", who, ds->name);
    size_t bytes = sizeof(double) * (size_t)ds->storage->features;
    memcpy(mean, ds->mean, bytes);
    memcpy(std, ds->std, bytes);
    return TG_OK;
}

tg_status tg_dataset_set_standardization(tg_dataset *ds, const double *mean, const double *std) {
    static const char who[] = "tg_dataset_set_standardization";
    if (!ds || !mean || !std)
        return tg_set_error(TG_ERR_ARG, "%s: %s is NULL", who, !ds ? "ds" : !mean ? "mean" : "std");
    for (int64_t j = 0; j < ds->storage->features; j++)
        if (!(std[j] > 0) || !isfinite(std[j]) || !isfinite(mean[j]))
            return tg_set_error(TG_ERR_ARG, "%s: feature %lld: mean %g, std %g (std must be finite and > 0)", who,
                                (long long)j, mean[j], std[j]);
    set_standardization(ds, mean, std);
    return TG_OK;
}
