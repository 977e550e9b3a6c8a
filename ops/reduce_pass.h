/* Shared pieces of reductions (private to ops/): running the passes of a
 * reduction over any set of axes, and NaN-propagating max/min over a
 * contiguous row or over the rows of a block of columns. */
#ifndef TG_OPS_REDUCE_PASS_H
#define TG_OPS_REDUCE_PASS_H

#include "ops/kernel.h"

/* One pass: x viewed as [outer, R, inner] -> y [outer, inner] (R >= 1). */
typedef void (*tg_reduce_pass_fn)(const void *x, void *y, int64_t outer, int64_t R, int64_t inner);

/* y = reduction of x (numel > 0) over `reduced`, pass after pass (see
 * tg_reduce_passes); intermediates go to the tape's arena. A reduction over
 * size-1 axes only copies x. False (tape error) if memory runs out. */
bool tg_reduce_run(tg_tape *t, const tg_tensor *x, const bool reduced[TG_MAX_DIMS], tg_tensor *y,
                   tg_reduce_pass_fn f32, tg_reduce_pass_fn f64);

/* Product of the reduced axes' sizes (elements per output). */
int64_t tg_reduced_count(const tg_tensor *x, const bool reduced[TG_MAX_DIMS]);

/* max / min of x[0..n), n >= 1; NaN if any element is NaN (like torch.amax). */
float tg_row_max_f32(const float *x, int64_t n);
double tg_row_max_f64(const double *x, int64_t n);
float tg_row_min_f32(const float *x, int64_t n);
double tg_row_min_f64(const double *x, int64_t n);

/* m[k] = max (min) over r < R of x[r * stride + k], for k < len, R >= 1. */
void tg_column_max_f32(const float *x, int64_t R, int64_t stride, int64_t len, float *m);
void tg_column_max_f64(const double *x, int64_t R, int64_t stride, int64_t len, double *m);
void tg_column_min_f32(const float *x, int64_t R, int64_t stride, int64_t len, float *m);
void tg_column_min_f64(const double *x, int64_t R, int64_t stride, int64_t len, double *m);

/* sum of x[i], and of exp(x[i] - shift), over x[0..n): double lanes in a
 * fixed order (the same bits whatever the thread count). */
double tg_row_sum_f32(const float *x, int64_t n);
double tg_row_sum_f64(const double *x, int64_t n);
/* The same sum fed a piece at a time (fused passes compute a row in chunks):
 * start, feed the pieces in order, finish: the bits of tg_row_sum over the
 * whole row, whatever the pieces. tg_row_sum is start + one feed + finish. */
typedef struct tg_row_sum_state tg_row_sum_state;
void tg_row_sum_start(tg_row_sum_state *s);
void tg_row_sum_feed_f32(tg_row_sum_state *s, const float *x, int64_t n);
void tg_row_sum_feed_f64(tg_row_sum_state *s, const double *x, int64_t n);
double tg_row_sum_finish(const tg_row_sum_state *s);
double tg_row_sum_exp_f32(const float *x, int64_t n, float shift);
double tg_row_sum_exp_f64(const double *x, int64_t n, double shift);

/* Independent accumulators in row loops (vectorized; max/min need more to
 * hide the latency of compare-and-select), the width of column blocks, and
 * the block of one long row that one task reduces. */
enum { TG_EXTREMUM_LANES = 64, TG_SUM_LANES = 16, TG_REDUCE_COLUMN_BLOCK = 256, TG_REDUCE_BLOCK = 16384 };

/* Columns per block of a reduction down columns ([outer, R, inner] summed
 * over R): as wide as `widest` allows, narrower (down to 16 columns) when
 * that is what gives each of `threads` threads a block (batchnorm over
 * [128, 256] is one 256-column block otherwise). Each column adds its rows in
 * order whatever the width, so the width never changes a bit. */
static inline int64_t tg_reduce_column_block(int64_t outer, int64_t inner, int threads, int64_t widest) {
    int64_t per_slice = outer >= threads ? 1 : (threads + outer - 1) / outer;
    int64_t cb = (inner + per_slice - 1) / per_slice;
    cb = (cb + 15) / 16 * 16;
    return cb < 16 ? 16 : cb > widest ? widest : cb;
}

/* The lanes, and the elements of an unfinished group (a group is 2 lanes' worth
 * in f32, whose pairs are added in float first, one lane's worth in f64;
 * carried as doubles, which hold either type exactly). */
struct tg_row_sum_state {
    double acc[TG_SUM_LANES];
    double carry[2 * TG_SUM_LANES];
    int carried;
};

/* A reduction of every element of a long row cuts it into at most 1024
 * blocks of at least TG_REDUCE_BLOCK, reduced in parallel, then the block
 * results in order: the block length for a row of R. */
static inline int64_t tg_reduce_block(int64_t R) {
    int64_t block = (R + 1023) / 1024;
    return block < TG_REDUCE_BLOCK ? TG_REDUCE_BLOCK : block;
}

#endif
