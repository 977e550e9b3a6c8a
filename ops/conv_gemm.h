/* Convolution kernels as GEMMs (private to ops/): for each image and group,
 *   forward       y = W @ im2col(x)                  [Cout/G, Cin/G kH kW] @ [Cin/G kH kW, Hout Wout]
 *   input grad    x = col2im(W^T @ g)                 (the transposed convolution)
 *   weight grad   dW = sum over images g @ im2col(x)^T
 * with tg_gemm (ops/gemm.h) doing the products. A 1x1 kernel with stride 1
 * and no padding needs no im2col: x itself is the matrix.
 *
 * Threads: a batch large enough is split into contiguous ranges of images,
 * one per thread, each running its GEMMs on one thread; otherwise images run
 * one after the other and each GEMM uses every thread. The weight gradient
 * sums fixed chunks of images in a fixed order, so every result here is
 * bit-identical for any thread count. Workspace (im2col columns, GEMM
 * panels, per-chunk partial sums) comes from tg_tape_scratch: a steady
 * training loop allocates nothing. */
#ifndef TG_OPS_CONV_GEMM_H
#define TG_OPS_CONV_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "core/tape.h"

/* The shapes of one convolution y = conv(x, w), whichever op runs it. */
typedef struct tg_conv_geometry {
    int64_t batch, groups;
    int64_t in_channels, height, width;          /* x [batch, in_channels, height, width] */
    int64_t out_channels, out_height, out_width; /* y [batch, out_channels, out_height, out_width] */
    int64_t kernel[2], stride[2], padding[2], dilation[2];
} tg_conv_geometry;

/* y = conv(x, w) (+ bias[out_channels] if not NULL). */
tg_status tg_conv_gemm_forward(tg_tape *t, const tg_conv_geometry *g, tg_dtype dtype, const void *x, const void *w,
                               const void *bias, void *y);
/* x = the transposed convolution of y (+ bias[in_channels] if not NULL):
 * the adjoint of tg_conv_gemm_forward in x; every element of x is written. */
tg_status tg_conv_gemm_transpose(tg_tape *t, const tg_conv_geometry *g, tg_dtype dtype, const void *y,
                                 const void *w, const void *bias, void *x);
/* dw = the gradient of <conv(x, w), grad_y> in w; batch >= 1 (the op itself
 * zeroes dw for an empty batch). */
tg_status tg_conv_gemm_weight(tg_tape *t, const tg_conv_geometry *g, tg_dtype dtype, const void *x,
                              const void *grad_y, void *dw);

/* ---- shared by the convolution kernels (conv_gemm.c, conv_winograd.c) ---- */

/* Runs items [lo, hi) of `job` with `work` as this worker's workspace. */
typedef void (*tg_conv_range_fn)(const void *job, int64_t lo, int64_t hi, char *work);
/* Runs items [0, count) on `workers` threads, each with worker_bytes of
 * scratch (none if scratch is NULL). Threads claim blocks of `grain` items
 * from a shared counter, so a thread the system pauses holds up nothing; an
 * item's result must not depend on which thread runs it (determinism). One
 * worker runs fn(job, 0, count) on the calling thread, without a parallel
 * region; several each run in a team of their own, inside which tg_gemm
 * stays on one thread. */
void tg_conv_split(const void *job, int64_t count, int64_t grain, int workers, size_t worker_bytes, char *scratch,
                   tg_conv_range_fn fn);
/* How many workers `items` independent items of `work` multiply-adds in all
 * deserve (one where core/parallel.h runs work on the calling thread). */
int tg_conv_workers(int64_t items, double work);
/* [*lo, *hi) = the j in [0, n) with 0 <= j stride + offset < size */
void tg_conv_valid_range(int64_t offset, int64_t stride, int64_t size, int64_t n, int64_t *lo, int64_t *hi);
/* bytes rounded up to a multiple of 64 */
static inline size_t tg_conv_align(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

#endif
