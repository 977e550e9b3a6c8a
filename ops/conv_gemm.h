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
/* dw = the gradient of <conv(x, w), grad_y> in w. */
tg_status tg_conv_gemm_weight(tg_tape *t, const tg_conv_geometry *g, tg_dtype dtype, const void *x,
                              const void *grad_y, void *dw);

#endif
