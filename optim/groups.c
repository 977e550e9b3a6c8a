/* Parameter groups (optim/groups.h): options per group, checking them,
 * which parameter is in which group, learning rates and schedules. */
#define _POSIX_C_SOURCE 200809L /* strdup, fnmatch */
#include "optim/optim_private.h"

#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- checking options ---- */

/* "<who>: " or "<who>: group '<pattern>': " */
static tg_status bad_option(const char *who, const optim_group *g, const char *option, double value,
                            const char *must) {
    if (g->pattern)
        return tg_set_error(TG_ERR_ARG, "%s: group '%s': %s %g must be %s", who, g->pattern, option, value, must);
    return tg_set_error(TG_ERR_ARG, "%s: %s %g must be %s", who, option, value, must);
}

tg_status optim_check_group(const char *who, const tg_optim *opt, const optim_group *g) {
    const char *nonnegative = "a finite number >= 0";
    if (!(g->base_lr > 0 && isfinite(g->base_lr))) return bad_option(who, g, "lr", g->base_lr, "finite and > 0");
    if (!(g->lr >= 0 && isfinite(g->lr))) return bad_option(who, g, "lr", g->lr, nonnegative);
    if (!(g->weight_decay >= 0 && isfinite(g->weight_decay)))
        return bad_option(who, g, "weight_decay", g->weight_decay, nonnegative);
    unsigned uses = opt->rule->group_options;
    if (uses & OPTIM_USES_MOMENTUM) {
        if (!(g->momentum >= 0 && isfinite(g->momentum))) return bad_option(who, g, "momentum", g->momentum, nonnegative);
        if (!(g->dampening >= 0 && g->dampening <= 1))
            return bad_option(who, g, "dampening", g->dampening, "in [0, 1]");
        if (opt->nesterov && !(g->momentum > 0))
            return bad_option(who, g, "momentum", g->momentum, "> 0 with nesterov");
        if (opt->nesterov && g->dampening != 0)
            return bad_option(who, g, "dampening", g->dampening, "0 with nesterov");
    }
    if (uses & OPTIM_USES_BETAS) {
        if (!(g->beta1 >= 0 && g->beta1 < 1)) return bad_option(who, g, "beta1", g->beta1, "in [0, 1)");
        if (!(g->beta2 >= 0 && g->beta2 < 1)) return bad_option(who, g, "beta2", g->beta2, "in [0, 1)");
        if (!(g->eps >= 0 && isfinite(g->eps))) return bad_option(who, g, "eps", g->eps, nonnegative);
    }
    return TG_OK;
}

/* ---- membership ---- */

static bool group_matches(const optim_group *g, const char *name) {
    for (const char *part = g->alternatives; *part; part += strlen(part) + 1)
        if (fnmatch(part, name, 0) == 0) return true;
    return false;
}

int optim_group_for(const tg_optim *opt, const char *name) {
    for (int g = 1; g < opt->n_groups; g++)
        if (group_matches(&opt->groups[g], name)) return g;
    return 0;
}

/* The pattern's parts, each NUL-terminated, then an empty one; NULL + error
 * naming `who` for an empty part ("a||b"). */
static char *split_pattern(const char *who, const char *pattern) {
    size_t len = strlen(pattern);
    for (size_t i = 0; i <= len; i++) {
        bool part_ends = i == len || pattern[i] == '|';
        bool part_empty = i == 0 || pattern[i - 1] == '|';
        if (part_ends && part_empty) {
            tg_set_error(TG_ERR_ARG, "%s: pattern '%s' has an empty part", who, pattern);
            return NULL;
        }
    }
    char *parts = malloc(len + 2);
    if (!parts) {
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
        return NULL;
    }
    for (size_t i = 0; i < len; i++) parts[i] = pattern[i] == '|' ? '\0' : pattern[i];
    parts[len] = parts[len + 1] = '\0';
    return parts;
}

static void resolve(double *value, tg_override o) {
    if (o.set) *value = o.value;
}

int tg_optim_add_group(tg_optim *opt, const char *pattern, tg_optim_group_opts overrides) {
    const char *who = "tg_optim_add_group";
    if (!opt || !pattern || !*pattern) {
        tg_set_error(TG_ERR_ARG, "%s: %s", who, !opt ? "optimizer is NULL" : "pattern is NULL or empty");
        return -1;
    }
    unsigned uses = opt->rule->group_options;
    const char *foreign = !(uses & OPTIM_USES_MOMENTUM) && overrides.momentum.set    ? "momentum"
                          : !(uses & OPTIM_USES_MOMENTUM) && overrides.dampening.set ? "dampening"
                          : !(uses & OPTIM_USES_BETAS) && overrides.beta1.set        ? "beta1"
                          : !(uses & OPTIM_USES_BETAS) && overrides.beta2.set        ? "beta2"
                          : !(uses & OPTIM_USES_BETAS) && overrides.eps.set          ? "eps"
                                                                                     : NULL;
    if (foreign) {
        tg_set_error(TG_ERR_ARG, "%s: group '%s': %s is not an option of %s", who, pattern, foreign, opt->rule->name);
        return -1;
    }
    /* unset options inherit the default group's; the lr follows the schedule's current factor */
    const optim_group *g0 = &opt->groups[0];
    optim_group g = *g0;
    g.pattern = (char *)pattern; /* for messages until copied */
    resolve(&g.base_lr, overrides.lr);
    resolve(&g.weight_decay, overrides.weight_decay);
    resolve(&g.momentum, overrides.momentum);
    resolve(&g.dampening, overrides.dampening);
    resolve(&g.beta1, overrides.beta1);
    resolve(&g.beta2, overrides.beta2);
    resolve(&g.eps, overrides.eps);
    g.lr = g.base_lr * (g0->lr / g0->base_lr);
    if (optim_check_group(who, opt, &g)) return -1;
    g.alternatives = split_pattern(who, pattern);
    if (!g.alternatives) return -1;
    g.pattern = strdup(pattern);
    optim_group *groups = g.pattern ? realloc(opt->groups, sizeof *groups * (size_t)(opt->n_groups + 1)) : NULL;
    if (!groups) {
        free(g.alternatives);
        free(g.pattern);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
        return -1;
    }
    opt->groups = groups;
    groups[opt->n_groups++] = g;
    for (int i = 0; i < opt->n_slots; i++) /* the first matching group wins, as for later parameters */
        if (opt->slots[i].group >= 0)
            opt->slots[i].group = optim_group_for(opt, tg_params_at(opt->params, i)->name);
    return opt->n_groups - 1;
}

int tg_optim_group_count(const tg_optim *opt) { return opt ? opt->n_groups : 0; }

int tg_optim_group_of(const tg_optim *opt, const char *param_name) {
    int i = optim_param_index("tg_optim_group_of", opt, param_name);
    return i < 0 ? -1 : optim_group_for(opt, param_name);
}

/* ---- learning rates ---- */

static bool bad_group(const char *who, const tg_optim *opt, int group) {
    if (!opt) {
        tg_set_error(TG_ERR_ARG, "%s: optimizer is NULL", who);
        return true;
    }
    if (group < 0 || group >= opt->n_groups) {
        tg_set_error(TG_ERR_ARG, "%s: group %d does not exist (the optimizer has %d)", who, group, opt->n_groups);
        return true;
    }
    return false;
}

static tg_status check_lr(const char *who, double lr) {
    if (!(lr >= 0 && isfinite(lr))) return tg_set_error(TG_ERR_ARG, "%s: learning rate %g must be a finite number >= 0", who, lr);
    return TG_OK;
}

double tg_optim_lr(const tg_optim *opt) { return opt ? opt->groups[0].lr : 0.0; }

double tg_optim_group_lr(const tg_optim *opt, int group) {
    return bad_group("tg_optim_group_lr", opt, group) ? -1 : opt->groups[group].lr;
}

tg_status tg_optim_set_group_lr(tg_optim *opt, int group, double lr) {
    const char *who = "tg_optim_set_group_lr";
    if (bad_group(who, opt, group)) return TG_ERR_ARG;
    tg_status st = check_lr(who, lr);
    if (!st) opt->groups[group].lr = lr;
    return st;
}

tg_status tg_optim_set_lr(tg_optim *opt, double lr) {
    const char *who = "tg_optim_set_lr";
    if (!opt) return tg_set_error(TG_ERR_ARG, "%s: optimizer is NULL", who);
    tg_status st = check_lr(who, lr);
    if (st) return st;
    double factor = lr / opt->groups[0].base_lr;
    opt->groups[0].lr = lr;
    for (int g = 1; g < opt->n_groups; g++) opt->groups[g].lr = opt->groups[g].base_lr * factor;
    return TG_OK;
}
