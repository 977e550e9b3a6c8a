/* SGD (optim/sgd.h): the rule's loops and its place in the interface. */
#include "optim/sgd.h"

#include "optim/optim_private.h"

/* What the momentum buffer does in this update. */
enum { NO_MOMENTUM, FIRST_MOMENTUM /* b = g */, MOMENTUM /* b = momentum b + (1 - dampening) g */ };

/* variant = decay + 2 * momentum_mode + 6 * nesterov */
#define VARIANT(decay, momentum_mode, nesterov) ((decay) + 2 * (momentum_mode) + 6 * (nesterov))
#define SGD_VARIANTS(X)                                                                                     \
    X(false, NO_MOMENTUM, false) X(true, NO_MOMENTUM, false)                                                \
    X(false, FIRST_MOMENTUM, false) X(true, FIRST_MOMENTUM, false)                                          \
    X(false, MOMENTUM, false) X(true, MOMENTUM, false)                                                      \
    X(false, FIRST_MOMENTUM, true) X(true, FIRST_MOMENTUM, true)                                            \
    X(false, MOMENTUM, true) X(true, MOMENTUM, true)

/* n elements of one parameter. The flags are constants at every call site
 * below, so each variant compiles to its own branch-free vector loop. */
#define SGD_LOOP(T, NAME)                                                                                   \
    static inline __attribute__((always_inline)) void NAME(T *restrict w, const T *restrict grad,           \
                                                           T *restrict b, int64_t n, const optim_task *t,   \
                                                           const bool decay, const int momentum_mode,       \
                                                           const bool nesterov) {                           \
        const T sign = (T)t->sign, lr = (T)t->lr, wd = (T)t->weight_decay, mu = (T)t->momentum;             \
        const T keep = (T)(1 - t->dampening);                                                               \
        for (int64_t k = 0; k < n; k++) {                                                                   \
            T g = sign * grad[k];                                                                           \
            if (decay) g = g + wd * w[k];                                                                   \
            if (momentum_mode == FIRST_MOMENTUM) b[k] = g;                                                  \
            if (momentum_mode == MOMENTUM) b[k] = mu * b[k] + keep * g;                                     \
            if (momentum_mode != NO_MOMENTUM) g = nesterov ? g + mu * b[k] : b[k];                          \
            w[k] = w[k] - lr * g;                                                                           \
        }                                                                                                   \
    }
SGD_LOOP(float, sgd_loop_f32)
SGD_LOOP(double, sgd_loop_f64)

#define SGD_CASE_F32(decay, mode, nesterov)                                                                 \
    case VARIANT(decay, mode, nesterov): sgd_loop_f32(w, g, b, n, t, decay, mode, nesterov); break;
#define SGD_CASE_F64(decay, mode, nesterov)                                                                 \
    case VARIANT(decay, mode, nesterov): sgd_loop_f64(w, g, b, n, t, decay, mode, nesterov); break;
#define SGD_RUN(T, NAME, CASE)                                                                              \
    static void NAME(const optim_task *t, int64_t begin, int64_t end) {                                     \
        T *w = (T *)t->param->data + begin, *b = t->state[0] ? (T *)t->state[0]->data + begin : NULL;       \
        const T *g = (const T *)t->param->grad->data + begin;                                               \
        int64_t n = end - begin;                                                                            \
        switch (t->variant) { SGD_VARIANTS(CASE) }                                                          \
    }
SGD_RUN(float, sgd_run_f32, SGD_CASE_F32)
SGD_RUN(double, sgd_run_f64, SGD_CASE_F64)

static void plan(const tg_optim *opt, const optim_group *g, const optim_slot *s, optim_task *t) {
    (void)s;
    t->lr = g->lr;
    t->weight_decay = g->weight_decay;
    t->momentum = g->momentum;
    t->dampening = g->dampening;
    /* PyTorch starts the buffer at the first gradient it sees (and adds no
     * decay term when weight_decay is 0: 0 * w would turn an inf into NaN) */
    int mode = g->momentum == 0 ? NO_MOMENTUM : t->fresh ? FIRST_MOMENTUM : MOMENTUM;
    t->variant = VARIANT(g->weight_decay != 0, mode, mode != NO_MOMENTUM && opt->nesterov);
}

static bool keeps_state(const optim_group *g) { return g->momentum != 0; }

static const optim_rule sgd_rule = {.name = "tg_sgd",
                                    .kind = "sgd",
                                    .state_names = {"momentum_buffer"},
                                    .group_options = OPTIM_USES_MOMENTUM,
                                    .keeps_state = keeps_state,
                                    .plan = plan,
                                    .run = {sgd_run_f32, sgd_run_f64}};

tg_optim *tg_sgd_new(tg_params *p, tg_sgd_opts opts) {
    tg_optim config = {.rule = &sgd_rule, .nesterov = opts.nesterov, .maximize = opts.maximize, .n_states = 1};
    optim_group g0 = {.base_lr = opts.lr, .lr = opts.lr, .weight_decay = opts.weight_decay,
                      .momentum = opts.momentum, .dampening = opts.dampening};
    return optim_new("tg_sgd_new", &config, p, g0);
}
