/* The op registry: every operation, primitive or composite, with a sampler of
 * valid inputs. `tg gradcheck` and the test suite walk it, so "every op has a
 * gradient check" is a fact the tests enforce.
 *
 * Adding a built-in op: write ops/<op>.c with the forward kernel, the backward
 * rule and a `const tg_op_spec tg_spec_<op>`, then add one line
 * `TG_REGISTRY_ENTRY(tg_spec_<op>)` to ops/registry_list.h. */
#ifndef TG_OPS_REGISTRY_H
#define TG_OPS_REGISTRY_H

#include "core/rng.h"
#include "core/tape.h"

typedef struct tg_op_spec {
    const char *name;     /* as listed: "add", "sum(axis=1,keepdim)", "batchnorm(eval)" */
    const char *function; /* the public function it checks: "tg_add" */
    int n_inputs;
    /* Fills inputs[0..n_inputs) with valid tensors of `dtype` on t, drawn from
     * rng, away from kinks and ties (relu at 0, max with equal values). */
    tg_status (*sample)(tg_tape *t, tg_rng *rng, tg_dtype dtype, tg_tensor **inputs);
    /* Applies the op with the attributes this entry fixes. */
    tg_tensor *(*apply)(tg_tape *t, tg_tensor **inputs);
    /* Bit i set: input i is not differentiated (a mask or a condition). */
    unsigned constant_inputs;
} tg_op_spec;

int tg_registry_count(void);
const tg_op_spec *tg_registry_at(int index);
const tg_op_spec *tg_registry_find(const char *name); /* NULL if absent */

/* Sampler helpers: uniform values in [low, high) of the given shape, or with
 * a random sign (magnitudes in [low, high)), keeping values away from zero. */
tg_tensor *tg_sample_uniform(tg_tape *t, tg_rng *rng, tg_dtype dtype, int ndim, const int64_t *shape, double low,
                             double high);
tg_tensor *tg_sample_signed(tg_tape *t, tg_rng *rng, tg_dtype dtype, int ndim, const int64_t *shape, double low,
                            double high);

#define TG_SHAPE(...) (sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), ((const int64_t[]){__VA_ARGS__})

#endif
