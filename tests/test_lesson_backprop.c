/* Lesson "backprop": the values, local derivatives and gradients it prints
 * are those of the network written out by hand here; each node's gradient is
 * the sum of what its users pass on; central differences agree. */
#include "lesson_testing.h"

#include <stdlib.h>

enum { W11, W12, B1, W21, W22, B2, V1, V2, C };

static double node_value(const tg_lesson_backprop_result *r, const char *name) {
    for (int i = 0; i < r->n_nodes; i++)
        if (strcmp(r->nodes[i].name, name) == 0) return r->nodes[i].value;
    fail_msg("no node %s", name);
    return NAN;
}

static const tg_backprop_node *node(const tg_lesson_backprop_result *r, const char *name) {
    for (int i = 0; i < r->n_nodes; i++)
        if (strcmp(r->nodes[i].name, name) == 0) return &r->nodes[i];
    fail_msg("no node %s", name);
    return NULL;
}

/* dL/dp by the chain rule written out: e = y_hat - y, g_j = e v_j (1 - h_j^2) */
static void test_values_and_gradients_are_the_network_worked_by_hand(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        tg_lesson_backprop_opts o = tg_lesson_backprop_defaults();
        o.seed = seed;
        o.target = 0.5 * (double)seed;
        tg_lesson_backprop_result r;
        assert_int_equal(tg_lesson_backprop_run(&o, &r), TG_OK);
        double p[9], x1 = r.x[0], x2 = r.x[1];
        for (int k = 0; k < 9; k++) p[k] = r.params[k].value;
        assert_true(fabs(x1) <= 1 && fabs(x2) <= 1 && x1 == round(10 * x1) / 10); /* tenths */
        double h1 = tanh(p[W11] * x1 + p[W12] * x2 + p[B1]), h2 = tanh(p[W21] * x1 + p[W22] * x2 + p[B2]);
        double y_hat = p[V1] * h1 + p[V2] * h2 + p[C], e = y_hat - o.target;
        assert_near(node_value(&r, "h1"), h1, 1e-15);
        assert_near(node_value(&r, "h2"), h2, 1e-15);
        assert_near(node_value(&r, "y_hat"), y_hat, 1e-15);
        assert_near(r.loss, 0.5 * e * e, 1e-15);
        double g1 = e * p[V1] * (1 - h1 * h1), g2 = e * p[V2] * (1 - h2 * h2);
        const double by_hand[9] = {g1 * x1, g1 * x2, g1, g2 * x1, g2 * x2, g2, e * h1, e * h2, e};
        for (int k = 0; k < 9; k++) assert_near(r.params[k].grad, by_hand[k], 1e-14);
        /* every intermediate's gradient too */
        assert_near(node(&r, "L")->grad, 1, 0);
        assert_near(node(&r, "e")->grad, e, 1e-15);
        assert_near(node(&r, "h1")->grad, e * p[V1], 1e-15);
        assert_near(node(&r, "z2")->grad, g2, 1e-15);
        /* local derivatives: tanh' = 1 - h^2, a product's = the other factor, a sum's = 1, 2e, 0.5 */
        assert_near(node(&r, "h1")->local[0], 1 - h1 * h1, 1e-15);
        assert_near(node(&r, "o2")->local[0], h2, 1e-15);   /* d(v2 h2)/dv2 */
        assert_near(node(&r, "o2")->local[1], p[V2], 1e-15); /* d(v2 h2)/dh2 */
        assert_near(node(&r, "q")->local[1], 1, 0);
        assert_near(node(&r, "e")->local[0], 1, 0);
        assert_near(node(&r, "e2")->local[0], 2 * e, 1e-15);
        assert_near(node(&r, "L")->local[0], 0.5, 0);
        assert_true(isnan(node(&r, "m11")->local[1])); /* x1 needs no gradient */
        assert_true(isnan(node(&r, "e")->local[1]));   /* nor does y */
    }
}

static void test_the_tape_order_and_names_are_those_of_the_forward_pass(void **state) {
    (void)state;
    tg_lesson_backprop_opts o = tg_lesson_backprop_defaults();
    tg_lesson_backprop_result r;
    assert_int_equal(tg_lesson_backprop_run(&o, &r), TG_OK);
    const char *names[] = {"m11", "m12", "s1", "z1", "h1", "m21", "m22", "s2", "z2",
                           "h2",  "o1",  "o2", "q",  "y_hat", "e", "e2", "L"};
    const char *ops[] = {"mul", "mul", "add", "add", "tanh", "mul", "mul", "add", "add",
                         "tanh", "mul", "mul", "add", "add", "sub", "square", "mul_scalar"};
    assert_int_equal(r.n_nodes, 17);
    for (int i = 0; i < 17; i++) {
        assert_string_equal(r.nodes[i].name, names[i]);
        assert_string_equal(r.nodes[i].op, ops[i]);
    }
    assert_string_equal(r.nodes[3].inputs[1], "b1"); /* parameters by their store names */
    assert_string_equal(r.nodes[0].inputs[1], "x1");
}

static void test_the_chain_rule_and_central_differences_agree_for_seeds_1_to_5(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        tg_lesson_backprop_opts o = tg_lesson_backprop_defaults();
        o.seed = seed;
        tg_lesson_backprop_result r;
        assert_int_equal(tg_lesson_backprop_run(&o, &r), TG_OK);
        assert_true(r.chain_rule_error < 1e-15);
        assert_true(r.max_abs_error < 1e-8);
        assert_true(r.gradcheck_passed);
        for (int k = 0; k < 9; k++) assert_near(r.params[k].numerical, r.params[k].grad, 1e-8);
    }
}

static void test_lesson_prints_both_passes_and_the_check(void **state) {
    (void)state;
    char *text = lesson_output("backprop", NULL);
    assert_non_null(strstr(text, "forward:"));
    assert_non_null(strstr(text, "backward:"));
    assert_non_null(strstr(text, "mul_scalar"));
    assert_non_null(strstr(text, "(constant)"));
    assert_non_null(strstr(text, "tg_gradcheck over all nine parameters at once: passed"));
    assert_non_null(strstr(text, "So dL/dw11 = e v1 (1 - h1^2) x1 ="));
    free(text);
}

static void test_a_non_finite_target_is_refused(void **state) {
    (void)state;
    tg_lesson_backprop_opts o = tg_lesson_backprop_defaults();
    o.target = NAN;
    tg_lesson_backprop_result r;
    assert_int_equal(tg_lesson_backprop_run(&o, &r), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "target");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_gradients_are_the_network_worked_by_hand),
        cmocka_unit_test(test_the_tape_order_and_names_are_those_of_the_forward_pass),
        cmocka_unit_test(test_the_chain_rule_and_central_differences_agree_for_seeds_1_to_5),
        cmocka_unit_test(test_lesson_prints_both_passes_and_the_check),
        cmocka_unit_test(test_a_non_finite_target_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
