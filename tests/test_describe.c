/* tg_op.describe: every op with attributes writes them as short, stable text
 * (the DOT exporter shows it and hashes it into node ids). */
#include <ctype.h>
#include <stdlib.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "testing.h"

/* Ops whose attributes the output's dtype and shape already show: no hook. */
static const char *const shown_by_the_shape[] = {"reshape", "cast", "sum_to", "broadcast_to"};

static bool listed(const char *name, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0) return true;
    return false;
}
#define LISTED(name, list) listed((name), (list), sizeof(list) / sizeof((list)[0]))

/* The description of the node that produced y ("" for none), in a static buffer. */
static const char *described(const tg_tensor *y) {
    static char text[256];
    assert_non_null(y);
    assert_non_null(y->node);
    text[0] = '\0';
    if (!y->node->op->describe) return text;
    int n = y->node->op->describe(y->node, text, sizeof text);
    assert_int_equal(n, (int)strlen(text));
    return text;
}

static tg_tensor *ramp(tg_tape *t, int ndim, const int64_t *shape) {
    tg_tensor *x = tg_tensor_empty(t, TG_F64, ndim, shape);
    assert_non_null(x);
    for (int64_t i = 0; i < x->numel; i++) tg_set(x, i, 0.25 * (double)i - 1.0);
    return x;
}

/* "index[n]#" and the low 32 bits of XXH3 over the values (little-endian int64) */
static void index_text(char *out, size_t size, int64_t n, const int64_t *values) {
    const uint16_t probe = 1;
    assert_true(*(const unsigned char *)&probe == 1); /* the array's bytes are little-endian here */
    uint64_t h = XXH3_64bits(values, sizeof(int64_t) * (size_t)n);
    snprintf(out, size, "index[%lld]#%08x", (long long)n, (unsigned)(h & 0xffffffffu));
}

static void test_scalar_and_unary_ops_describe_their_constants(void **state) {
    (void)state;
    tg_tensor *x = ramp(tape, SHAPE(2, 3));
    assert_string_equal(described(tg_add_scalar(tape, x, 0.75)), "s=0.75");
    assert_string_equal(described(tg_mul_scalar(tape, x, -1.5)), "s=-1.5");
    assert_string_equal(described(tg_pow_scalar(tape, tg_abs(tape, x), 2.5)), "s=2.5");
    assert_string_equal(described(tg_gt_scalar(tape, x, 1.1)), "s=1.1");
    assert_string_equal(described(tg_leaky_relu(tape, x, 0.1)), "slope=0.1");
    assert_string_equal(described(tg_clamp(tape, x, -0.5, 0.7)), "[-0.5, 0.7]");
    /* ops without attributes have no hook */
    assert_null(tg_relu(tape, x)->node->op->describe);
    assert_null(tg_add(tape, x, x)->node->op->describe);
}

static void test_numbers_are_the_shortest_text_that_reads_back_exactly(void **state) {
    (void)state;
    tg_tensor *x = ramp(tape, SHAPE(2));
    assert_string_equal(described(tg_mul_scalar(tape, x, 1e-5)), "s=1e-05");
    assert_string_equal(described(tg_mul_scalar(tape, x, 1.0 / 3.0)), "s=0.3333333333333333");
    assert_string_equal(described(tg_mul_scalar(tape, x, 0.100000000001)), "s=0.100000000001");
    assert_string_equal(described(tg_mul_scalar(tape, x, nextafter(0.1, 1.0))), "s=0.10000000000000002");
    assert_string_equal(described(tg_mul_scalar(tape, x, 123456789.0)), "s=123456789");
    assert_string_equal(described(tg_mul_scalar(tape, x, -0.0)), "s=-0");
    assert_string_equal(described(tg_mul_scalar(tape, x, INFINITY)), "s=inf");
    /* f32 tensors keep the double given */
    tg_tensor *x32 = T32(tape, SHAPE(2), 1, 2);
    assert_string_equal(described(tg_leaky_relu(tape, x32, 0.2)), "slope=0.2");
}

static void test_reductions_describe_their_axes_and_keepdim(void **state) {
    (void)state;
    tg_tensor *x = ramp(tape, SHAPE(2, 3, 4));
    assert_string_equal(described(tg_sum(tape, x, (const int[]){0, -1}, 2, true)), "axes=0,2 keepdim");
    assert_string_equal(described(tg_sum(tape, x, (const int[]){1}, 1, false)), "axis=1");
    assert_string_equal(described(tg_sum(tape, x, NULL, 0, false)), ""); /* every axis: the shape says it */
    assert_string_equal(described(tg_sum(tape, x, NULL, 0, true)), "keepdim");
    assert_string_equal(described(tg_mean(tape, x, (const int[]){-2}, 1, true)), "axis=1 keepdim");
    assert_string_equal(described(tg_max(tape, x, (const int[]){2, 0}, 2, false)), "axes=0,2");
    assert_string_equal(described(tg_min(tape, x, (const int[]){-1}, 1, true)), "axis=2 keepdim");
    assert_string_equal(described(tg_logsumexp(tape, x, (const int[]){1, 2}, 2, false)), "axes=1,2");
    assert_string_equal(described(tg_softmax(tape, x, -1)), "axis=2");
    assert_string_equal(described(tg_log_softmax(tape, x, 0)), "axis=0");
}

static void test_shape_ops_describe_axes_ranges_and_permutations(void **state) {
    (void)state;
    tg_tensor *x = ramp(tape, SHAPE(3, 5, 2));
    assert_string_equal(described(tg_permute(tape, x, (const int[]){2, 0, 1})), "perm=2,0,1");
    assert_string_equal(described(tg_transpose(tape, x, 0, -1)), "perm=2,1,0");
    assert_string_equal(described(tg_slice(tape, x, 1, 1, -1)), "axis=1 1:4"); /* normalised */
    assert_string_equal(described(tg_slice(tape, x, -1, -1, 2)), "axis=2 1:2");
    assert_string_equal(described(tg_pad(tape, x, 1, 2, 1)), "axis=1 before=2 after=1");
    assert_string_equal(described(tg_concat(tape, 2, (tg_tensor *[]){x, x}, -1)), "axis=2");
    /* the shape shows these */
    assert_null(tg_reshape(tape, x, SHAPE(6, 5))->node->op->describe);
    assert_null(tg_cast(tape, x, TG_F32)->node->op->describe);
}

static void test_index_ops_describe_a_hash_of_the_index_values(void **state) {
    (void)state;
    char expected[128], hash[64];
    const int64_t rows[4] = {4, 0, 2, 0}, picks[6] = {3, 0, 1, 1, 2, 0};
    tg_tensor *table = ramp(tape, SHAPE(5, 3)), *x = ramp(tape, SHAPE(3, 4));

    index_text(hash, sizeof hash, 4, rows);
    snprintf(expected, sizeof expected, "axis=0 %s", hash);
    assert_string_equal(described(tg_index_select(tape, table, 0, 4, rows)), expected);
    tg_tensor *four = ramp(tape, SHAPE(4, 3));
    assert_string_equal(described(tg_index_add(tape, four, 0, 5, 4, rows)), expected);

    index_text(hash, sizeof hash, 6, picks);
    snprintf(expected, sizeof expected, "axis=1 %s", hash);
    assert_string_equal(described(tg_gather(tape, x, 1, SHAPE(3, 2), picks)), expected);
    tg_tensor *src = ramp(tape, SHAPE(3, 2));
    assert_string_equal(described(tg_scatter_add(tape, src, 1, (const int64_t[]){3, 4}, picks)), expected);
}

static void test_index_descriptions_depend_on_the_values_not_the_address(void **state) {
    (void)state;
    char first[128], second[128];
    int64_t *heap = malloc(2 * sizeof *heap);
    heap[0] = 2, heap[1] = 0;
    tg_tensor *x = ramp(tape, SHAPE(3, 2));
    snprintf(first, sizeof first, "%s", described(tg_index_select(tape, x, 0, 2, (const int64_t[]){2, 0})));
    snprintf(second, sizeof second, "%s", described(tg_index_select(tape, x, 0, 2, heap)));
    assert_string_equal(first, second);
    heap[1] = 1;
    snprintf(second, sizeof second, "%s", described(tg_index_select(tape, x, 0, 2, heap)));
    assert_string_not_equal(first, second);
    free(heap);
}

static void test_describe_truncates_like_snprintf(void **state) {
    (void)state;
    tg_tensor *y = tg_clamp(tape, ramp(tape, SHAPE(2)), -0.5, 0.75);
    const tg_node *node = y->node;
    char small[6];
    memset(small, 'x', sizeof small);
    assert_int_equal(node->op->describe(node, small, sizeof small), 12); /* "[-0.5, 0.75]" */
    assert_string_equal(small, "[-0.5");
    assert_int_equal(node->op->describe(node, NULL, 0), 12);
    tg_tensor *g = tg_gather(tape, ramp(tape, SHAPE(2, 2)), 0, SHAPE(1, 2), (const int64_t[]){1, 0});
    assert_int_equal(g->node->op->describe(g->node, small, sizeof small), (int)strlen("axis=0 index[2]#12345678"));
    assert_string_equal(small, "axis=");
}

/* Every node recorded by every registry entry (sampler, forward, and a
 * create_graph backward) with attributes has a hook, unless the shape shows
 * them; the text is printable, short, and the same on a second run. */
static void test_every_registry_op_with_attributes_describes_them(void **state) {
    (void)state;
    int missing = 0, described_nodes = 0;
    for (int k = 0; k < tg_registry_count(); k++) {
        const tg_op_spec *spec = tg_registry_at(k);
        char texts[2][512][64];
        int64_t counts[2] = {0, 0};
        for (int run = 0; run < 2; run++) {
            tg_tape *t = tg_tape_new();
            tg_rng rng = tg_rng_new(7);
            tg_tensor *in[8] = {0};
            assert_int_equal(spec->sample(t, &rng, TG_F64, in), TG_OK);
            for (int i = 0; i < spec->n_inputs; i++)
                if (!(spec->constant_inputs & (1u << i))) tg_requires_grad(in[i]);
            tg_tensor *y = spec->apply(t, in);
            assert_non_null(y);
            tg_tensor *loss = tg_sum(t, y, NULL, 0, false);
            if (loss->requires_grad)
                assert_int_equal(tg_backward(t, loss, &(tg_backward_opts){.create_graph = true}), TG_OK);
            counts[run] = tg_tape_node_count(t);
            assert_true(counts[run] <= 512);
            for (int64_t i = 0; i < counts[run]; i++) {
                const tg_node *node = tg_tape_node(t, i);
                char *text = texts[run][i];
                text[0] = '\0';
                if (!node->op->describe) {
                    bool excused = LISTED(node->op->name, shown_by_the_shape);
                    if (node->attrs_size > 0 && !excused && run == 0) {
                        print_message("%s: op %s has attributes but no describe hook\n", spec->name,
                                      node->op->name);
                        missing++;
                    }
                    continue;
                }
                int n = node->op->describe(node, text, 64);
                assert_true(n >= 0 && n < 48); /* shown whole in a DOT label */
                assert_int_equal(n, (int)strlen(text));
                for (int c = 0; c < n; c++) assert_true(isprint((unsigned char)text[c]));
                described_nodes += run == 0;
            }
            tg_tape_free(t);
        }
        assert_int_equal(counts[0], counts[1]);
        for (int64_t i = 0; i < counts[0]; i++) assert_string_equal(texts[0][i], texts[1][i]);
    }
    assert_int_equal(missing, 0);
    assert_true(described_nodes > 50);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scalar_and_unary_ops_describe_their_constants, tape_setup,
                                        tape_teardown),
        cmocka_unit_test_setup_teardown(test_numbers_are_the_shortest_text_that_reads_back_exactly, tape_setup,
                                        tape_teardown),
        cmocka_unit_test_setup_teardown(test_reductions_describe_their_axes_and_keepdim, tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_shape_ops_describe_axes_ranges_and_permutations, tape_setup,
                                        tape_teardown),
        cmocka_unit_test_setup_teardown(test_index_ops_describe_a_hash_of_the_index_values, tape_setup,
                                        tape_teardown),
        cmocka_unit_test_setup_teardown(test_index_descriptions_depend_on_the_values_not_the_address, tape_setup,
                                        tape_teardown),
        cmocka_unit_test_setup_teardown(test_describe_truncates_like_snprintf, tape_setup, tape_teardown),
        cmocka_unit_test(test_every_registry_op_with_attributes_describes_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
