/* Gradient checking: is an op's backward rule right? (like PyTorch's
 * torch.autograd.gradcheck / gradgradcheck)
 *
 *   static tg_tensor *f(tg_tape *t, tg_tensor **in, void *user) { return tg_swish(t, in[0]); }
 *   tg_gradcheck_report r;
 *   if (tg_gradcheck(f, NULL, 1, (tg_tensor *[]){x}, NULL, &r)) puts(r.message);
 *
 * The inputs are only read: each check copies them onto its own tapes as
 * leaves marked with tg_requires_grad (except the constant_inputs bits) and
 * calls f to build the output. It then compares, for every element,
 *   numerical  J[k][j] = (f(x + eps e_j)[k] - f(x - eps e_j)[k]) / (2 eps)
 *   analytical J[k][j] = (tg_grad of output element k, one-hot grad_output)[j]
 * and passes when |numerical - analytical| <= atol + rtol |numerical|.
 * fast_mode compares random projections u^T J v instead (one backward pass,
 * two evaluations of f per input): for inputs too large for the full Jacobian.
 * Both modes also check that two backward passes over one graph give
 * bit-identical gradients (XXH3 hashes) and that a zero grad_output gives
 * zero gradients.
 *
 * Precision: f64 inputs are checked in f64 with PyTorch's defaults (eps 1e-6,
 * atol 1e-5, rtol 1e-3). f32 inputs are checked in f32 with eps 1e-3,
 * atol 1e-2, rtol 1e-2 and a warning: use f64 to trust the result.
 */
#ifndef TG_GRAPH_GRADCHECK_H
#define TG_GRAPH_GRADCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tape.h"
#include "ops/registry.h"

/* Builds the output on t from inputs (tensors on t, as many as were passed). */
typedef tg_tensor *(*tg_fn)(tg_tape *t, tg_tensor **inputs, void *user);

/* inputs: up to 32 for tg_gradcheck, 31 for tg_gradgradcheck (the check adds grad_output) */
#define TG_GRADCHECK_MAX_INPUTS 32

/* Zero fields take the defaults (which depend on the inputs' dtype, see above). */
typedef struct tg_gradcheck_opts {
    double eps;               /* finite-difference step */
    double atol, rtol;        /* pass: |num - ana| <= atol + rtol |num| */
    bool fast_mode;           /* compare u^T J v for random u, v instead of every element */
    uint64_t seed;            /* for u, v and the random grad_outputs */
    unsigned constant_inputs; /* bit i: input i is not differentiated (a mask, a condition) */
    bool quiet;               /* no warning on stderr for f32 inputs */
} tg_gradcheck_opts;

/* The worst element (the largest |num - ana| / (atol + rtol |num|)), or the
 * first failing check. rel_error = |num - ana| / max(|num|, atol / rtol):
 * relative where the derivative is large, scaled absolute near zero, so an
 * element passes when rel_error <= rtol and fails when above 2 rtol. */
typedef struct tg_gradcheck_report {
    bool passed;
    int input;              /* which input (for gradgradcheck, n is the grad_output), -1 if none */
    int output;             /* which output of the checked function (gradgradcheck: the gradient of
                               differentiated input number `output`), -1 if none */
    int64_t output_index;   /* flat element of that output, -1 in fast mode */
    int64_t input_index;    /* flat element of that input, -1 in fast mode */
    double numerical, analytical;
    double abs_error, rel_error;          /* of that element */
    double max_abs_error, max_rel_error;  /* over every element compared */
    double eps, atol, rtol;               /* the tolerances used */
    char message[512];                    /* why it failed; the f32 warning; "" if passed in f64 */
} tg_gradcheck_report;

/* TG_OK if every check passed, TG_ERR_CHECK if one failed (report says where;
 * a backward rule that fails or gives a wrongly shaped gradient is a failed
 * check too); TG_ERR_ARG for misuse (NULL f or input, too many inputs, no
 * input to differentiate, negative tolerances, a Jacobian too large for the
 * full check); f's own error status when f cannot run on the inputs.
 * opts and report may be NULL. The message is also in tg_last_error(). */
tg_status tg_gradcheck(tg_fn f, void *user, int n, tg_tensor *const *inputs, const tg_gradcheck_opts *opts,
                       tg_gradcheck_report *report);

/* Second order: runs the first-order check on
 *   g(inputs..., v) = tg_grad(f(inputs), inputs, grad_output = v, create_graph)
 * with a random v of f's output shape, which is itself differentiated (like
 * PyTorch's gradgradcheck): every backward rule on the way must be
 * differentiable correctly. Report input n is v. */
tg_status tg_gradgradcheck(tg_fn f, void *user, int n, tg_tensor *const *inputs, const tg_gradcheck_opts *opts,
                           tg_gradcheck_report *report);

/* ---- checking registry entries (tg gradcheck, the test suite) ---- */
typedef struct tg_spec_check {
    char inputs[160];            /* the sampled inputs: "f64[3,4] f64[4]" */
    tg_gradcheck_report first;   /* tg_gradcheck */
    tg_gradcheck_report second;  /* tg_gradgradcheck */
} tg_spec_check;

/* Samples the entry's inputs in `dtype` (rng seeded with opts->seed) and runs
 * both checks with the entry's constant_inputs (opts->constant_inputs is
 * ignored). TG_OK if both pass, TG_ERR_CHECK if one fails, the sampler's
 * status if sampling fails. */
tg_status tg_gradcheck_spec(const tg_op_spec *spec, tg_dtype dtype, const tg_gradcheck_opts *opts,
                            tg_spec_check *result);

#endif
