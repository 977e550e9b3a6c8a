/* Matrix products.
 *   [M,K] @ [K,N] -> [M,N]
 *   [B,M,K] @ [B,K,N] -> [B,M,N]      (batched)
 *   [B,M,K] @ [K,N] -> [B,M,N]        (one matrix for every batch entry)
 * The _ex form multiplies op(a) @ op(b) with op = transpose of the last two
 * axes where the flag is set; backward uses the flags, so no transpose is
 * ever materialised for autograd. */
#ifndef TG_OPS_MATMUL_H
#define TG_OPS_MATMUL_H

#include "core/tape.h"

tg_tensor *tg_matmul(tg_tape *t, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_matmul_ex(tg_tape *t, tg_tensor *a, tg_tensor *b, bool transpose_a, bool transpose_b);
/* The register kernel in use, chosen at run time from the CPU: "avx512", "avx2" or "portable". */
const char *tg_matmul_kernel_name(void);

#endif
