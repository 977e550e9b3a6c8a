/* The AVX2+FMA variant of the GEMM kernel (ops/gemm_variant.h), compiled with
 * -mavx2 -mfma in every x86 build (CMakeLists.txt);
 * ops/gemm.c runs it only on CPUs that have those features. */
#if defined(__x86_64__) || defined(__i386__)
#define GEMM_ISA_AVX2
#define GEMM_VARIANT tg_gemm_variant_avx2
#include "ops/gemm_variant.h"
#endif
