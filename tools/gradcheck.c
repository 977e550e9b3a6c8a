/* tg gradcheck: first- and second-order gradient checks of every registered
 * op (or of the ones named with --op), printed as a table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"
#include "tools/commands.h"
#include "tools/options.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: tg gradcheck [--op NAME] [--dtype f64|f32] [--seed S] [--fast] [--list]\n\n"
            "Checks every registered op's backward rule against central differences\n"
            "(tg_gradcheck) and its second-order gradient (tg_gradgradcheck), on inputs\n"
            "drawn by the op's sampler, and prints the largest absolute and relative\n"
            "errors. Exits 1 if any check fails.\n\n"
            "  --op NAME     only this entry (\"sum(axes=0,-1,keepdim)\") or every entry\n"
            "                of a function (\"sum\" or \"tg_sum\"); may be repeated\n"
            "  --dtype f32   check in f32 with looser tolerances (default f64:\n"
            "                eps 1e-6, atol 1e-5, rtol 1e-3, like PyTorch)\n"
            "  --seed S      seed for the sampled inputs and projections (default 0)\n"
            "  --fast        compare random projections u^T J v instead of every element\n"
            "  --list        list the registered entries and exit\n");
}

/* `name` selects spec: its entry name, or its function with or without "tg_" */
static bool selects(const tg_op_spec *spec, const char *name) {
    if (strcmp(spec->name, name) == 0 || strcmp(spec->function, name) == 0) return true;
    return strncmp(spec->function, "tg_", 3) == 0 && strcmp(spec->function + 3, name) == 0;
}

static void print_row(const tg_op_spec *spec, const tg_spec_check *r) {
    printf("%-34s %-32s %9.2e %9.2e %-4s %9.2e %9.2e %-4s\n", spec->name, r->inputs, r->first.max_abs_error,
           r->first.max_rel_error, r->first.passed ? "ok" : "FAIL", r->second.max_abs_error,
           r->second.max_rel_error, r->second.passed ? "ok" : "FAIL");
    if (!r->first.passed) printf("    1st order: %s\n", r->first.message);
    if (!r->second.passed) printf("    2nd order: %s\n", r->second.message);
}

int tg_cmd_gradcheck(int argc, char **argv) {
    const char *names[64];
    int n_names = 0;
    tg_gradcheck_opts opts = {.quiet = true};
    tg_dtype dtype = TG_F64;
    bool list = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (tg_flag(argv[i], "--help") || tg_flag(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if ((v = tg_option(argc, argv, &i, "--op"))) {
            if (n_names == 64) {
                fprintf(stderr, "tg gradcheck: at most 64 --op options\n");
                return 2;
            }
            names[n_names++] = v;
        } else if ((v = tg_option(argc, argv, &i, "--dtype"))) {
            if (strcmp(v, "f64") == 0) {
                dtype = TG_F64;
            } else if (strcmp(v, "f32") == 0) {
                dtype = TG_F32;
            } else {
                fprintf(stderr, "tg gradcheck: --dtype is f64 or f32, not '%s'\n", v);
                return 2;
            }
        } else if ((v = tg_option(argc, argv, &i, "--seed"))) {
            if (!tg_parse_seed("tg gradcheck", "--seed", v, &opts.seed)) return 2;
        } else if (tg_flag(argv[i], "--fast")) {
            opts.fast_mode = true;
        } else if (tg_flag(argv[i], "--list")) {
            list = true;
        } else {
            fprintf(stderr, "tg gradcheck: unknown option '%s' (or its value is missing)\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (list) {
        for (int k = 0; k < tg_registry_count(); k++)
            printf("%-34s %s\n", tg_registry_at(k)->name, tg_registry_at(k)->function);
        return 0;
    }
    for (int j = 0; j < n_names; j++) {
        bool found = false;
        for (int k = 0; k < tg_registry_count() && !found; k++) found = selects(tg_registry_at(k), names[j]);
        if (!found) {
            fprintf(stderr, "tg gradcheck: no registered op '%s' ('tg gradcheck --list' lists them)\n", names[j]);
            return 2;
        }
    }

    printf("%-34s %-32s %9s %9s %-4s %9s %9s %-4s\n", "op", "inputs", "abs err", "rel err", "1st", "abs err",
           "rel err", "2nd");
    int checked = 0, failed = 0;
    for (int k = 0; k < tg_registry_count(); k++) {
        const tg_op_spec *spec = tg_registry_at(k);
        bool chosen = n_names == 0;
        for (int j = 0; j < n_names && !chosen; j++) chosen = selects(spec, names[j]);
        if (!chosen) continue;
        tg_spec_check result;
        tg_status st = tg_gradcheck_spec(spec, dtype, &opts, &result);
        checked++;
        if (st && st != TG_ERR_CHECK) {
            printf("%-34s error: %s\n", spec->name, tg_last_error());
            failed++;
            continue;
        }
        print_row(spec, &result);
        failed += st != TG_OK;
    }
    printf("\n%d %s checked in %s (%s, first and second order): ", checked, checked == 1 ? "entry" : "entries",
           tg_dtype_name(dtype), opts.fast_mode ? "fast mode" : "every Jacobian element");
    if (failed)
        printf("%d FAILED\n", failed);
    else
        printf("all passed\n");
    if (dtype == TG_F32)
        printf("note: f32 checks use eps 1e-3, atol 1e-2, rtol 1e-2; use f64 for a reliable verdict\n");
    return failed ? 1 : 0;
}
