/* Built-in data sets drawn from a seeded tg_rng, sample by sample (the
 * formulas are in data/dataset.h): the same seed gives the same bytes. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/storage.h"

static const double PI = 3.14159265358979323846;

/* Sample i of n: features x, and label (classification) or target y. */
typedef void (*sample_fn)(tg_rng *rng, int64_t n, int64_t i, double *x, int64_t *label, double *y);

static void spiral(tg_rng *rng, int64_t n, int64_t i, double *x, int64_t *label, double *y) {
    (void)y;
    int64_t k = i % 3, j = i / 3, per_class = (n - k + 2) / 3;
    double r = (double)(j + 1) / (double)per_class;
    double angle = 4.0 * (double)k + 4.0 * r + 0.2 * tg_rng_normal(rng);
    x[0] = r * sin(angle);
    x[1] = r * cos(angle);
    *label = k;
}

static void blobs(tg_rng *rng, int64_t n, int64_t i, double *x, int64_t *label, double *y) {
    (void)n, (void)y;
    int64_t k = i % 3;
    double angle = (90.0 + 120.0 * (double)k) * PI / 180.0;
    x[0] = 4.0 * cos(angle) + tg_rng_normal(rng);
    x[1] = 4.0 * sin(angle) + tg_rng_normal(rng);
    *label = k;
}

static void circles(tg_rng *rng, int64_t n, int64_t i, double *x, int64_t *label, double *y) {
    (void)n, (void)y;
    int64_t k = i % 2;
    double radius = k ? 0.5 : 1.0, angle = 2.0 * PI * tg_rng_uniform(rng);
    x[0] = radius * cos(angle) + 0.05 * tg_rng_normal(rng);
    x[1] = radius * sin(angle) + 0.05 * tg_rng_normal(rng);
    *label = k;
}

static void poly(tg_rng *rng, int64_t n, int64_t i, double *x, int64_t *label, double *y) {
    (void)n, (void)i, (void)label;
    double v = -2.0 + 4.0 * tg_rng_uniform(rng);
    x[0] = v;
    y[0] = 1.5 * v * v - 2.0 * v + 0.5 + 0.1 * tg_rng_normal(rng);
}

/* An 8x8 image: a bright bar on a noisy background, row b (class 0), column
 * b (class 1) or the diagonal (class 2), b uniform in 1..6. */
enum { BAR_SIDE = 8 };
static void bars(tg_rng *rng, int64_t n, int64_t i, double *x, int64_t *label, double *y) {
    (void)n, (void)y;
    int64_t k = i % 3, b = 1 + (int64_t)tg_rng_below(rng, 6);
    for (int64_t r = 0; r < BAR_SIDE; r++)
        for (int64_t c = 0; c < BAR_SIDE; c++) {
            bool on = k == 0 ? r == b : k == 1 ? c == b : r == c;
            x[r * BAR_SIDE + c] = (on ? 0.6 : 0.1) + 0.3 * tg_rng_uniform(rng);
        }
    *label = k;
}

static const struct synthetic_set {
    const char *name;
    int64_t features, classes; /* classes 0: regression with one target */
    int64_t height;            /* images: features = height x width; 0: a vector */
    sample_fn sample;
} sets[] = {
    {"spiral", 2, 3, 0, spiral},
    {"blobs", 2, 3, 0, blobs},
    {"circles", 2, 2, 0, circles},
    {"poly", 1, 0, 0, poly},
    {"bars", BAR_SIDE * BAR_SIDE, 3, BAR_SIDE, bars},
};

tg_dataset *tg_dataset_synthetic(const char *name, int64_t n, uint64_t seed) {
    static const char who[] = "tg_dataset_synthetic";
    const struct synthetic_set *set = NULL;
    for (size_t s = 0; name && s < sizeof sets / sizeof sets[0]; s++)
        if (strcmp(name, sets[s].name) == 0) set = &sets[s];
    if (!set) {
        tg_set_error(TG_ERR_ARG, "%s: unknown data set \"%s\" (built in: spiral, blobs, circles, poly, bars)", who,
                     name ? name : "(NULL)");
        return NULL;
    }
    if (n < 1 || (uint64_t)n > SIZE_MAX / sizeof(double) / (uint64_t)(set->features + 1)) {
        tg_set_error(TG_ERR_ARG, "%s: %s with %lld samples (need at least 1)", who, name, (long long)n);
        return NULL;
    }
    double *features = malloc(sizeof(double) * (size_t)(n * set->features));
    int64_t *labels = set->classes ? malloc(sizeof(int64_t) * (size_t)n) : NULL;
    double *targets = set->classes ? NULL : malloc(sizeof(double) * (size_t)n);
    if (!features || (!labels && !targets)) {
        free(features);
        free(labels);
        free(targets);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %lld samples of %s", who, (long long)n, name);
        return NULL;
    }
    int64_t image[2] = {set->height, set->height ? set->features / set->height : 0};
    tg_rng rng = tg_rng_new(seed);
    for (int64_t i = 0; i < n; i++)
        set->sample(&rng, n, i, features + i * set->features, labels ? labels + i : NULL, targets ? targets + i : NULL);
    return tg_dataset_make(who, (tg_dataset_parts){.name = set->name,
                                                   .type = TG_STORAGE_F64,
                                                   .block = features,
                                                   .data = features,
                                                   .n = n,
                                                   .sample_ndim = set->height ? 2 : 1,
                                                   .sample_shape = set->height ? image : &set->features,
                                                   .labels = labels,
                                                   .classes = set->classes,
                                                   .targets = targets,
                                                   .n_targets = targets ? 1 : 0});
}
