/* The op registry makes "every op has a gradient check" a fact:
 * - every entry passes tg_gradcheck and tg_gradgradcheck in f64 (full
 *   Jacobians, PyTorch's tolerances) on inputs drawn by its own sampler;
 * - every public op (`tg_tensor *tg_NAME(` in the ops/ headers of tapegrad.h) has an entry;
 * - every entry names a declared public function, and names are unique. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdlib.h>

#include "testing.h"

/* Public functions in ops/ headers that return a tensor but are not ops. */
static const char *const not_ops[] = {
    "tg_custom",         /* runs a user-defined op: checked by tests/test_custom_op.c on example ops */
    "tg_sample_uniform", /* sampler helpers for registry entries (ops/registry.h), not recorded ops */
    "tg_sample_signed",
    "tg_l2_penalty",     /* takes a tg_params store and forwards its trainable tensors to
                            tg_l2_penalty_of, which has the entry (a sampler cannot own a store) */
};

static bool is_exception(const char *name) {
    for (size_t i = 0; i < sizeof not_ops / sizeof not_ops[0]; i++)
        if (strcmp(name, not_ops[i]) == 0) return true;
    return false;
}

static bool in_registry(const char *function) {
    for (int k = 0; k < tg_registry_count(); k++)
        if (strcmp(tg_registry_at(k)->function, function) == 0) return true;
    return false;
}

/* Adds the public ops declared in one header, lines `tg_tensor *tg_NAME(` (any
 * spacing around the star), to names[n..max); returns the new count. */
static int ops_of_header(const char *path, char names[][64], int n, int max) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        const char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (strncmp(p, "tg_tensor", 9) != 0) continue;
        p += 9;
        while (*p == ' ') p++;
        if (*p++ != '*') continue;
        while (*p == ' ') p++;
        if (strncmp(p, "tg_", 3) != 0) continue;
        size_t k = 0;
        char name[64];
        while (k < sizeof name - 1 && (p[k] == '_' || isalnum((unsigned char)p[k]))) {
            name[k] = p[k];
            k++;
        }
        name[k] = '\0';
        const char *after = p + k;
        while (*after == ' ') after++;
        if (*after != '(') continue;
        assert_true(n < max);
        snprintf(names[n++], 64, "%s", name);
    }
    fclose(f);
    return n;
}

/* The public ops: those of every ops/ header that the umbrella header
 * tapegrad.h includes (private helpers such as ops/kernel.h are not public). */
static int declared_ops(char names[][64], int max) {
    FILE *umbrella = fopen(TG_SOURCE_DIR "/tapegrad.h", "r");
    assert_non_null(umbrella);
    int n = 0, headers = 0;
    char line[512], header[256];
    while (fgets(line, sizeof line, umbrella)) {
        if (sscanf(line, " #include \"ops/%255[^\"]\"", header) != 1) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/ops/%s", TG_SOURCE_DIR, header);
        n = ops_of_header(path, names, n, max);
        headers++;
    }
    fclose(umbrella);
    assert_true(headers >= 8);
    return n;
}

static void test_every_entry_passes_first_and_second_order_in_f64(void **state) {
    (void)state;
    tg_gradcheck_opts opts = {.seed = 2024, .quiet = true};
    int failed = 0;
    double worst_first = 0, worst_second = 0;
    const char *worst_first_name = "-", *worst_second_name = "-";
    for (int k = 0; k < tg_registry_count(); k++) {
        const tg_op_spec *spec = tg_registry_at(k);
        tg_spec_check r;
        tg_status st = tg_gradcheck_spec(spec, TG_F64, &opts, &r);
        if (st) {
            failed++;
            print_message("FAIL %-34s %s\n", spec->name, st == TG_ERR_CHECK ? "" : tg_last_error());
            if (st == TG_ERR_CHECK && !r.first.passed) print_message("     1st order: %s\n", r.first.message);
            if (st == TG_ERR_CHECK && !r.second.passed) print_message("     2nd order: %s\n", r.second.message);
            continue;
        }
        if (r.first.max_rel_error > worst_first) {
            worst_first = r.first.max_rel_error;
            worst_first_name = spec->name;
        }
        if (r.second.max_rel_error > worst_second) {
            worst_second = r.second.max_rel_error;
            worst_second_name = spec->name;
        }
    }
    print_message("%d registry entries checked in f64; worst rel error: first order %.2e (%s), "
                  "second order %.2e (%s)\n",
                  tg_registry_count(), worst_first, worst_first_name, worst_second, worst_second_name);
    assert_int_equal(failed, 0);
    assert_true(tg_registry_count() > 40);
}

static void test_every_public_op_is_in_the_registry(void **state) {
    (void)state;
    static char names[512][64];
    int n = declared_ops(names, 512);
    assert_true(n > 40); /* the parser sees the headers */
    int missing = 0;
    for (int i = 0; i < n; i++) {
        if (is_exception(names[i]) || in_registry(names[i])) continue;
        print_message("%s is declared in ops/ but has no registry entry (no spec with function \"%s\")\n", names[i],
                      names[i]);
        missing++;
    }
    assert_int_equal(missing, 0);
    /* the exceptions are real declarations, not stale names */
    for (size_t e = 0; e < sizeof not_ops / sizeof not_ops[0]; e++) {
        bool found = false;
        for (int i = 0; i < n && !found; i++) found = strcmp(names[i], not_ops[e]) == 0;
        if (!found) print_message("exception %s is not declared any more\n", not_ops[e]);
        assert_true(found);
    }
}

static void test_every_entry_names_a_declared_function(void **state) {
    (void)state;
    static char names[512][64];
    int n = declared_ops(names, 512);
    for (int k = 0; k < tg_registry_count(); k++) {
        const tg_op_spec *spec = tg_registry_at(k);
        bool found = false;
        for (int i = 0; i < n && !found; i++) found = strcmp(names[i], spec->function) == 0;
        if (!found) print_message("entry '%s' names %s, which no ops/ headers declares\n", spec->name, spec->function);
        assert_true(found);
        assert_non_null(spec->sample);
        assert_non_null(spec->apply);
    }
}

static void test_entry_names_are_unique_and_findable(void **state) {
    (void)state;
    for (int k = 0; k < tg_registry_count(); k++) {
        const tg_op_spec *spec = tg_registry_at(k);
        for (int j = 0; j < k; j++)
            if (strcmp(tg_registry_at(j)->name, spec->name) == 0) {
                print_message("registry name '%s' is used twice\n", spec->name);
                fail();
            }
        assert_ptr_equal(tg_registry_find(spec->name), spec);
    }
    assert_null(tg_registry_find("no such op"));
    assert_null(tg_registry_at(-1));
    assert_null(tg_registry_at(tg_registry_count()));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_entry_passes_first_and_second_order_in_f64),
        cmocka_unit_test(test_every_public_op_is_in_the_registry),
        cmocka_unit_test(test_every_entry_names_a_declared_function),
        cmocka_unit_test(test_entry_names_are_unique_and_findable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
