/* Optimizer state (optim/optim_state.h): state tensors by name, and the
 * optimizer's records in a checkpoint, exported, checked and imported. */
#include "optim/optim_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- state tensors ---- */

tg_tensor *optim_state_new(const tg_tensor *param, const char *state_name) {
    tg_tensor *x = calloc(1, sizeof *x);
    size_t bytes = ((size_t)param->numel * tg_dtype_size(param->dtype) + 63) & ~(size_t)63;
    void *data = x ? aligned_alloc(64, bytes ? bytes : 64) : NULL;
    size_t name_len = strlen(param->name) + 1 + strlen(state_name) + 1;
    char *name = data ? malloc(name_len) : NULL;
    if (!name) {
        free(data);
        free(x);
        return NULL;
    }
    memset(data, 0, bytes ? bytes : 64);
    snprintf(name, name_len, "%s/%s", param->name, state_name);
    *x = (tg_tensor){.dtype = param->dtype, .ndim = param->ndim, .numel = param->numel, .data = data,
                     .kind = TG_KIND_BUFFER, .name = name};
    memcpy(x->shape, param->shape, sizeof x->shape);
    return x;
}

void optim_state_free(tg_tensor *x) {
    if (!x) return;
    free(x->data);
    free((char *)x->name);
    free(x);
}

/* The index of state `name` among those opt keeps, or -1. */
static int state_index(const tg_optim *opt, const char *name) {
    for (int k = 0; k < opt->n_states; k++)
        if (strcmp(opt->rule->state_names[k], name) == 0) return k;
    return -1;
}

tg_tensor *tg_optim_state(const tg_optim *opt, const char *param_name, const char *state_name) {
    const char *who = "tg_optim_state";
    int i = optim_param_index(who, opt, param_name);
    if (i < 0) return NULL;
    int k = state_name ? state_index(opt, state_name) : -1;
    if (k < 0) {
        char names[128] = "";
        for (int j = 0; j < opt->n_states; j++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", j ? ", " : "",
                     opt->rule->state_names[j]);
        tg_set_error(TG_ERR_ARG, "%s: %s keeps no state '%s' (its states: %s)", who, opt->rule->name,
                     state_name ? state_name : "(null)", opt->n_states ? names : "none");
        return NULL;
    }
    tg_tensor *x = i < opt->n_slots ? opt->slots[i].state[k] : NULL;
    if (!x)
        tg_set_error(TG_ERR_STATE, "%s: '%s' has no %s yet (it is created at the parameter's first update%s)", who,
                     param_name, state_name,
                     opt->rule->group_options & OPTIM_USES_MOMENTUM ? " in a group with momentum" : "");
    return x;
}

/* ---- records ---- */

enum { GROUP_OPTIONS = 8 }; /* base lr, lr, weight_decay, momentum, dampening, beta1, beta2, eps */

static void group_to_options(const optim_group *g, double out[GROUP_OPTIONS]) {
    const double values[GROUP_OPTIONS] = {g->base_lr, g->lr,    g->weight_decay, g->momentum,
                                          g->dampening, g->beta1, g->beta2,       g->eps};
    memcpy(out, values, sizeof values);
}

static optim_group group_from_options(const double in[GROUP_OPTIONS], char *pattern) {
    return (optim_group){.pattern = pattern, .base_lr = in[0], .lr = in[1], .weight_decay = in[2],
                         .momentum = in[3], .dampening = in[4], .beta1 = in[5], .beta2 = in[6], .eps = in[7]};
}

/* "sgd nesterov=1 amsgrad=0 maximize=0": what must be equal to import */
static void config_text(const tg_optim *opt, char *out, size_t size) {
    snprintf(out, size, "%s nesterov=%d amsgrad=%d maximize=%d", opt->rule->kind, opt->nesterov, opt->amsgrad,
             opt->maximize);
}

enum { NAME_SIZE = 4200 }; /* longer than any checkpoint record name */

/* "optim/<param>/<leaf>" into out[NAME_SIZE]; an error naming `who` if it does not fit. */
static tg_status param_record_name(const char *who, char *out, const char *param, const char *leaf) {
    int n = snprintf(out, NAME_SIZE, "optim/%s/%s", param, leaf);
    if (n < 0 || n >= NAME_SIZE) return tg_set_error(TG_ERR_ARG, "%s: record name for '%s' is too long", who, param);
    return TG_OK;
}

static void group_record_name(char *out, size_t size, int g, const char *what) {
    snprintf(out, size, "optim/group/%d/%s", g, what);
}

tg_status tg_optim_export(const tg_optim *opt, tg_checkpoint *c) {
    const char *who = "tg_optim_export";
    if (!opt || !c) return tg_set_error(TG_ERR_ARG, "%s: optimizer or checkpoint is NULL", who);
    if (tg_checkpoint_find(c, "optim/config"))
        return tg_set_error(TG_ERR_ARG, "%s: the checkpoint already holds an optimizer's records", who);
    char config[128], *name = malloc(NAME_SIZE);
    if (!name) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    config_text(opt, config, sizeof config);
    int64_t groups = opt->n_groups;
    tg_status st = tg_checkpoint_add_bytes(c, "optim/config", config, strlen(config));
    if (!st) st = tg_checkpoint_add_bytes(c, "optim/steps", &opt->steps, sizeof opt->steps);
    if (!st) st = tg_checkpoint_add_bytes(c, "optim/groups", &groups, sizeof groups);
    for (int g = 0; g < opt->n_groups && !st; g++) {
        const char *pattern = opt->groups[g].pattern ? opt->groups[g].pattern : "";
        double options[GROUP_OPTIONS];
        group_to_options(&opt->groups[g], options);
        group_record_name(name, NAME_SIZE, g, "pattern");
        st = tg_checkpoint_add_bytes(c, name, pattern, strlen(pattern));
        group_record_name(name, NAME_SIZE, g, "options");
        if (!st) st = tg_checkpoint_add_bytes(c, name, options, sizeof options);
    }
    for (int i = 0; i < opt->n_slots && !st; i++) {
        const optim_slot *s = &opt->slots[i];
        const char *param = tg_params_at(opt->params, i)->name;
        if (s->steps > 0) {
            st = param_record_name(who, name, param, "step");
            if (!st) st = tg_checkpoint_add_bytes(c, name, &s->steps, sizeof s->steps);
        }
        for (int k = 0; k < opt->n_states && !st; k++) {
            if (!s->state[k]) continue;
            st = param_record_name(who, name, param, opt->rule->state_names[k]);
            if (!st) st = tg_checkpoint_add_tensor(c, name, TG_RECORD_STATE, s->state[k]);
        }
    }
    free(name);
    return st;
}

/* What a checkpoint says about one parameter, found while checking. */
typedef struct {
    int64_t steps;
    const tg_record *state[OPTIM_MAX_STATES];
} param_records;

/* The optimizer records of c, checked against opt: groups' options into
 * groups_out (n_groups of them, patterns borrowed from opt), per-parameter
 * records into params_out (one per stored tensor), the step count into *steps. */
static tg_status read_records(const char *who, const tg_optim *opt, const tg_checkpoint *c, int64_t *steps,
                              optim_group *groups_out, param_records *params_out) {
    const char *origin = tg_checkpoint_origin(c);
    char ours[128];
    config_text(opt, ours, sizeof ours);
    const tg_record *config = tg_checkpoint_find(c, "optim/config");
    if (!config || config->kind != TG_RECORD_BYTES)
        return tg_set_error(TG_ERR_FORMAT, "%s: '%s' holds no optimizer (no record 'optim/config')", who, origin);
    if (config->bytes != strlen(ours) || memcmp(config->data, ours, config->bytes) != 0)
        return tg_set_error(TG_ERR_FORMAT, "%s: '%s' holds the state of another optimizer: '%.*s', this one is '%s'",
                            who, origin, (int)(config->bytes < 100 ? config->bytes : 100), (const char *)config->data,
                            ours);
    int64_t groups;
    if (tg_checkpoint_get_bytes(c, "optim/steps", steps, sizeof *steps) ||
        tg_checkpoint_get_bytes(c, "optim/groups", &groups, sizeof groups))
        return TG_ERR_FORMAT;
    if (*steps < 0) return tg_set_error(TG_ERR_FORMAT, "%s: '%s': optim/steps is %lld", who, origin, (long long)*steps);
    if (groups != opt->n_groups)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: '%s' holds %lld parameter groups, this optimizer has %d (add the same groups, "
                            "in the same order, before importing)",
                            who, origin, (long long)groups, opt->n_groups);
    char name[64];
    for (int g = 0; g < opt->n_groups; g++) {
        const char *pattern = opt->groups[g].pattern ? opt->groups[g].pattern : "";
        group_record_name(name, sizeof name, g, "pattern");
        const tg_record *r = tg_checkpoint_find(c, name);
        if (!r || r->kind != TG_RECORD_BYTES)
            return tg_set_error(TG_ERR_FORMAT, "%s: '%s' has no record '%s'", who, origin, name);
        if (r->bytes != strlen(pattern) || memcmp(r->data, pattern, r->bytes) != 0)
            return tg_set_error(TG_ERR_FORMAT, "%s: '%s': group %d has pattern '%.*s', this optimizer's has '%s'", who,
                                origin, g, (int)(r->bytes < 200 ? r->bytes : 200), (const char *)r->data, pattern);
        double options[GROUP_OPTIONS];
        group_record_name(name, sizeof name, g, "options");
        if (tg_checkpoint_get_bytes(c, name, options, sizeof options)) return TG_ERR_FORMAT;
        groups_out[g] = group_from_options(options, opt->groups[g].pattern);
        if (optim_check_group(who, opt, &groups_out[g])) return TG_ERR_FORMAT;
    }
    /* every other optim/ record must be a known parameter's step or state */
    int count = tg_params_count(opt->params);
    memset(params_out, 0, sizeof *params_out * (size_t)count);
    for (int j = 0; j < tg_checkpoint_count(c); j++) {
        const tg_record *r = tg_checkpoint_at(c, j);
        if (strncmp(r->name, "optim/", 6) != 0 || r == config || strcmp(r->name, "optim/steps") == 0 ||
            strcmp(r->name, "optim/groups") == 0)
            continue;
        int group_record = -1;
        if (sscanf(r->name, "optim/group/%d/", &group_record) == 1 && group_record >= 0 &&
            group_record < opt->n_groups) {
            group_record_name(name, sizeof name, group_record, "pattern");
            if (strcmp(r->name, name) == 0) continue;
            group_record_name(name, sizeof name, group_record, "options");
            if (strcmp(r->name, name) == 0) continue;
        }
        const char *path = r->name + 6, *slash = strrchr(path, '/');
        int i = -1;
        for (int s = 0; slash && s < count; s++) {
            const char *param = tg_params_at(opt->params, s)->name;
            if (strlen(param) == (size_t)(slash - path) && strncmp(param, path, (size_t)(slash - path)) == 0) i = s;
        }
        int k = slash ? state_index(opt, slash + 1) : -1;
        bool is_step = slash && strcmp(slash + 1, "step") == 0;
        if (i < 0 || (k < 0 && !is_step))
            return tg_set_error(TG_ERR_FORMAT, "%s: '%s': record '%s' is not a %s record of this model", who, origin,
                                r->name, opt->rule->name);
        const tg_tensor *param = tg_params_at(opt->params, i);
        if (param->kind != TG_KIND_PARAM)
            return tg_set_error(TG_ERR_FORMAT, "%s: '%s': record '%s' is for '%s', a buffer in the store", who, origin,
                                r->name, param->name);
        if (is_step) {
            if (r->kind != TG_RECORD_BYTES || r->bytes != sizeof(int64_t))
                return tg_set_error(TG_ERR_FORMAT, "%s: '%s': '%s' is not an 8-byte count", who, origin, r->name);
            memcpy(&params_out[i].steps, r->data, sizeof(int64_t));
            if (params_out[i].steps < 0)
                return tg_set_error(TG_ERR_FORMAT, "%s: '%s': '%s' is %lld", who, origin, r->name,
                                    (long long)params_out[i].steps);
            continue;
        }
        tg_tensor probe = {.dtype = r->dtype, .ndim = r->ndim};
        memcpy(probe.shape, r->shape, sizeof probe.shape);
        if (r->kind != TG_RECORD_STATE || r->dtype != param->dtype || !tg_same_shape(&probe, param)) {
            char have[200], want[200];
            return tg_set_error(TG_ERR_SHAPE, "%s: '%s': '%s' is %s%s, the parameter is %s", who, origin, r->name,
                                r->kind == TG_RECORD_STATE ? "" : "not a state tensor: ",
                                tg_tensor_desc(&probe, want, sizeof want), tg_tensor_desc(param, have, sizeof have));
        }
        params_out[i].state[k] = r;
    }
    /* a parameter has all of its states or none */
    for (int i = 0; i < count; i++) {
        int present = 0;
        for (int k = 0; k < opt->n_states; k++) present += params_out[i].state[k] != NULL;
        if (present != 0 && present != opt->n_states)
            for (int k = 0; k < opt->n_states; k++)
                if (!params_out[i].state[k])
                    return tg_set_error(TG_ERR_FORMAT, "%s: '%s' has state for '%s' but not its %s", who, origin,
                                        tg_params_at(opt->params, i)->name, opt->rule->state_names[k]);
    }
    return TG_OK;
}

/* Checks c and fills the scratch a following import needs (freed by the caller). */
static tg_status check(const char *who, const tg_optim *opt, const tg_checkpoint *c, int64_t *steps,
                       optim_group **groups, param_records **params) {
    *groups = NULL;
    *params = NULL;
    if (!opt || !c) return tg_set_error(TG_ERR_ARG, "%s: optimizer or checkpoint is NULL", who);
    *groups = malloc(sizeof **groups * (size_t)opt->n_groups);
    *params = malloc(sizeof **params * (size_t)(tg_params_count(opt->params) + 1));
    if (!*groups || !*params) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    return read_records(who, opt, c, steps, *groups, *params);
}

tg_status tg_optim_check_import(const tg_optim *opt, const tg_checkpoint *c) {
    int64_t steps;
    optim_group *groups;
    param_records *params;
    tg_status st = check("tg_optim_check_import", opt, c, &steps, &groups, &params);
    free(groups);
    free(params);
    return st;
}

tg_status tg_optim_import(tg_optim *opt, const tg_checkpoint *c) {
    const char *who = "tg_optim_import";
    int64_t steps;
    optim_group *groups;
    param_records *params;
    tg_tensor **fresh = NULL;
    /* slots for tensors the store gained since the last step (bookkeeping only) */
    if (opt && optim_sync_slots(opt)) return TG_ERR_NOMEM;
    tg_status st = check(who, opt, c, &steps, &groups, &params);
    /* every new state tensor first: nothing changes unless all of them exist */
    if (!st) {
        fresh = calloc((size_t)opt->n_slots * OPTIM_MAX_STATES + 1, sizeof *fresh);
        if (!fresh) st = tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    }
    for (int i = 0; !st && i < opt->n_slots; i++) {
        for (int k = 0; k < opt->n_states && !st; k++) {
            const tg_record *r = params[i].state[k];
            if (!r) continue;
            tg_tensor *x = optim_state_new(tg_params_at(opt->params, i), opt->rule->state_names[k]);
            if (!x) {
                st = tg_set_error(TG_ERR_NOMEM, "%s: out of memory for the state of '%s'", who,
                                  tg_params_at(opt->params, i)->name);
                break;
            }
            memcpy(x->data, r->data, r->bytes);
            fresh[(size_t)i * OPTIM_MAX_STATES + (size_t)k] = x;
        }
    }
    if (st) {
        for (size_t j = 0; fresh && j < (size_t)opt->n_slots * OPTIM_MAX_STATES; j++) optim_state_free(fresh[j]);
    } else {
        for (int i = 0; i < opt->n_slots; i++) {
            optim_slot *s = &opt->slots[i];
            for (int k = 0; k < OPTIM_MAX_STATES; k++) {
                optim_state_free(s->state[k]);
                s->state[k] = fresh[(size_t)i * OPTIM_MAX_STATES + (size_t)k];
            }
            s->steps = params[i].steps;
        }
        for (int g = 0; g < opt->n_groups; g++) {
            groups[g].alternatives = opt->groups[g].alternatives;
            opt->groups[g] = groups[g];
        }
        opt->steps = steps;
    }
    free(fresh);
    free(groups);
    free(params);
    return st;
}

tg_status tg_optim_save(const tg_optim *opt, const char *path) {
    const char *who = "tg_optim_save";
    if (!opt || !path) return tg_set_error(TG_ERR_ARG, "%s: optimizer or path is NULL", who);
    tg_checkpoint *c = tg_checkpoint_new();
    tg_status st = c ? tg_optim_export(opt, c) : TG_ERR_NOMEM;
    if (!st) st = tg_checkpoint_write_as(c, path, who);
    tg_checkpoint_free(c);
    return st;
}

tg_status tg_optim_load(tg_optim *opt, const char *path) {
    const char *who = "tg_optim_load";
    if (!opt || !path) return tg_set_error(TG_ERR_ARG, "%s: optimizer or path is NULL", who);
    tg_checkpoint *c = tg_checkpoint_read_as(path, who);
    if (!c) return tg_last_status();
    tg_status st = tg_optim_import(opt, c);
    tg_checkpoint_free(c);
    return st;
}
