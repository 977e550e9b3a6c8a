/* The optimizer's insides, shared by the files of optim/ (private).
 *
 * An optimizer is an update rule (SGD, Adam) plus what every rule needs:
 * the parameter groups with their resolved options, and one slot per stored
 * tensor with its state tensors and step count. A step turns every parameter
 * that has a gradient into a task (pointers + the scalars of its formula,
 * bias corrections included) and runs all tasks in one parallel region. */
#ifndef TG_OPTIM_PRIVATE_H
#define TG_OPTIM_PRIVATE_H

#include "optim/groups.h"
#include "optim/optim.h"
#include "optim/optim_state.h"

enum { OPTIM_MAX_STATES = 3 };

/* A group's options, every one resolved. */
typedef struct optim_group {
    char *pattern;              /* NULL for the default group (index 0) */
    char *alternatives;         /* the pattern's '|'-separated parts, each NUL-terminated, "" after the last */
    double base_lr, lr;         /* lr = base_lr * the schedule's factor */
    double weight_decay;
    double momentum, dampening; /* SGD */
    double beta1, beta2, eps;   /* Adam, AdamW */
} optim_group;

/* The optimizer's view of stored tensor i (the store's index). */
typedef struct optim_slot {
    int group;                          /* -1 for a buffer (never updated) */
    int64_t steps;                      /* updates this parameter has had */
    tg_tensor *state[OPTIM_MAX_STATES]; /* the rule's state tensors, NULL until first used */
} optim_slot;

/* One parameter's update in one step. */
typedef struct optim_task {
    tg_tensor *param;                   /* param->data updated from param->grad->data */
    tg_tensor *state[OPTIM_MAX_STATES];
    int slot;                           /* the parameter's index in the store */
    bool fresh;                         /* its states were created for this step */
    int variant;                        /* which of the rule's loops */
    double sign;                        /* -1 with maximize: the step climbs */
    double lr, weight_decay;
    double momentum, dampening;         /* SGD */
    double beta1, beta2, eps;           /* Adam: */
    double step_size, root_bias2;       /*   lr / (1 - beta1^t), sqrt(1 - beta2^t) */
    double shrink;                      /*   AdamW's 1 - lr * weight_decay, Adam's 1 */
} optim_task;

/* Which group options a rule reads (the others are an error to set). */
enum { OPTIM_USES_MOMENTUM = 1, OPTIM_USES_BETAS = 2 };

typedef struct optim_rule {
    const char *name;                           /* "tg_sgd": messages */
    const char *kind;                           /* "sgd": checkpoints */
    const char *state_names[OPTIM_MAX_STATES];
    unsigned group_options;                     /* OPTIM_USES_* */
    /* Whether parameters of group g keep state (SGD without momentum does not). */
    bool (*keeps_state)(const optim_group *g);
    /* Fills t's scalars and variant for a parameter of group g whose slot s
     * has just counted this update (s->steps >= 1). */
    void (*plan)(const tg_optim *opt, const optim_group *g, const optim_slot *s, optim_task *t);
    /* Updates elements [begin, end) of t's parameter: run[TG_F32], run[TG_F64]. */
    void (*run[2])(const optim_task *t, int64_t begin, int64_t end);
} optim_rule;

struct tg_optim {
    const optim_rule *rule;
    tg_params *params;
    bool nesterov, maximize, amsgrad; /* whole-optimizer flags */
    bool decoupled_weight_decay;      /* AdamW */
    int n_states;                     /* state tensors a parameter keeps (a prefix of rule->state_names) */
    int64_t steps;
    optim_group *groups;
    int n_groups;
    optim_slot *slots;                /* one per stored tensor */
    int n_slots;
    optim_task *tasks;                /* n_slots of them, reused by every step: a steady loop allocates nothing */
    int64_t *sizes;                   /* n_slots: the tasks' element counts, for tg_parallel_segments */
};

/* A new optimizer over p: config's rule, flags and n_states, and the default
 * group g0; NULL + tg_last_error() naming `who` on a NULL store or a bad option. */
tg_optim *optim_new(const char *who, const tg_optim *config, tg_params *p, optim_group g0);
/* A zero-filled stored tensor shaped like param for state `state_name`
 * (NULL if out of memory); optim_state_free frees one. */
tg_tensor *optim_state_new(const tg_tensor *param, const char *state_name);
void optim_state_free(tg_tensor *x);

/* Checks a group's options for the rule and flags: status + a message
 * "<who>: <option> <value> must be ..." naming the group when it has a pattern. */
tg_status optim_check_group(const char *who, const tg_optim *opt, const optim_group *g);
/* Creates the slots of tensors added to the store since the last call and
 * puts them in their groups. */
tg_status optim_sync_slots(tg_optim *opt);
/* The group a parameter named `name` belongs to. */
int optim_group_for(const tg_optim *opt, const char *name);
/* The store index of parameter `name`, or -1 + an error naming `who`. */
int optim_param_index(const char *who, const tg_optim *opt, const char *name);

#endif
