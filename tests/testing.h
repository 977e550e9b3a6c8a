/* Helpers shared by the cmocka tests: build tensors from literals, compare
 * values, and a plain central-difference gradient in f64. */
#ifndef TG_TESTS_TESTING_H
#define TG_TESTS_TESTING_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tapegrad.h"

/* TG_TESTING_SANITIZED: built with AddressSanitizer (GCC or clang) */
#if defined(__SANITIZE_ADDRESS__)
#define TG_TESTING_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_TESTING_SANITIZED 1
#endif
#endif

#ifdef TG_TESTING_SANITIZED
/* Tests ask for impossible sizes on purpose: let the sanitizer's allocator
 * return NULL, as the system's does, instead of stopping the program. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif

/* f64 tensor from a literal list: T64(t, SHAPE(2, 2), 1, 2, 3, 4) */
#define SHAPE(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), ((const int64_t[]){__VA_ARGS__})
#define T64(tape, ndim_shape, ...) tg_tensor_from((tape), TG_F64, ndim_shape, (const double[]){__VA_ARGS__})
#define T32(tape, ndim_shape, ...) tg_tensor_from((tape), TG_F32, ndim_shape, (const float[]){__VA_ARGS__})

/* A fresh tape for each test:
 *   cmocka_unit_test_setup_teardown(test_x, tape_setup, tape_teardown) */
static tg_tape *tape __attribute__((unused));
static inline int tape_setup(void **state) {
    (void)state;
    tape = tg_tape_new();
    return tape ? 0 : -1;
}
static inline int tape_teardown(void **state) {
    (void)state;
    tg_tape_free(tape);
    return 0;
}

/* 0, 1, 2, ... in the given shape, on the test's tape */
static inline tg_tensor *iota(tg_dtype dtype, int ndim, const int64_t *shape) {
    tg_tensor *x = tg_tensor_empty(tape, dtype, ndim, shape);
    for (int64_t i = 0; x && i < x->numel; i++) tg_set(x, i, (double)i);
    return x;
}

/* Asserts x has the given shape. */
static inline void assert_shape(const tg_tensor *x, int ndim, const int64_t *shape) {
    assert_non_null(x);
    assert_int_equal(x->ndim, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(x->shape[i], shape[i]);
}

/* Asserts every element of x is within tol of expected[i] (absolute). */
static inline void assert_values(const tg_tensor *x, const double *expected, int64_t n, double tol) {
    assert_non_null(x);
    assert_int_equal(x->numel, n);
    for (int64_t i = 0; i < n; i++) {
        double got = tg_get(x, i);
        if (!(fabs(got - expected[i]) <= tol)) {
            print_error("element %lld: got %.12g, expected %.12g (tol %g)\n", (long long)i, got, expected[i], tol);
            fail();
        }
    }
}
#define ASSERT_VALUES(x, tol, ...)                                                         \
    assert_values((x), (const double[]){__VA_ARGS__},                                      \
                  (int64_t)(sizeof((const double[]){__VA_ARGS__}) / sizeof(double)), (tol))

/* Asserts |got - expected| <= tol, in double (cmocka's assert_float_equal
 * converts its arguments to float). */
#define assert_near(got, expected, tol) assert_near_at((got), (expected), (tol), #got)
static inline void assert_near_at(double got, double expected, double tol, const char *what) {
    if (!(fabs(got - expected) <= tol)) {
        print_error("%s: got %.17g, expected %.17g (tol %g)\n", what, got, expected, tol);
        fail();
    }
}

/* Every tensor's tg_tensor_hash, combined in order: equal <=> bitwise-equal stores. */
static inline uint64_t store_fingerprint(const tg_params *p) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < tg_params_count(p); i++) h = (h ^ tg_tensor_hash(tg_params_at(p, i))) * 1099511628211ull;
    return h;
}

/* Asserts |x[i] - expected[i]| <= rtol max(|expected[i]|, 1) for every element:
 * relative where values are large, absolute near zero. `what` names x in the message. */
static inline void assert_relative(const tg_tensor *x, const double *expected, int64_t n, double rtol,
                                   const char *what) {
    assert_non_null(x);
    assert_int_equal(x->numel, n);
    for (int64_t i = 0; i < n; i++) {
        double got = tg_get(x, i), scale = fabs(expected[i]) > 1 ? fabs(expected[i]) : 1;
        if (!(fabs(got - expected[i]) <= rtol * scale)) {
            print_error("%s element %lld: got %.17g, expected %.17g (rtol %g)\n", what, (long long)i, got,
                        expected[i], rtol);
            fail();
        }
    }
}

/* Asserts the tape's error message contains every given fragment. */
static inline void assert_error_mentions(const char *message, const char *fragment) {
    if (!strstr(message, fragment)) {
        print_error("error message \"%s\" does not mention \"%s\"\n", message, fragment);
        fail();
    }
}

/* Asserts the test's tape holds an error mentioning op and fragment, then clears it. */
static inline void assert_error(const char *op, const char *fragment) {
    assert_int_not_equal(tg_tape_status(tape), TG_OK);
    assert_error_mentions(tg_tape_error(tape), op);
    assert_error_mentions(tg_tape_error(tape), fragment);
    tg_tape_clear_error(tape);
}

#endif
