/* Adam and AdamW (optim/adam.h): the rule's loops and its place in the interface. */
#include "optim/adam.h"

#include <math.h>

#include "optim/optim_private.h"

tg_adam_opts tg_adam_defaults(void) {
    return (tg_adam_opts){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
}

tg_adam_opts tg_adamw_defaults(void) {
    return (tg_adam_opts){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01,
                          .decoupled_weight_decay = true};
}

/* variant = decay (Adam's L2 term) + 2 * amsgrad */
#define VARIANT(decay, amsgrad) ((decay) + 2 * (amsgrad))
#define ADAM_VARIANTS(X) X(false, false) X(true, false) X(false, true) X(true, true)

/* n elements of one parameter, in PyTorch's order of operations; the flags
 * are constants at every call site below (one branch-free vector loop each).
 * AdamW's decay is the factor `shrink` (1 for Adam: w * 1 is w exactly). */
#define ADAM_LOOP(T, NAME, SQRT)                                                                            \
    static inline __attribute__((always_inline)) void NAME(T *restrict w, const T *restrict grad,           \
                                                           T *restrict m, T *restrict v, T *restrict v_max, \
                                                           int64_t n, const optim_task *t, const bool decay, \
                                                           const bool amsgrad) {                            \
        const T sign = (T)t->sign, wd = (T)t->weight_decay, shrink = (T)t->shrink;                          \
        const T beta1 = (T)t->beta1, beta2 = (T)t->beta2, eps = (T)t->eps;                                  \
        const T keep1 = (T)(1 - t->beta1), keep2 = (T)(1 - t->beta2);                                       \
        const T neg_step = (T)-t->step_size, root_bias2 = (T)t->root_bias2;                                 \
        for (int64_t k = 0; k < n; k++) {                                                                   \
            T g = sign * grad[k];                                                                           \
            if (decay) g = g + wd * w[k];                                                                   \
            m[k] = m[k] * beta1 + keep1 * g;                                                                \
            v[k] = v[k] * beta2 + keep2 * g * g;                                                            \
            T second = v[k];                                                                                \
            if (amsgrad) second = v_max[k] = v_max[k] > v[k] ? v_max[k] : v[k]; /* NaN in v wins */        \
            T denom = SQRT(second) / root_bias2 + eps;                                                      \
            w[k] = w[k] * shrink + neg_step * m[k] / denom;                                                 \
        }                                                                                                   \
    }
ADAM_LOOP(float, adam_loop_f32, sqrtf)
ADAM_LOOP(double, adam_loop_f64, sqrt)

#define ADAM_CASE_F32(decay, amsgrad)                                                                       \
    case VARIANT(decay, amsgrad): adam_loop_f32(w, g, m, v, v_max, n, t, decay, amsgrad); break;
#define ADAM_CASE_F64(decay, amsgrad)                                                                       \
    case VARIANT(decay, amsgrad): adam_loop_f64(w, g, m, v, v_max, n, t, decay, amsgrad); break;
#define ADAM_RUN(T, NAME, CASE)                                                                             \
    static void NAME(const optim_task *t, int64_t begin, int64_t end) {                                     \
        T *w = (T *)t->param->data + begin, *m = (T *)t->state[0]->data + begin;                            \
        T *v = (T *)t->state[1]->data + begin, *v_max = t->state[2] ? (T *)t->state[2]->data + begin : NULL; \
        const T *g = (const T *)t->param->grad->data + begin;                                               \
        int64_t n = end - begin;                                                                            \
        switch (t->variant) { ADAM_VARIANTS(CASE) }                                                         \
    }
ADAM_RUN(float, adam_run_f32, ADAM_CASE_F32)
ADAM_RUN(double, adam_run_f64, ADAM_CASE_F64)

static void plan(const tg_optim *opt, const optim_group *g, const optim_slot *s, optim_task *t) {
    double steps = (double)s->steps;
    t->weight_decay = g->weight_decay;
    t->beta1 = g->beta1;
    t->beta2 = g->beta2;
    t->eps = g->eps;
    t->lr = g->lr;
    t->step_size = g->lr / (1 - pow(g->beta1, steps));
    t->root_bias2 = sqrt(1 - pow(g->beta2, steps));
    t->shrink = opt->decoupled_weight_decay ? 1 - g->lr * g->weight_decay : 1;
    /* Adam adds no L2 term when weight_decay is 0 (0 * w would turn an inf into NaN) */
    t->variant = VARIANT(!opt->decoupled_weight_decay && g->weight_decay != 0, opt->amsgrad);
}

static bool keeps_state(const optim_group *g) {
    (void)g;
    return true;
}

#define ADAM_RULE(NAME, KIND)                                                                               \
    {.name = NAME, .kind = KIND, .state_names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},               \
     .group_options = OPTIM_USES_BETAS, .keeps_state = keeps_state, .plan = plan,                         \
     .run = {adam_run_f32, adam_run_f64}}
static const optim_rule adam_rule = ADAM_RULE("tg_adam", "adam"), adamw_rule = ADAM_RULE("tg_adamw", "adamw");

tg_optim *tg_adam_new(tg_params *p, tg_adam_opts opts) {
    tg_optim config = {.rule = opts.decoupled_weight_decay ? &adamw_rule : &adam_rule,
                       .maximize = opts.maximize,
                       .amsgrad = opts.amsgrad,
                       .decoupled_weight_decay = opts.decoupled_weight_decay,
                       .n_states = opts.amsgrad ? 3 : 2};
    optim_group g0 = {.base_lr = opts.lr, .lr = opts.lr, .weight_decay = opts.weight_decay,
                      .beta1 = opts.beta1, .beta2 = opts.beta2, .eps = opts.eps};
    return optim_new("tg_adam_new", &config, p, g0);
}
