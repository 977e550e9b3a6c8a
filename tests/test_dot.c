/* DOT export and Graphviz rendering: the text is read back with Graphviz's
 * own parser (cgraph) and its nodes, edges, clusters and attributes counted. */
#include "dot_testing.h"

/* ---- a small model ----
 *   x [2,3] (input), W [3,2] (parameter, ones)
 *   block:        h = x @ W
 *   block/inner:  y = relu(h)
 *   loss = sum(y)
 * dL/dW[k,j] = sum_i x[i,k] = [5,7,9] per column: |dL/dW| = sqrt(2 (25+49+81)) = 17.607;
 * dL/dx = 2 everywhere: |dL/dx| = sqrt(24) = 4.899. */
typedef struct {
    tg_params *p;
    tg_tape *t;
    tg_tensor *x, *W, *h, *loss;
} model;

static void small_model(model *m, const char *weight_name, bool mean_instead_of_sum) {
    m->p = tg_params_new();
    m->t = tg_tape_new();
    m->W = tg_param(m->p, weight_name, TG_F64, SHAPE(3, 2), TG_INIT_ONES, NULL);
    m->x = T64(m->t, SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    assert_int_equal(tg_requires_grad(m->x), TG_OK);
    tg_tape_push_scope(m->t, "block");
    m->h = tg_matmul(m->t, m->x, m->W);
    tg_tape_push_scope(m->t, "inner");
    tg_tensor *y = tg_relu(m->t, m->h);
    tg_tape_pop_scope(m->t);
    tg_tape_pop_scope(m->t);
    m->loss = mean_instead_of_sum ? tg_mean(m->t, y, NULL, 0, false) : tg_sum(m->t, y, NULL, 0, false);
    assert_non_null(m->loss);
}

static void model_free(model *m) {
    tg_tape_free(m->t);
    tg_params_free(m->p);
}

static void test_dot_write_rejects_null_arguments(void **state) {
    (void)state;
    model m;
    small_model(&m, "W", false);
    assert_int_equal(tg_dot_write(NULL, NULL, stdout, NULL), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "tg_dot_write");
    assert_int_equal(tg_dot_write(m.t, NULL, NULL, NULL), TG_ERR_ARG);
    tg_tape *other = tg_tape_new();
    tg_tensor *foreign = tg_scalar(other, TG_F64, 1.0);
    assert_int_equal(tg_dot_write(m.t, foreign, stdout, NULL), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "another tape");
    tg_tape_free(other);
    model_free(&m);
}

static void test_two_exports_of_the_same_model_are_byte_identical(void **state) {
    (void)state;
    model a, b;
    small_model(&a, "W", false);
    small_model(&b, "W", false);
    tg_dot_opts opts = {.title = "same"};
    char *ta = dot_of(a.t, a.loss, &opts), *tb = dot_of(b.t, b.loss, &opts);
    assert_string_equal(ta, tb);
    /* ids are hashes, never addresses: no pointer-like text */
    assert_null(strstr(ta, "0x"));
    free(ta);
    free(tb);
    model_free(&a);
    model_free(&b);
}

/* gather (inside cross_entropy) keeps an arena pointer in its attributes:
 * two tapes, two addresses, one drawing */
static void test_ops_with_pointers_in_their_attributes_still_export_identically(void **state) {
    (void)state;
    char *text[2];
    for (int k = 0; k < 2; k++) {
        tg_tape *t = tg_tape_new();
        tg_tensor *logits = T64(t, SHAPE(2, 3), 1, 2, 3, 3, 2, 1);
        tg_requires_grad(logits);
        tg_tensor *loss = tg_cross_entropy(t, logits, 2, (const int64_t[]){0, 2});
        assert_non_null(loss);
        text[k] = dot_of(t, loss, NULL);
        assert_non_null(strstr(text[k], "gather"));
        tg_tape_free(t);
    }
    assert_string_equal(text[0], text[1]);
    free(text[0]);
    free(text[1]);
}

static void test_exports_differ_only_where_the_model_differs(void **state) {
    (void)state;
    model a, b;
    small_model(&a, "W", false);
    small_model(&b, "W", true); /* mean instead of sum at the end */
    char *ta = dot_of(a.t, a.loss, NULL), *tb = dot_of(b.t, b.loss, NULL);
    assert_string_not_equal(ta, tb);
    const char *same[] = {"[label=\"matmul", "[label=\"relu", "[label=\"W\\n", "[label=\"input"};
    for (size_t k = 0; k < sizeof same / sizeof same[0]; k++) {
        char la[512], lb[512];
        line_with(ta, same[k], la, sizeof la);
        line_with(tb, same[k], lb, sizeof lb);
        assert_string_equal(la, lb);
    }
    assert_null(strstr(ta, "[label=\"mean"));
    assert_non_null(strstr(tb, "[label=\"mean"));
    free(ta);
    free(tb);
    model_free(&a);
    model_free(&b);
}

static void test_render_to_a_dot_path_writes_the_dot_text(void **state) {
    (void)state;
    model m;
    small_model(&m, "W", false);
    const char *path = "test_dot_model.dot";
    assert_int_equal(tg_dot_render(m.t, m.loss, path, NULL), TG_OK);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char head[32] = {0};
    assert_true(fread(head, 1, 17, f) == 17);
    fclose(f);
    assert_string_equal(head, "digraph tapegrad ");
    remove(path);
    model_free(&m);
}

static void test_a_bad_extension_is_an_error(void **state) {
    (void)state;
    model m;
    small_model(&m, "W", false);
    assert_int_equal(tg_dot_render(m.t, m.loss, "test_dot_model.jpeg", NULL), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "test_dot_model.jpeg");
    assert_error_mentions(tg_last_error(), ".svg");
    assert_null(fopen("test_dot_model.jpeg", "rb"));
    assert_int_equal(tg_dot_render(m.t, m.loss, "no_extension", NULL), TG_ERR_ARG);
    assert_int_equal(tg_dot_render(m.t, m.loss, "dir.svg/model", NULL), TG_ERR_ARG);
    assert_int_equal(tg_dot_render(m.t, m.loss, NULL, NULL), TG_ERR_ARG);
    model_free(&m);
}

static void test_an_unwritable_path_is_an_error(void **state) {
    (void)state;
    model m;
    small_model(&m, "W", false);
    assert_int_equal(tg_dot_render(m.t, m.loss, "no-such-directory/model.dot", NULL), TG_ERR_IO);
    assert_error_mentions(tg_last_error(), "no-such-directory/model.dot");
#ifdef TG_HAVE_GRAPHVIZ
    assert_int_equal(tg_dot_render(m.t, m.loss, "no-such-directory/model.svg", NULL), TG_ERR_IO);
    assert_error_mentions(tg_last_error(), "cannot write");
#endif
    model_free(&m);
}

static void test_without_graphviz_rendering_explains_the_dot_program(void **state) {
    (void)state;
#ifdef TG_HAVE_GRAPHVIZ
    skip();
#else
    model m;
    small_model(&m, "W", false);
    assert_int_equal(tg_dot_render(m.t, m.loss, "out/model.svg", NULL), TG_ERR_UNSUPPORTED);
    assert_error_mentions(tg_last_error(), "dot -Tsvg out/model.dot -o out/model.svg");
    model_free(&m);
#endif
}

#ifdef TG_HAVE_GRAPHVIZ

static void test_graphviz_reads_back_the_nodes_edges_and_nested_clusters(void **state) {
    (void)state;
    model m;
    small_model(&m, "W", false);
    char *text = dot_of(m.t, m.loss, NULL);
    Agraph_t *g = parse(text);
    assert_int_equal(agnnodes(g), 5); /* x, W, matmul, relu, sum */
    assert_int_equal(agnedges(g), 4); /* x->matmul, W->matmul, matmul->relu, relu->sum */
    assert_int_equal(count_clusters(g), 2);
    Agraph_t *block = agfstsubg(g);
    assert_non_null(block);
    assert_string_equal(attr(block, "label"), "block");
    assert_int_equal(agnnodes(block), 2); /* matmul, and relu through the inner cluster */
    Agraph_t *inner = agfstsubg(block);
    assert_non_null(inner);
    assert_string_equal(attr(inner, "label"), "inner");
    assert_int_equal(agnnodes(inner), 1);
    assert_string_equal(attr(agfstnode(inner), "label"), "relu\\nf64[2,2]");
    /* kinds look different; the root is doubled */
    assert_string_equal(attr(node_labelled(g, "input\\n"), "shape"), "ellipse");
    assert_string_equal(attr(node_labelled(g, "W\\n"), "style"), "filled,rounded");
    assert_string_equal(attr(node_labelled(g, "sum\\n"), "peripheries"), "2");
    assert_string_equal(attr(node_labelled(g, "matmul\\n"), "peripheries"), "");
    /* edges into matmul carry their input slot, the edge into relu none */
    Agnode_t *matmul = node_labelled(g, "matmul\\n");
    int slots = 0;
    for (Agedge_t *e = agfstin(g, matmul); e; e = agnxtin(g, e)) {
        const char *slot = attr(e, "headlabel");
        slots |= strcmp(slot, "0") == 0 ? 1 : strcmp(slot, "1") == 0 ? 2 : 4;
        assert_string_equal(agnameof(aghead(e)), agnameof(matmul));
    }
    assert_int_equal(slots, 3);
    assert_string_equal(attr(agfstin(g, node_labelled(g, "relu\\n")), "headlabel"), "");
    agclose(g);
    assert_renders_without_warnings(text);
    free(text);
    model_free(&m);
}

static void test_names_with_quotes_braces_and_angle_brackets_survive(void **state) {
    (void)state;
    const char *name = "w \"q\" {b} <a> [c] |d| back\\slash \\N\nline2 \xc3\xa9 bad\xff end\x01";
    const char *shown = "w \"q\" {b} <a> [c] |d| back\\slash \\N\nline2 \xc3\xa9 bad\xef\xbf\xbd end\\x01";
    const char *scope = "blk \"1\" {x} <y> & z";
    model m;
    small_model(&m, name, false);
    tg_tape_push_scope(m.t, scope);
    tg_tensor *named = tg_mul_scalar(m.t, m.loss, 2.0);
    tg_tape_pop_scope(m.t);
    assert_int_equal(tg_tensor_set_name(named, "<out> {\"}"), TG_OK);
    char *text = dot_of(m.t, NULL, &(tg_dot_opts){.title = "title \"with\" <html>"});
    Agraph_t *g = parse(text);
    char got[512], expected[512];
    shown_text(attr(node_labelled(g, "w \"q\" {b} <a>"), "label"), got, sizeof got);
    snprintf(expected, sizeof expected, "%s\nf64[3,2]", shown);
    assert_string_equal(got, expected);
    shown_text(attr(node_labelled(g, "mul_scalar"), "label"), got, sizeof got);
    assert_string_equal(got, "mul_scalar\ns=2\nf64[]\n<out> {\"}");
    int found_scope = 0;
    for (Agraph_t *s = agfstsubg(g); s; s = agnxtsubg(s)) found_scope += strcmp(attr(s, "label"), scope) == 0;
    assert_int_equal(found_scope, 1);
    shown_text(attr(g, "label"), got, sizeof got);
    assert_string_equal(got, "title \"with\" <html>");
    agclose(g);
    /* and Graphviz draws exactly those characters */
    char *svg = render_svg(text, true);
    assert_non_null(strstr(svg, "&lt;a&gt; [c] |d| back\\slash \\N"));
    assert_non_null(strstr(svg, "line2 \xc3\xa9 bad\xef\xbf\xbd end\\x01"));
    assert_non_null(strstr(svg, "blk &quot;1&quot; {x} &lt;y&gt; &amp; z"));
    free(svg);
    free(text);
    model_free(&m);
}

static void test_distinct_tensors_of_equal_structure_get_distinct_ids(void **state) {
    (void)state;
    tg_tape *t = tg_tape_new();
    tg_tensor *a = T64(t, SHAPE(2), 1, 2), *b = T64(t, SHAPE(2), 1, 2);
    tg_requires_grad(a);
    tg_requires_grad(b);
    /* twice the same op on the same inputs: equal hashes, told apart by tape order */
    tg_tensor *s1 = tg_add(t, a, b), *s2 = tg_add(t, a, b);
    tg_tensor *y = tg_mul(t, s1, s2);
    char *text = dot_of(t, y, NULL);
    Agraph_t *g = parse(text);
    assert_int_equal(agnnodes(g), 5);
    assert_int_equal(agnedges(g), 6);
    agclose(g);
    free(text);
    tg_tape_free(t);
}

static void test_collapse_draws_each_outermost_scope_as_one_node(void **state) {
    (void)state;
    model m;
    small_model(&m, "W", false);
    char *full = dot_of(m.t, m.loss, NULL), *collapsed = dot_of(m.t, m.loss, &(tg_dot_opts){.collapse_scopes = true});
    Agraph_t *gf = parse(full), *gc = parse(collapsed);
    assert_int_equal(agnnodes(gf), 5);
    assert_int_equal(agnnodes(gc), 4); /* x, W, block, sum */
    assert_int_equal(agnedges(gc), 3);
    assert_int_equal(count_clusters(gc), 0);
    assert_string_equal(attr(node_labelled(gc, "block\\n"), "label"), "block\\n2 ops\\nf64[2,2]");
    assert_string_equal(attr(node_labelled(gc, "block\\n"), "shape"), "box3d");
    agclose(gf);
    agclose(gc);
    assert_renders_without_warnings(collapsed);
    free(full);
    free(collapsed);
    model_free(&m);
}

static void test_show_grads_colours_and_widens_by_gradient_norm(void **state) {
    (void)state;
    model m;
    small_model(&m, "W", false);
    assert_int_equal(tg_backward(m.t, m.loss, NULL), TG_OK);
    char *plain = dot_of(m.t, m.loss, NULL), *heat = dot_of(m.t, m.loss, &(tg_dot_opts){.show_grads = true});
    Agraph_t *gp = parse(plain), *gh = parse(heat);
    Agnode_t *wp = node_labelled(gp, "W\\n"), *wh = node_labelled(gh, "W\\n");
    assert_string_equal(attr(agfstout(gp, wp), "penwidth"), "");
    /* |dL/dW| = 17.607: log10 = 1.2457, p = (1.2457 + 6) / 8 = 0.9057,
     * penwidth 1 + 4p = 4.6, hue 0.667 (1 - p) = 0.063 */
    assert_string_equal(attr(wh, "label"), "W\\nf64[3,2]\\ngrad 1.76e+01");
    assert_string_equal(attr(wh, "penwidth"), "4.6");
    assert_string_equal(attr(wh, "color"), "0.063 0.900 0.850");
    Agedge_t *e = agfstout(gh, wh);
    assert_string_equal(attr(e, "penwidth"), "4.6");
    assert_string_equal(attr(e, "color"), "0.063 0.900 0.850");
    assert_string_equal(attr(e, "xlabel"), "grad 1.76e+01");
    /* |dL/dx| = 4.899 */
    assert_string_equal(attr(node_labelled(gh, "input\\n"), "label"), "input\\nf64[2,3]\\ngrad 4.90e+00");
    agclose(gp);
    agclose(gh);
    assert_renders_without_warnings(heat);
    free(plain);
    free(heat);
    model_free(&m);
}

static void test_a_root_draws_only_what_reaches_it(void **state) {
    (void)state;
    model m;
    small_model(&m, "W", false);
    tg_tensor *other = tg_mean(m.t, m.h, NULL, 0, false); /* reaches x, W, matmul */
    char *all = dot_of(m.t, NULL, NULL), *part = dot_of(m.t, other, NULL);
    Agraph_t *ga = parse(all), *gp = parse(part);
    assert_int_equal(agnnodes(ga), 6);
    assert_int_equal(agnnodes(gp), 4);
    /* root NULL: every result nothing consumes is a root */
    assert_string_equal(attr(node_labelled(ga, "sum\\n"), "peripheries"), "2");
    assert_string_equal(attr(node_labelled(ga, "mean\\n"), "peripheries"), "2");
    agclose(ga);
    agclose(gp);
    free(all);
    free(part);
    model_free(&m);
}

static void test_the_backward_graph_is_drawn_only_on_request(void **state) {
    (void)state;
    model m;
    small_model(&m, "W", false);
    assert_int_equal(tg_backward(m.t, m.loss, &(tg_backward_opts){.create_graph = true}), TG_OK);
    char *hidden = dot_of(m.t, NULL, NULL), *shown = dot_of(m.t, NULL, &(tg_dot_opts){.show_backward = true});
    Agraph_t *gh = parse(hidden), *gs = parse(shown);
    assert_int_equal(agnnodes(gh), 5);
    assert_true(agnnodes(gs) > 5);
    int backward_clusters = 0;
    for (Agraph_t *s = agfstsubg(gs); s; s = agnxtsubg(s))
        backward_clusters += strcmp(attr(s, "label"), "backward (create_graph)") == 0;
    assert_int_equal(backward_clusters, 1);
    agclose(gh);
    agclose(gs);
    assert_renders_without_warnings(shown);
    char *collapsed = dot_of(m.t, NULL, &(tg_dot_opts){.show_backward = true, .collapse_scopes = true});
    assert_renders_without_warnings(collapsed);
    free(collapsed);
    free(hidden);
    free(shown);
    model_free(&m);
}

static void test_direction_and_kinds_of_leaves(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *buffer = tg_buffer(p, "running", TG_F64, SHAPE(2), TG_INIT_ONES, NULL);
    tg_tensor *w = tg_param(p, "w", TG_F64, SHAPE(2), TG_INIT_ONES, NULL);
    tg_tensor *c = T64(t, SHAPE(2), 3, 4);
    tg_tensor *y = tg_add(t, tg_mul(t, w, c), buffer);
    char *text = dot_of(t, y, &(tg_dot_opts){.direction = TG_DOT_LR});
    Agraph_t *g = parse(text);
    assert_string_equal(attr(g, "rankdir"), "LR");
    assert_string_equal(attr(node_labelled(g, "running\\n"), "style"), "filled,rounded,dashed");
    assert_string_equal(attr(node_labelled(g, "constant\\n"), "shape"), "note");
    agclose(g);
    free(text);
    tg_tape_free(t);
    tg_params_free(p);
}

static bool file_starts_with(const char *path, const void *prefix, size_t n) {
    unsigned char head[64] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t got = fread(head, 1, n, f);
    fclose(f);
    return got == n && memcmp(head, prefix, n) == 0;
}

static void test_rendering_to_svg_png_and_pdf_yields_valid_files(void **state) {
    (void)state;
    model m;
    small_model(&m, "W", false);
    assert_int_equal(tg_backward(m.t, m.loss, NULL), TG_OK);
    tg_dot_opts opts = {.show_grads = true, .title = "small"};
    assert_int_equal(tg_dot_render(m.t, m.loss, "test_dot_model.svg", &opts), TG_OK);
    FILE *f = fopen("test_dot_model.svg", "rb");
    assert_non_null(f);
    char svg[4096] = {0};
    assert_true(fread(svg, 1, sizeof svg - 1, f) > 0);
    fclose(f);
    assert_true(strncmp(svg, "<?xml", 5) == 0 || strstr(svg, "<svg"));
    assert_non_null(strstr(svg, "<svg"));
    assert_int_equal(tg_dot_render(m.t, m.loss, "test_dot_model.PNG", &opts), TG_OK);
    assert_true(file_starts_with("test_dot_model.PNG", "\x89PNG\r\n\x1a\n", 8));
    assert_int_equal(tg_dot_render(m.t, m.loss, "test_dot_model.pdf", &opts), TG_OK);
    assert_true(file_starts_with("test_dot_model.pdf", "%PDF", 4));
    remove("test_dot_model.svg");
    remove("test_dot_model.PNG");
    remove("test_dot_model.pdf");
    model_free(&m);
}
#else
/* Built without Graphviz: nothing can read the text back. */
#define NEEDS_GRAPHVIZ(name)         \
    static void name(void **state) { \
        (void)state;                 \
        skip();                      \
    }
NEEDS_GRAPHVIZ(test_graphviz_reads_back_the_nodes_edges_and_nested_clusters)
NEEDS_GRAPHVIZ(test_names_with_quotes_braces_and_angle_brackets_survive)
NEEDS_GRAPHVIZ(test_distinct_tensors_of_equal_structure_get_distinct_ids)
NEEDS_GRAPHVIZ(test_collapse_draws_each_outermost_scope_as_one_node)
NEEDS_GRAPHVIZ(test_show_grads_colours_and_widens_by_gradient_norm)
NEEDS_GRAPHVIZ(test_a_root_draws_only_what_reaches_it)
NEEDS_GRAPHVIZ(test_the_backward_graph_is_drawn_only_on_request)
NEEDS_GRAPHVIZ(test_direction_and_kinds_of_leaves)
NEEDS_GRAPHVIZ(test_rendering_to_svg_png_and_pdf_yields_valid_files)
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot_write_rejects_null_arguments),
        cmocka_unit_test(test_two_exports_of_the_same_model_are_byte_identical),
        cmocka_unit_test(test_ops_with_pointers_in_their_attributes_still_export_identically),
        cmocka_unit_test(test_exports_differ_only_where_the_model_differs),
        cmocka_unit_test(test_render_to_a_dot_path_writes_the_dot_text),
        cmocka_unit_test(test_a_bad_extension_is_an_error),
        cmocka_unit_test(test_an_unwritable_path_is_an_error),
        cmocka_unit_test(test_without_graphviz_rendering_explains_the_dot_program),
        cmocka_unit_test(test_graphviz_reads_back_the_nodes_edges_and_nested_clusters),
        cmocka_unit_test(test_names_with_quotes_braces_and_angle_brackets_survive),
        cmocka_unit_test(test_distinct_tensors_of_equal_structure_get_distinct_ids),
        cmocka_unit_test(test_collapse_draws_each_outermost_scope_as_one_node),
        cmocka_unit_test(test_show_grads_colours_and_widens_by_gradient_norm),
        cmocka_unit_test(test_a_root_draws_only_what_reaches_it),
        cmocka_unit_test(test_the_backward_graph_is_drawn_only_on_request),
        cmocka_unit_test(test_direction_and_kinds_of_leaves),
        cmocka_unit_test(test_rendering_to_svg_png_and_pdf_yields_valid_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
