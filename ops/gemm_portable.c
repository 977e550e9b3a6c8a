/* The portable variant of the GEMM kernel (ops/gemm_variant.h): 16-byte GCC
 * vectors, for every CPU. */
#define GEMM_ISA_PORTABLE
#define GEMM_VARIANT tg_gemm_variant_portable
#include "ops/gemm_variant.h"
