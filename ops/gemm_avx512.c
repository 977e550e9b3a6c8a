/* The AVX-512 variant of the GEMM kernel (ops/gemm_variant.h), compiled with
 * -mavx512f -mavx512bw -mavx512vl -mfma in every x86 build (CMakeLists.txt);
 * ops/gemm.c runs it only on CPUs that have those features. */
#if defined(__x86_64__) || defined(__i386__)
#define GEMM_ISA_AVX512
#define GEMM_VARIANT tg_gemm_variant_avx512
#include "ops/gemm_variant.h"
#endif
