/* Private to data/: what a tg_dataset is made of, and the one constructor
 * every loader ends with.
 *
 * A storage holds the samples once, in the type they came in (u8, f32, f64),
 * with labels or targets; it is shared, reference counted, by a data set and
 * the views a split makes of it. A tg_dataset is a view: which storage rows
 * it sees, its name, and how a stored value becomes a gathered one,
 *   value = stored * scale[j] + shift[j]      (per feature j)
 * where scale and shift fold the u8 scale (1/255) and the standardisation
 * (mean, std) together, precomputed once so gathering is one multiply-add. */
#ifndef TG_DATA_STORAGE_H
#define TG_DATA_STORAGE_H

#include <stdatomic.h>

#include "data/dataset.h"

typedef enum tg_storage_type { TG_STORAGE_U8, TG_STORAGE_F32, TG_STORAGE_F64 } tg_storage_type;

typedef struct tg_storage {
    atomic_int refs;
    tg_storage_type type;
    int64_t n;                 /* samples */
    int sample_ndim;
    int64_t sample_shape[TG_MAX_DIMS];
    int64_t features;          /* elements per sample */
    const void *data;          /* n * features elements of `type`, row-major */
    void *block;               /* the allocation that holds data (data may point into it) */
    double value_scale;        /* stored * value_scale = the unstandardised value */
    tg_task task;
    int64_t *labels;           /* [n], classification */
    int64_t classes;
    char **class_names;        /* [classes], one allocation with the text after the pointers */
    double *targets;           /* [n, n_targets], regression */
    int64_t n_targets;
} tg_storage;

struct tg_dataset {
    tg_storage *storage;
    int64_t n;
    int64_t *rows;             /* [n] storage rows, ascending; NULL: rows 0..n-1 */
    char *name;
    bool standardized;
    /* per feature, one allocation: mean, std (when standardized), scale, shift;
     * scale_f32 and shift_f32 are the same in float for f32 gathers */
    double *mean, *std, *scale, *shift;
    float *scale_f32, *shift_f32;
};

/* What a loader hands over. tg_dataset_make takes ownership of block,
 * labels and targets in every case (frees them if it fails). */
typedef struct tg_dataset_parts {
    const char *name;
    tg_storage_type type;
    void *block;
    const void *data;          /* inside block */
    double value_scale;        /* 0 means 1 */
    int64_t n;
    int sample_ndim;
    const int64_t *sample_shape;
    int64_t *labels;           /* validated >= 0 by the loader */
    int64_t classes;           /* 0: max label + 1 */
    const char *const *class_names; /* NULL: "0", "1", ... */
    double *targets;
    int64_t n_targets;
} tg_dataset_parts;

/* A data set over a new storage; NULL + error naming `who` (out of memory,
 * too many classes). */
tg_dataset *tg_dataset_make(const char *who, tg_dataset_parts parts);

/* A new view of ds's storage: n storage rows (owned by the view, freed on
 * failure too; NULL: rows 0..n-1), its own name, ds's standardisation. */
tg_dataset *tg_dataset_view(const char *who, const tg_dataset *ds, int64_t n, int64_t *rows, const char *name);

/* Storage row of sample i. */
static inline int64_t tg_dataset_row(const tg_dataset *ds, int64_t i) { return ds->rows ? ds->rows[i] : i; }

/* Recomputes scale/shift from value_scale and mean/std. */
void tg_dataset_update_scale(tg_dataset *ds);

/* The unstandardised values of sample i (features doubles). */
void tg_dataset_sample_values(const tg_dataset *ds, int64_t i, double *out);

/* "data/train.csv" -> "train.csv" (pointer into path). */
const char *tg_path_basename(const char *path);

#endif
