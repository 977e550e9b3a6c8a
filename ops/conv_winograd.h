/* 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3)
 * (private to ops/; the math is in docs/winograd.md). Each 2x2 block of
 * outputs comes from a 4x4 block of inputs with 16 multiplications per
 * channel pair instead of 36:
 *   Y = A^T [ sum_c (G g_c G^T) . (B^T d_c B) ] A        (. elementwise)
 * so a convolution becomes 16 GEMMs [Cout, Cin] @ [Cin, tiles] between the
 * transformed filters U and the transformed input tiles V: 2.25 times fewer
 * multiply-adds than im2col. The transposed convolution is the same with the
 * filters flipped and their channels swapped; the weight gradient is the
 * adjoint: dU = (A g A^T) @ V^T per position, dw = G^T dU G.
 * Same threads, determinism and workspace rules as ops/conv_gemm.h. */
#ifndef TG_OPS_CONV_WINOGRAD_H
#define TG_OPS_CONV_WINOGRAD_H

#include <stdbool.h>

#include "ops/conv_gemm.h"

/* A 3x3 kernel, stride 1, dilation 1, padding at most 2, and enough channels
 * per group that the 16 GEMMs beat im2col's one. */
bool tg_winograd_fits(const tg_conv_geometry *g);

/* The same contracts as tg_conv_gemm_forward / _transpose / _weight. */
tg_status tg_winograd_forward(tg_tape *t, const tg_conv_geometry *g, tg_dtype dtype, const void *x, const void *w,
                              const void *bias, void *y);
tg_status tg_winograd_transpose(tg_tape *t, const tg_conv_geometry *g, tg_dtype dtype, const void *y,
                                const void *w, const void *bias, void *x);
tg_status tg_winograd_weight(tg_tape *t, const tg_conv_geometry *g, tg_dtype dtype, const void *x,
                             const void *grad_y, void *dw);

#endif
