/* Pooling on NCHW tensors, with PyTorch's semantics (torch.nn.functional
 * max_pool2d, avg_pool2d with ceil_mode=False), and the reshapes that end a
 * convolutional stack.
 *
 *   y = tg_max_pool2d(t, x, (tg_pool2d_opts){.kernel = {2, 2}});   // [N,C,H,W] -> [N,C,H/2,W/2]
 *   H_out = floor((H + 2 pad - kernel) / stride) + 1
 *
 * Every pair is (height, width): write both values. */
#ifndef TG_OPS_POOL_H
#define TG_OPS_POOL_H

#include "core/tape.h"

typedef struct tg_pool2d_opts {
    int64_t kernel[2];  /* the window, each >= 1 (required) */
    int64_t stride[2];  /* {0, 0}: the kernel (PyTorch's default) */
    int64_t padding[2]; /* added on both sides, at most half the kernel */
} tg_pool2d_opts;

/* y = the largest x in each window (padding never wins). Ties go to the first
 * maximum in row-major window order and NaN propagates, as in PyTorch; the
 * gradient flows to that one element. Saves the argmax (4 bytes per output)
 * for backward when x needs a gradient. */
tg_tensor *tg_max_pool2d(tg_tape *t, tg_tensor *x, tg_pool2d_opts opts);

/* y = the sum of each window / (kernel_h kernel_w): padding counts as zeros
 * in the divisor (PyTorch's count_include_pad=True). */
tg_tensor *tg_avg_pool2d(tg_tape *t, tg_tensor *x, tg_pool2d_opts opts);

/* The mean over height and width: [N,C,H,W] -> [N,C]
 * (torch: x.mean((2, 3)), adaptive_avg_pool2d(x, 1) flattened). */
tg_tensor *tg_global_avg_pool2d(tg_tape *t, tg_tensor *x);

/* Everything after the batch axis in one: [N, d1, d2, ...] -> [N, d1 d2 ...]
 * (torch.flatten(x, 1), nn.Flatten). A reshape: shares x's storage. */
tg_tensor *tg_flatten(tg_tape *t, tg_tensor *x);

#endif
