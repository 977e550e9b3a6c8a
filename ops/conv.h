/* 2-D convolutions on NCHW tensors, with PyTorch's semantics
 * (torch.nn.functional.conv2d, conv_transpose2d, torch.nn.grad.conv2d_weight).
 *
 *   x [N, C_in, H, W], w [C_out, C_in/groups, kH, kW], b [C_out] or NULL
 *   y = tg_conv2d(t, x, w, b, (tg_conv2d_opts){.stride = {2, 2}, .padding = {1, 1}});
 *   y [N, C_out, H_out, W_out],  H_out = floor((H + 2 pad - dil (kH - 1) - 1) / stride) + 1
 *
 * Every pair is (height, width): write both values, {2, 2}. An all-zero pair
 * takes the default (stride 1, dilation 1, padding 0), groups 0 means 1, so
 * (tg_conv2d_opts){0} is a plain convolution.
 *
 * The three ops are one family, closed under differentiation (all are
 * bilinear): with conv(x, w) = tg_conv2d, T(z, w) = tg_conv_transpose2d and
 * W(x, g) = tg_conv2d_weight_grad,
 *   d conv(x, w):  dx = T(g, w)     dw = W(x, g)
 *   d T(z, w):     dz = conv(g, w)  dw = W(g, z)
 *   d W(x, z):     dx = T(z, g)     dz = conv(x, g)
 * so every gradient can be differentiated again (create_graph).
 * Kernels: im2col / col2im around the packed GEMM (ops/conv_gemm.h), the
 * batch split over OpenMP threads; workspace from the tape's scratch buffer. */
#ifndef TG_OPS_CONV_H
#define TG_OPS_CONV_H

#include "core/tape.h"

typedef struct tg_conv2d_opts {
    int64_t stride[2];         /* (height, width); {0, 0}: {1, 1} */
    int64_t padding[2];        /* zeros added on both sides of each axis */
    int64_t dilation[2];       /* spacing of kernel taps; {0, 0}: {1, 1} */
    int64_t groups;            /* C_in and C_out split into `groups` independent convolutions
                                  (groups = C_in: depthwise); 0: 1 */
    int64_t output_padding[2]; /* tg_conv_transpose2d only: rows/columns added at the bottom/right
                                  of the output, each < stride or < dilation (as PyTorch) */
} tg_conv2d_opts;

/* y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] x_pad[n, g C_in/groups + c, i s0 + p d0, j s1 + q d1]
 * (g = o / (C_out/groups)): [N, C_in, H, W] -> [N, C_out, H_out, W_out] */
tg_tensor *tg_conv2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, tg_conv2d_opts opts);

/* The adjoint of tg_conv2d in its input (the gradient of a convolution with
 * the same weight and options), plus b:
 *   x [N, C_in, H, W], w [C_in, C_out/groups, kH, kW] (PyTorch's layout), b [C_out] or NULL
 *   -> [N, C_out, (H - 1) s0 - 2 pad0 + d0 (kH - 1) + output_padding0 + 1, likewise W] */
tg_tensor *tg_conv_transpose2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, tg_conv2d_opts opts);

/* The gradient of tg_conv2d in its weight, as an op (torch.nn.grad.conv2d_weight):
 *   dw[o, c, p, q] = sum_{n, i, j} grad_out[n, o, i, j] x_pad[n, g C_in/groups + c, i s0 + p d0, j s1 + q d1]
 *   x [N, C_in, H, W], grad_out [N, C_out, H_out, W_out] -> [C_out, C_in/groups, kernel_h, kernel_w]
 * grad_out's height and width must be those tg_conv2d gives for x and the kernel. */
tg_tensor *tg_conv2d_weight_grad(tg_tape *t, tg_tensor *x, tg_tensor *grad_out, int64_t kernel_h, int64_t kernel_w,
                                 tg_conv2d_opts opts);

#endif
