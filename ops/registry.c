#include "ops/registry.h"

#include <string.h>

#define TG_REGISTRY_ENTRY(spec) extern const tg_op_spec spec;
#include "ops/registry_list.h"
#undef TG_REGISTRY_ENTRY

static const tg_op_spec *const registry[] = {
#define TG_REGISTRY_ENTRY(spec) &spec,
#include "ops/registry_list.h"
#undef TG_REGISTRY_ENTRY
};

int tg_registry_count(void) { return (int)(sizeof registry / sizeof registry[0]); }

const tg_op_spec *tg_registry_at(int index) {
    return index >= 0 && index < tg_registry_count() ? registry[index] : NULL;
}

const tg_op_spec *tg_registry_find(const char *name) {
    for (int i = 0; name && i < tg_registry_count(); i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

tg_tensor *tg_sample_uniform(tg_tape *t, tg_rng *rng, tg_dtype dtype, int ndim, const int64_t *shape, double low,
                             double high) {
    return tg_uniform(t, rng, dtype, ndim, shape, low, high);
}

tg_tensor *tg_sample_signed(tg_tape *t, tg_rng *rng, tg_dtype dtype, int ndim, const int64_t *shape, double low,
                            double high) {
    tg_tensor *x = tg_uniform(t, rng, dtype, ndim, shape, low, high);
    for (int64_t i = 0; x && i < x->numel; i++)
        if (tg_rng_uniform(rng) < 0.5) tg_set(x, i, -tg_get(x, i));
    return x;
}
