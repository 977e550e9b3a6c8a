/* Op attributes in the drawing: the describe text under the op name and in
 * the node's id, so models that differ only in an attribute draw
 * differently, and the labels still lay out without a Graphviz warning. */
#include "dot_testing.h"

/* ---- models that differ only in one attribute of one op ----
 *   x [3,3] (input) -> op(x; variant 0 or 1) -> sum */
typedef tg_tensor *(*variant_fn)(tg_tape *t, tg_tensor *x, int variant);

static tg_tensor *leaky_slope(tg_tape *t, tg_tensor *x, int v) { return tg_leaky_relu(t, x, v ? 0.2 : 0.1); }
static tg_tensor *slice_range(tg_tape *t, tg_tensor *x, int v) { return tg_slice(t, x, 1, v, v + 2); }
static tg_tensor *sum_axis(tg_tape *t, tg_tensor *x, int v) { return tg_sum(t, x, (const int[]){v}, 1, false); }
static tg_tensor *gather_labels(tg_tape *t, tg_tensor *x, int v) {
    int64_t *labels = malloc(3 * sizeof *labels); /* a fresh address on every call */
    for (int i = 0; i < 3; i++) labels[i] = v ? (i + 1) % 3 : 2 - i;
    tg_tensor *y = tg_gather(t, x, 1, SHAPE(3, 1), labels);
    free(labels);
    return y;
}

/* x as one 3x3 image, convolved with a 2x2 kernel of ones or max-pooled 2x2 */
static tg_tensor *image_of(tg_tape *t, tg_tensor *x) { return tg_reshape(t, x, 4, (const int64_t[]){1, 1, 3, 3}); }
static tg_tensor *conv_padding(tg_tape *t, tg_tensor *x, int v) {
    return tg_conv2d(t, image_of(t, x), tg_ones(t, TG_F64, SHAPE(1, 1, 2, 2)), NULL,
                     (tg_conv2d_opts){.padding = {v, v}});
}
static tg_tensor *pool_stride(tg_tape *t, tg_tensor *x, int v) {
    return tg_max_pool2d(t, image_of(t, x), (tg_pool2d_opts){.kernel = {2, 2}, .stride = {v + 1, v + 1}});
}

static char *variant_dot(variant_fn op, int variant) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = T64(t, SHAPE(3, 3), 1, -2, 3, -4, 5, -6, 7, -8, 9);
    tg_requires_grad(x);
    tg_tensor *loss = tg_sum(t, op(t, x, variant), NULL, 0, false);
    assert_non_null(loss);
    char *text = dot_of(t, loss, NULL);
    tg_tape_free(t);
    return text;
}

static void test_models_differing_only_in_an_attribute_export_differently(void **state) {
    (void)state;
    const struct {
        variant_fn op;
        const char *label[2]; /* the op's label in variant 0 and 1 (DOT text) */
    } cases[] = {
        {leaky_slope, {"[label=\"leaky_relu\\nslope=0.1\\nf64[3,3]\"", "[label=\"leaky_relu\\nslope=0.2\\nf64[3,3]\""}},
        {slice_range, {"[label=\"slice\\naxis=1 0:2\\nf64[3,2]\"", "[label=\"slice\\naxis=1 1:3\\nf64[3,2]\""}},
        {sum_axis, {"[label=\"sum\\naxis=0\\nf64[3]\"", "[label=\"sum\\naxis=1\\nf64[3]\""}},
        {gather_labels, {"[label=\"gather\\naxis=1 index[3]#", "[label=\"gather\\naxis=1 index[3]#"}},
        {conv_padding,
         {"[label=\"conv2d\\nkernel=2x2 stride=1 pad=0\\nf64[1,1,2,2]\"",
          "[label=\"conv2d\\nkernel=2x2 stride=1 pad=1\\nf64[1,1,4,4]\""}},
        {pool_stride,
         {"[label=\"max_pool2d\\nkernel=2x2 stride=1 pad=0\\nf64[1,1,2,2]\"",
          "[label=\"max_pool2d\\nkernel=2x2 stride=2 pad=0\\nf64[1,1,1,1]\""}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *text[2] = {variant_dot(cases[k].op, 0), variant_dot(cases[k].op, 1)};
        char op_line[2][512], input_line[2][512];
        assert_string_not_equal(text[0], text[1]);
        for (int v = 0; v < 2; v++) {
            line_with(text[v], cases[k].label[v], op_line[v], sizeof op_line[v]);
            line_with(text[v], "[label=\"input", input_line[v], sizeof input_line[v]);
            /* the same model twice: byte-identical, index arrays at other addresses included */
            char *again = variant_dot(cases[k].op, v);
            assert_string_equal(again, text[v]);
            free(again);
        }
        assert_string_not_equal(op_line[0], op_line[1]); /* its label and its id */
        assert_string_equal(input_line[0], input_line[1]); /* what does not differ stays */
        free(text[0]);
        free(text[1]);
    }
}

#ifdef TG_HAVE_GRAPHVIZ
/* Ops with attributes in scopes, after a create_graph backward pass:
 *   x [4,3] (input), W [3,5] (parameter)
 *   features: h = clamp(leaky_relu(x @ W, 0.1), -0.5, 0.7) [4,5]
 *             j = concat(slice(h, 1, 1:4), pad(slice(h, 1, 0:1), 1, 0, 1)) [4,5]
 *             k = permute(index_select(j, 0, {3,1,2,0}), {1,0}) [5,4]
 *   loss = cross_entropy(k^T, labels) + mean(logsumexp(h, 1)) + max(h) * 0.5 */
static tg_tensor *attribute_model(tg_tape *t, tg_params *p) {
    tg_tensor *x = T64(t, SHAPE(4, 3), 0.5, -1, 2, 1.5, 0.25, -0.75, -2, 1, 0.5, 0.3, -0.6, 0.9);
    tg_tensor *W = tg_param(p, "W", TG_F64, SHAPE(3, 5), TG_INIT_ONES, NULL);
    tg_requires_grad(x);
    tg_tape_push_scope(t, "features");
    tg_tensor *h = tg_clamp(t, tg_leaky_relu(t, tg_matmul(t, x, W), 0.1), -0.5, 0.7);
    tg_tensor *parts[2] = {tg_slice(t, h, 1, 1, 4), tg_pad(t, tg_slice(t, h, 1, 0, 1), 1, 0, 1)};
    tg_tensor *j = tg_concat(t, 2, parts, 1);
    tg_tensor *k = tg_permute(t, tg_index_select(t, j, 0, 4, (const int64_t[]){3, 1, 2, 0}), (const int[]){1, 0});
    tg_tape_pop_scope(t);
    tg_tensor *ce = tg_cross_entropy(t, tg_transpose(t, k, 0, 1), 4, (const int64_t[]){0, 4, 2, 1});
    tg_tensor *lse = tg_mean(t, tg_logsumexp(t, h, (const int[]){1}, 1, false), NULL, 0, false);
    tg_tensor *loss = tg_add(t, tg_add(t, ce, lse), tg_mul_scalar(t, tg_max(t, h, NULL, 0, false), 0.5));
    assert_non_null(loss);
    assert_int_equal(tg_backward(t, loss, &(tg_backward_opts){.create_graph = true}), TG_OK);
    return loss;
}

static void test_attribute_labels_render_without_warnings_with_every_option(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *loss = attribute_model(t, p);
    char *text = dot_of(t, loss, NULL);
    Agraph_t *g = parse(text);
    assert_string_equal(attr(node_labelled(g, "clamp\\n"), "label"), "clamp\\n[-0.5, 0.7]\\nf64[4,5]");
    assert_non_null(node_labelled(g, "permute\\nperm=1,0\\nf64[5,4]"));
    assert_non_null(node_labelled(g, "gather\\naxis=1 index[4]#"));
    assert_string_equal(attr(node_labelled(g, "pad\\n"), "label"), "pad\\naxis=1 before=0 after=1\\nf64[4,2]");
    agclose(g);
    free(text);
    for (int combination = 0; combination < 16; combination++) {
        tg_dot_opts opts = {.collapse_scopes = combination & 1,
                            .show_grads = combination & 2,
                            .show_backward = combination & 4,
                            .direction = combination & 8 ? TG_DOT_LR : TG_DOT_TB};
        text = dot_of(t, combination & 1 ? NULL : loss, &opts);
        assert_renders_without_warnings(text);
        free(text);
    }
    tg_tape_free(t);
    tg_params_free(p);
}
#else
static void test_attribute_labels_render_without_warnings_with_every_option(void **state) {
    (void)state;
    skip(); /* built without Graphviz: nothing can read the text back */
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_differing_only_in_an_attribute_export_differently),
        cmocka_unit_test(test_attribute_labels_render_without_warnings_with_every_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
