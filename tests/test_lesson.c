#define _GNU_SOURCE /* open_memstream */
/* The lessons' registry: every lesson is listed once, in order, findable by
 * name; every option it offers points inside its options struct and its
 * default lies in the option's own range; the shared helpers wrap a reading
 * at 78 columns without breaking words, name pictures beside another, and
 * give a split, standardised built-in set. */
#include <stdlib.h>

#include "testing.h"

static void test_the_registry_lists_the_five_lessons_in_reading_order(void **state) {
    (void)state;
    const char *names[] = {"backprop", "lr", "gd", "l2", "bn"};
    assert_int_equal(tg_lesson_count(), 5);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(tg_lesson_at(i)->name, names[i]);
        assert_ptr_equal(tg_lesson_find(names[i]), tg_lesson_at(i));
    }
    assert_null(tg_lesson_at(5));
    assert_null(tg_lesson_at(-1));
    assert_null(tg_lesson_find("nope"));
    assert_null(tg_lesson_find(NULL));
}

static void test_every_option_is_inside_its_struct_and_its_default_in_range(void **state) {
    (void)state;
    for (int i = 0; i < tg_lesson_count(); i++) {
        const tg_lesson *l = tg_lesson_at(i);
        assert_non_null(l->title);
        assert_non_null(l->summary);
        void *opts = calloc(1, l->options_size);
        l->defaults(opts);
        bool seed = false;
        for (int k = 0; k < l->n_options; k++) {
            const tg_lesson_option *o = &l->options[k];
            assert_true(strncmp(o->name, "--", 2) == 0);
            assert_non_null(o->help);
            size_t size = o->kind == TG_LESSON_REAL ? sizeof(double) : sizeof(int64_t);
            assert_true(o->offset + size <= l->options_size);
            const char *field = (const char *)opts + o->offset;
            if (o->kind == TG_LESSON_SEED) {
                seed = true;
                assert_true(*(const uint64_t *)(const void *)field == 1);
            } else {
                double v = o->kind == TG_LESSON_INT ? (double)*(const int64_t *)(const void *)field
                                                    : *(const double *)(const void *)field;
                if (!(v >= o->min && v <= o->max)) fail_msg("%s %s: default %g outside [%g, %g]", l->name, o->name, v, o->min, o->max);
            }
            for (int j = 0; j < k; j++) assert_true(strcmp(l->options[j].name, o->name) != 0);
        }
        assert_true(seed); /* every lesson is deterministic for a seed the user can choose */
        free(opts);
    }
}

static void test_a_reading_is_wrapped_at_78_columns_between_words(void **state) {
    (void)state;
    tg_paragraph p = {.len = 0};
    for (int i = 0; i < 40; i++) tg_paragraph_add(&p, " word%d has%s", i, i % 7 ? "" : " a-rather-long-token");
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    tg_paragraph_print(out, &p);
    fclose(out);
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        assert_true(strlen(line) <= 78);
        assert_true(line[0] != ' ' && line[strlen(line) - 1] != ' ');
    }
    assert_true(lines > 5);
    free(text);
    /* a paragraph never overflows: later text is dropped */
    for (int i = 0; i < 1000; i++) tg_paragraph_add(&p, "more text ");
    assert_true(p.len < sizeof p.text);
    assert_int_equal(strlen(p.text), p.len);
}

static void test_picture_formats_are_checked_by_extension(void **state) {
    (void)state;
    const tg_lesson *bn = tg_lesson_find("bn"), *backprop = tg_lesson_find("backprop");
    assert_true(tg_lesson_picture_format_ok(bn, "out/bn.svg"));
    assert_true(tg_lesson_picture_format_ok(bn, "bn.png"));
    assert_false(tg_lesson_picture_format_ok(bn, "bn.dot"));
    assert_false(tg_lesson_picture_format_ok(bn, "bn.sv"));   /* a prefix of a format is not one */
    assert_false(tg_lesson_picture_format_ok(bn, "bn"));
    assert_false(tg_lesson_picture_format_ok(bn, "dir.svg/bn"));
    assert_true(tg_lesson_picture_format_ok(backprop, "graph.dot"));
    assert_false(tg_lesson_picture_format_ok(backprop, NULL));
}

static void test_sibling_pictures_are_named_beside_the_lessons_own(void **state) {
    (void)state;
    char out[64];
    assert_true(tg_lesson_sibling_path("docs/lessons/bn.svg", "graph-plain", out, sizeof out));
    assert_string_equal(out, "docs/lessons/bn-graph-plain.svg");
    assert_true(tg_lesson_sibling_path("dir.v2/bn", "graph", out, sizeof out));
    assert_string_equal(out, "dir.v2/bn-graph");
    assert_false(tg_lesson_sibling_path("docs/lessons/bn.svg", "a-very-long-suffix-that-does-not-fit-here", out, 40));
}

static void test_lesson_data_is_split_and_standardised_on_the_training_part(void **state) {
    (void)state;
    tg_dataset *train, *test;
    assert_int_equal(tg_lesson_data("spiral", 500, 0.2, 7, &train, &test), TG_OK);
    assert_int_equal(tg_dataset_len(train), 400);
    assert_int_equal(tg_dataset_len(test), 100);
    double mean[2], std[2], test_mean[2], test_std[2];
    assert_int_equal(tg_dataset_get_standardization(train, mean, std), TG_OK);
    assert_int_equal(tg_dataset_get_standardization(test, test_mean, test_std), TG_OK);
    for (int j = 0; j < 2; j++) {
        assert_near(test_mean[j], mean[j], 0);
        assert_near(test_std[j], std[j], 0);
    }
    tg_dataset_free(train);
    tg_dataset_free(test);
    assert_int_equal(tg_lesson_data("nope", 500, 0.2, 7, &train, &test), TG_ERR_ARG);
    assert_null(train);
    assert_null(test);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_registry_lists_the_five_lessons_in_reading_order),
        cmocka_unit_test(test_every_option_is_inside_its_struct_and_its_default_in_range),
        cmocka_unit_test(test_a_reading_is_wrapped_at_78_columns_between_words),
        cmocka_unit_test(test_picture_formats_are_checked_by_extension),
        cmocka_unit_test(test_sibling_pictures_are_named_beside_the_lessons_own),
        cmocka_unit_test(test_lesson_data_is_split_and_standardised_on_the_training_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
