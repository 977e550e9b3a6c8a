/* Shared by the fuzz targets: a broken promise says which, then aborts so
 * that libFuzzer keeps the input (in build-fuzz/crashes/<target>/). */
#ifndef TG_TESTS_FUZZ_FUZZING_H
#define TG_TESTS_FUZZ_FUZZING_H

#include <stdio.h>
#include <stdlib.h>

#include "core/status.h"

#define CHECK(cond)                                                                                      \
    do {                                                                                                 \
        if (!(cond)) {                                                                                   \
            fprintf(stderr, "%s:%d: broken promise: %s; last error: %s\n", __FILE__, __LINE__, #cond,    \
                    tg_last_error());                                                                    \
            abort();                                                                                     \
        }                                                                                                \
    } while (0)

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

#endif
