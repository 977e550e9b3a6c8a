/* Data sets: N samples of one shape with integer labels (classification) or
 * float targets (regression), loaded from IDX or CSV files, made from a seed,
 * or copied from the caller's arrays; split, standardised, and gathered batch
 * by batch onto a tape.
 *
 *   tg_dataset *all = tg_dataset_fashion_mnist(NULL, true), *train, *valid;
 *   if (!all) { puts(tg_last_error()); ... }       // file, byte offset, what is wrong
 *   tg_dataset_split(all, 0.1, 42, &train, &valid);  // views sharing the bytes
 *   tg_dataset_standardize(train);                   // per-feature mean/std of train
 *   tg_dataset_standardize_like(valid, train);
 *   tg_batch b;
 *   tg_dataset_gather(tape, train, TG_F32, count, indices, &b);   // b.x f32[count,28,28], b.labels
 *   ...
 *   tg_dataset_free(valid); tg_dataset_free(train); tg_dataset_free(all);   // any order
 *
 * Stored values keep the file's type (Fashion-MNIST's 47 MB of u8 pixels stay
 * u8); gathering converts a batch to f32 or f64 on the tape, applying the
 * u8 scale (1/255) and the standardisation, so memory holds the file's bytes
 * once. A loader that fails returns NULL, leaves a message in tg_last_error()
 * and has allocated nothing.
 */
#ifndef TG_DATA_DATASET_H
#define TG_DATA_DATASET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tape.h"
#include "core/tensor.h"

typedef enum tg_task { TG_TASK_CLASSIFICATION = 0, TG_TASK_REGRESSION } tg_task;

/* Opaque: N samples of one shape, labels or targets. A split's views share
 * the storage of their parent (reference counted). */
typedef struct tg_dataset tg_dataset;

/* Where Debian's dataset-fashion-mnist package installs the files. */
#define TG_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Classes inferred from the labels (max label + 1) may not exceed this; give
 * the class count explicitly (tg_csv_opts.classes) for more. */
#define TG_DATASET_MAX_CLASSES 65536

/* ---- loaders: NULL + tg_last_error() naming the file, the line and column or
 * byte offset, and what is wrong; nothing is half-loaded ---- */

/* IDX files (MNIST's format), each plain or gzip-compressed (recognised by
 * its first bytes 1f 8b, not by its name). Images: big-endian header, magic
 * 00 00 TT DD with element type TT and DD >= 2 dimensions [N, ...]; labels:
 * 1 dimension [N] of an integer type, every label >= 0. Element types: 0x08
 * u8 (kept as bytes; a sample's value is byte / 255, in [0, 1]), 0x09 i8,
 * 0x0B i16, 0x0D f32 (kept as f32), 0x0C i32, 0x0E f64 (kept as f64), values
 * as they are. Classes: max label + 1. Name: the images file's name. */
tg_dataset *tg_dataset_idx(const char *images_path, const char *labels_path);

/* Fashion-MNIST from dir (NULL: TG_FASHION_MNIST_DIR): train: the 60000
 * samples of train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz];
 * otherwise the 10000 of t10k-*. Samples [28,28] (u8, values in [0, 1]),
 * 10 classes named "T-shirt/top" ... "Ankle boot"; name "fashion-mnist train"
 * or "fashion-mnist test". */
tg_dataset *tg_dataset_fashion_mnist(const char *dir, bool train);

/* CSV of numbers. Rows: one a line; \n or \r\n; blank lines (nothing but
 * spaces, and tabs when tab is not the delimiter) are skipped wherever they
 * are; line numbers in messages count every line of the file from 1. Cells: split at the delimiter; a cell may be quoted
 * ("1.5", "a ""b"""), with no line break inside the quotes; spaces and tabs
 * around a cell are ignored. Numbers: decimal, as strtod reads them in the C
 * locale whatever the program's locale ("-0", "1e-3", ".5", "+2"), the whole
 * cell consumed; rejected with line, column and the text: empty cells,
 * "1.5x", "0x10", "nan", "inf", and anything out of double's range. The first
 * row fixes the column count; a row with another count is an error. Every
 * column but the target is a feature: samples are [columns - 1] and stored as
 * f64. A file that starts with 1f 8b is read through gzip. */
typedef struct tg_csv_opts {
    const char *target_column; /* by header name; NULL: use target_index */
    int target_index;          /* column index (negative counts from the end: -1 = last) */
    int header;                /* 1 yes, 0 no, -1 detect (a header is a first row with a non-numeric cell) */
    tg_task task;              /* classification: integer labels >= 0 ("2", "2.0"; "2.5", "-1" are errors
                                  naming line and column); regression: float targets */
    char delimiter;            /* 0 = ',' */
    int64_t classes;           /* classification: labels must be < classes; 0: max label + 1
                                  (at most TG_DATASET_MAX_CLASSES) */
} tg_csv_opts;
/* The defaults that NULL opts gives: header detected, target the last column,
 * classification, ',' . */
tg_csv_opts tg_csv_defaults(void);
tg_dataset *tg_dataset_csv(const char *path, const tg_csv_opts *opts);

/* Built-in data sets made from a seed (core's tg_rng; the same seed gives the
 * same data everywhere), n samples, stored as f64, sample i of class i % K:
 *   "spiral"  classification, 3 classes, 2 features: three interleaved arms,
 *             radius r in (0, 1], angle 4k + 4r + 0.2 N(0,1), point r (sin, cos);
 *   "blobs"   classification, 3 classes, 2 features: N(c_k, 1) around centres
 *             c_k at radius 4, angles 90 + 120k degrees;
 *   "circles" classification, 2 classes, 2 features: a circle of radius 1
 *             (class 0) inside one of radius 0.5 (class 1), noise 0.05 N(0,1);
 *   "poly"    regression, 1 feature, 1 target: x ~ U[-2, 2),
 *             y = 1.5 x^2 - 2 x + 0.5 + 0.1 N(0,1);
 *   "bars"    classification, 3 classes, samples [8,8] (images for a cnn):
 *             pixels 0.1 + 0.3 U[0,1), a bar of 0.6 + 0.3 U[0,1) on row b
 *             (class 0), column b (class 1) or the diagonal (class 2), with
 *             b = 1 + (a draw below 6) drawn first, pixels in row-major order.
 * Unknown names are an error that lists these. */
tg_dataset *tg_dataset_synthetic(const char *name, int64_t n, uint64_t seed);

/* The caller's arrays, copied: features dtype[shape] with shape [N, ...]
 * (ndim >= 2: a sample is at least a vector), and either labels [N] (>= 0;
 * classification with max label + 1 classes) or targets [N, n_targets]
 * (regression, n_targets >= 1), not both. Named "arrays". */
tg_dataset *tg_dataset_from(tg_dtype dtype, int ndim, const int64_t *shape, const void *features,
                            const int64_t *labels, const double *targets, int64_t n_targets);

/* NULL is fine. A view keeps its storage alive: free views and parent in any order. */
void tg_dataset_free(tg_dataset *ds);

/* ---- what a data set is (NULL ds: 0, -1 or NULL) ---- */
int64_t tg_dataset_len(const tg_dataset *ds);                                  /* N */
int tg_dataset_sample_shape(const tg_dataset *ds, int64_t shape[TG_MAX_DIMS]); /* ndim of one sample: 2 for [28,28] */
int64_t tg_dataset_features(const tg_dataset *ds);                             /* elements per sample (784) */
tg_task tg_dataset_task(const tg_dataset *ds);
int64_t tg_dataset_classes(const tg_dataset *ds); /* classification: labels in [0, classes); regression: 0 */
int64_t tg_dataset_targets(const tg_dataset *ds); /* regression: targets per sample; classification: 0 */
/* "T-shirt/top" ... for Fashion-MNIST, "0", "1", ... otherwise; NULL if k is out of range. */
const char *tg_dataset_class_name(const tg_dataset *ds, int64_t k);
/* "fashion-mnist train", the file's name, "spiral", "spiral (train split)" ... for progress lines. */
const char *tg_dataset_name(const tg_dataset *ds);
/* The label of sample i (classification), or -1 (regression, i out of range). */
int64_t tg_dataset_label(const tg_dataset *ds, int64_t i);

/* ---- train/validation split ---- */
/* Two views sharing ds's storage: a shuffled partition of its samples (a
 * Fisher-Yates shuffle from tg_rng_new(seed)), each view in ascending sample
 * order; valid gets round(valid_fraction * N) samples, train the rest; both
 * must be non-empty. The views keep ds's standardisation. Named
 * "<name> (train split)" and "<name> (validation split)". On error both
 * outputs are NULL. */
tg_status tg_dataset_split(const tg_dataset *ds, double valid_fraction, uint64_t seed, tg_dataset **train,
                           tg_dataset **valid);

/* ---- standardisation: value' = (value - mean_j) / std_j per feature j ---- */
/* Fits mean and std (population std, divisor N, like scikit-learn's
 * StandardScaler) of every feature over ds's samples, values as gathered
 * without standardisation (u8 bytes / 255), and sets them on ds. A constant
 * feature (all values equal) gets std 1. Stored bytes never change: gather
 * applies it. */
tg_status tg_dataset_standardize(tg_dataset *fit_on);
/* Sets fitted's mean and std on ds (same features per sample), e.g. the
 * training split's statistics on the test set. */
tg_status tg_dataset_standardize_like(tg_dataset *ds, const tg_dataset *fitted);
/* Reads (mean, std: tg_dataset_features(ds) each) or sets ds's
 * standardisation, e.g. to keep it with a model's checkpoint. Reading a
 * data set that is not standardised is a TG_ERR_STATE error; every std must
 * be > 0. */
tg_status tg_dataset_get_standardization(const tg_dataset *ds, double *mean, double *std);
tg_status tg_dataset_set_standardization(tg_dataset *ds, const double *mean, const double *std);

/* ---- a batch on a tape ---- */
/* x [count, ...sample shape] in dtype: the stored values converted (u8 / 255)
 * and standardised as they are copied; classification: labels, count int64
 * in the tape's arena; regression: targets [count, n_targets] in dtype.
 * Everything lives on the tape (until tg_tape_reset): no per-sample
 * allocation, and a steady loop allocates nothing after its first step. */
typedef struct tg_batch {
    tg_tensor *x;
    const int64_t *labels; /* classification, else NULL */
    tg_tensor *targets;    /* regression, else NULL */
    int64_t count;
} tg_batch;
/* The samples indices[0..count) of ds (NULL indices: samples 0..count-1),
 * count >= 1, each index in [0, N). Errors (also kept on the tape) leave *out zeroed. */
tg_status tg_dataset_gather(tg_tape *t, const tg_dataset *ds, tg_dtype dtype, int64_t count,
                            const int64_t *indices, tg_batch *out);
/* Asks the caches for the stored samples indices[0..count) (NULL: samples
 * 0..count-1), to be gathered later: the next batch's while this one computes
 * (tg_batches_peek). Samples drawn at random from a set larger than the
 * caches then arrive from memory during the step instead of stalling the
 * next gather. A hint: nothing is read or written that a result depends on;
 * bad indices are refused as tg_dataset_gather refuses them. */
tg_status tg_dataset_prefetch(const tg_dataset *ds, int64_t count, const int64_t *indices);

#endif
