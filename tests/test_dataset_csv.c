/* CSV loader: files written here; every bad file is an error naming the
 * file, the line and column (1-based) and the text, and leaves nothing
 * allocated. */
#include "dataset_testing.h"

static void assert_labels(const tg_dataset *ds, int64_t n, const int64_t *expected) {
    assert_int_equal(tg_dataset_len(ds), n);
    for (int64_t i = 0; i < n; i++) assert_int_equal(tg_dataset_label(ds, i), expected[i]);
}

static void assert_features(const tg_dataset *ds, int64_t n, const double *expected) {
    const double *v = all_values(ds);
    for (int64_t i = 0; i < n; i++) assert_true(v[i] == expected[i]);
}

static void test_csv_header_and_target_by_name_give_features_and_labels(void **state) {
    (void)state;
    const char *path = write_text("iris.csv", "length,class,width\n1.5,0,2\n3,2,4.25\n-1,1,0\n");
    tg_dataset *ds = tg_dataset_csv(path, &(tg_csv_opts){.target_column = "class", .header = 1});
    assert_non_null(ds);
    assert_string_equal(tg_dataset_name(ds), "iris.csv");
    int64_t shape[TG_MAX_DIMS];
    assert_int_equal(tg_dataset_sample_shape(ds, shape), 1);
    assert_int_equal(shape[0], 2);
    assert_int_equal(tg_dataset_task(ds), TG_TASK_CLASSIFICATION);
    assert_int_equal(tg_dataset_classes(ds), 3);
    assert_labels(ds, 3, (int64_t[]){0, 2, 1});
    assert_features(ds, 6, (double[]){1.5, 2, 3, 4.25, -1, 0});
    tg_dataset_free(ds);
}

static void test_csv_defaults_detect_the_header_and_take_the_last_column(void **state) {
    (void)state;
    const char *with_header = write_text("h.csv", "a,b,y\n1,2,1\n3,4,0\n");
    const char *without = write_text("n.csv", "1,2,1\n3,4,0\n");
    tg_dataset *a = tg_dataset_csv(with_header, NULL), *b = tg_dataset_csv(without, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_labels(a, 2, (int64_t[]){1, 0});
    assert_labels(b, 2, (int64_t[]){1, 0});
    assert_features(a, 4, (double[]){1, 2, 3, 4});
    assert_features(b, 4, (double[]){1, 2, 3, 4});
    tg_dataset_free(a);
    tg_dataset_free(b);
    tg_csv_opts d = tg_csv_defaults();
    assert_int_equal(d.target_index, -1);
    assert_int_equal(d.header, -1);
    assert_int_equal(d.delimiter, ',');
}

static void test_csv_target_index_counts_from_the_end_when_negative(void **state) {
    (void)state;
    const char *path = write_text("idx.csv", "5,1,7\n6,0,8\n");
    tg_dataset *first = tg_dataset_csv(path, &(tg_csv_opts){.target_index = 0});
    tg_dataset *middle = tg_dataset_csv(path, &(tg_csv_opts){.target_index = -2});
    assert_labels(first, 2, (int64_t[]){5, 6});
    assert_features(first, 4, (double[]){1, 7, 0, 8});
    assert_labels(middle, 2, (int64_t[]){1, 0});
    assert_features(middle, 4, (double[]){5, 7, 6, 8});
    tg_dataset_free(first);
    tg_dataset_free(middle);
}

static void test_csv_regression_targets_are_floats(void **state) {
    (void)state;
    const char *path = write_text("r.csv", "x,y\n1,0.5\n2,-2.25\n");
    tg_dataset *ds = tg_dataset_csv(path, &(tg_csv_opts){.target_index = -1, .header = -1, .task = TG_TASK_REGRESSION});
    assert_non_null(ds);
    assert_int_equal(tg_dataset_task(ds), TG_TASK_REGRESSION);
    assert_int_equal(tg_dataset_classes(ds), 0);
    assert_int_equal(tg_dataset_targets(ds), 1);
    assert_int_equal(tg_dataset_label(ds, 0), -1);
    tg_batch b;
    assert_int_equal(tg_dataset_gather(tape, ds, TG_F64, 2, NULL, &b), TG_OK);
    assert_null(b.labels);
    assert_shape(b.targets, SHAPE(2, 1));
    ASSERT_VALUES(b.targets, 0, 0.5, -2.25);
    ASSERT_VALUES(b.x, 0, 1, 2);
    tg_dataset_free(ds);
}

static void test_csv_crlf_blank_lines_quotes_and_spaces_are_read(void **state) {
    (void)state;
    const char *path = write_text("messy.csv", "\r\n  \"a\" , \"b,c\" ,y\r\n\r\n \"1.5\" ,\t2 , 1\r\n"
                                               "   \r\n3,\"4\",0\r\n\r\n\n");
    tg_dataset *ds = tg_dataset_csv(path, &(tg_csv_opts){.target_column = "y", .header = -1});
    assert_non_null(ds);
    assert_labels(ds, 2, (int64_t[]){1, 0});
    assert_features(ds, 4, (double[]){1.5, 2, 3, 4});
    tg_dataset_free(ds);
    /* the quoted header name with a delimiter inside it is one column */
    ds = tg_dataset_csv(path, &(tg_csv_opts){.target_column = "b,c", .header = -1});
    assert_non_null(ds);
    assert_labels(ds, 2, (int64_t[]){2, 4});
    tg_dataset_free(ds);
    /* no newline at the end of the last row */
    ds = tg_dataset_csv(write_text("end.csv", "1,2\n3,4"), &(tg_csv_opts){.target_index = -1});
    assert_labels(ds, 2, (int64_t[]){2, 4});
    tg_dataset_free(ds);
}

static void test_csv_numbers_in_every_decimal_form_are_read(void **state) {
    (void)state;
    const char *path = write_text("forms.csv", "1e-3,-0,.5,+2,1.,2E+2,0\n");
    tg_dataset *ds = tg_dataset_csv(path, NULL);
    assert_non_null(ds);
    const double *v = all_values(ds);
    const double expected[6] = {1e-3, -0.0, 0.5, 2, 1, 200};
    for (int i = 0; i < 6; i++) assert_true(v[i] == expected[i]);
    tg_dataset_free(ds);
}

static void test_csv_non_numeric_cell_names_line_and_column(void **state) {
    (void)state;
    const char *path = write_text("bad.csv", "a,b,y\n1,2,0\n\n3,abc,1\n");
    ASSERT_LOAD_FAILS(tg_dataset_csv(path, NULL), "tg_dataset_csv", "bad.csv", "line 4, column 2 (b)",
                      "\"abc\" is not a number");
}

static void test_csv_rejects_cells_strtod_would_half_read(void **state) {
    (void)state;
    const char *cells[] = {"1.5x", "0x10", "nan", "inf", "-inf", "1e999", "1e", ".", "--1", "1 2", "\"\"", "1,5"};
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        char text[64], name[32], shown[32];
        snprintf(text, sizeof text, "1;2\n%s;0\n", cells[i]);
        snprintf(name, sizeof name, "cell%zu.csv", i);
        snprintf(shown, sizeof shown, "\"%s\" is not a number", strcmp(cells[i], "\"\"") ? cells[i] : "");
        ASSERT_LOAD_FAILS(tg_dataset_csv(write_text(name, text), &(tg_csv_opts){.target_index = -1, .delimiter = ';'}),
                          name, "line 2, column 1", shown);
    }
    ASSERT_LOAD_FAILS(tg_dataset_csv(write_text("empty-cell.csv", "1,2\n,0\n"), NULL), "line 2, column 1",
                      "\"\" is not a number");
}

static void test_csv_ragged_row_names_the_line_and_both_counts(void **state) {
    (void)state;
    const char *path = write_text("ragged.csv", "x,y,z\n1,2,0\n1,2\n");
    ASSERT_LOAD_FAILS(tg_dataset_csv(path, NULL), "ragged.csv", "line 3 has 2 columns, expected 3");
    ASSERT_LOAD_FAILS(tg_dataset_csv(write_text("long.csv", "1,2\n1,2,3,4\n"), NULL), "line 2 has 4 columns, expected 2");
}

static void test_csv_empty_file_or_header_only_is_an_error(void **state) {
    (void)state;
    ASSERT_LOAD_FAILS(tg_dataset_csv(write_text("empty.csv", ""), NULL), "empty.csv", "the file is empty");
    ASSERT_LOAD_FAILS(tg_dataset_csv(write_text("blank.csv", "\n \n\r\n"), NULL), "blank.csv", "the file is empty");
    ASSERT_LOAD_FAILS(tg_dataset_csv(write_text("header.csv", "\nx,y\n\n"), NULL), "header.csv",
                      "a header row (line 2) and no data rows");
}

static void test_csv_target_column_not_found_lists_the_header(void **state) {
    (void)state;
    const char *path = write_text("cols.csv", "x,y\n1,0\n");
    ASSERT_LOAD_FAILS(tg_dataset_csv(path, &(tg_csv_opts){.target_column = "label", .header = 1}), "cols.csv",
                      "target column \"label\" not found", "\"x\", \"y\"");
    ASSERT_LOAD_FAILS(tg_dataset_csv(write_text("nohead.csv", "1,0\n"), &(tg_csv_opts){.target_column = "y"}),
                      "target column \"y\" is named, but the file has no header row");
    ASSERT_LOAD_FAILS(tg_dataset_csv(path, &(tg_csv_opts){.target_index = 2, .header = 1}),
                      "target column index 2 is out of range for 2 columns");
    ASSERT_LOAD_FAILS(tg_dataset_csv(path, &(tg_csv_opts){.target_index = -3, .header = 1}),
                      "target column index -3 is out of range for 2 columns");
}

static void test_csv_label_out_of_range_or_not_integer_names_line_and_column(void **state) {
    (void)state;
    ASSERT_LOAD_FAILS(tg_dataset_csv(write_text("frac.csv", "x,y\n1,0\n2,2.5\n"), NULL), "frac.csv",
                      "line 3, column 2 (y): label \"2.5\" is not an integer");
    ASSERT_LOAD_FAILS(tg_dataset_csv(write_text("neg.csv", "1,0\n2,-1\n"), NULL), "neg.csv",
                      "line 2, column 2: label \"-1\" is out of range [0, 65536)");
    ASSERT_LOAD_FAILS(tg_dataset_csv(write_text("many.csv", "1,70000\n"), NULL), "label \"70000\" is out of range");
    /* integer values written as floats are labels */
    tg_dataset *ds = tg_dataset_csv(write_text("float-int.csv", "1,2.0\n2,1e0\n"), NULL);
    assert_labels(ds, 2, (int64_t[]){2, 1});
    tg_dataset_free(ds);
}

static void test_csv_classes_option_bounds_the_labels_and_sets_the_count(void **state) {
    (void)state;
    const char *path = write_text("c.csv", "1,0\n2,3\n");
    tg_dataset *ds = tg_dataset_csv(path, &(tg_csv_opts){.target_index = -1, .classes = 10});
    assert_int_equal(tg_dataset_classes(ds), 10);
    assert_string_equal(tg_dataset_class_name(ds, 9), "9");
    tg_dataset_free(ds);
    ASSERT_LOAD_FAILS(tg_dataset_csv(path, &(tg_csv_opts){.target_index = -1, .classes = 3}),
                      "line 2, column 2: label \"3\" is out of range [0, 3)");
}

static void test_csv_unclosed_quote_or_text_after_it_is_an_error(void **state) {
    (void)state;
    ASSERT_LOAD_FAILS(tg_dataset_csv(write_text("q.csv", "1,2\n3,\"4\n\"\n"), NULL), "q.csv",
                      "line 2, column 2: the quote at character 3 does not close on its line");
    ASSERT_LOAD_FAILS(tg_dataset_csv(write_text("q2.csv", "1,2\n\"3\"x,4\n"), NULL),
                      "line 2, column 1: text after the closing quote");
}

static void test_csv_other_delimiters_and_gzip_files_are_read(void **state) {
    (void)state;
    tg_dataset *tab = tg_dataset_csv(write_text("t.tsv", "a\tb\n1\t0\n\t\n"), &(tg_csv_opts){.target_index = -1,
                                                                                            .header = 1,
                                                                                            .delimiter = '\t'});
    /* a line of one tab is two empty cells, not a blank line: an error */
    assert_null(tab);
    assert_error_mentions(tg_last_error(), "line 3, column 1 (a): \"\" is not a number");
    const char *text = "a;b\n1;0\n2;1\n";
    tg_dataset *ds = tg_dataset_csv(write_gzip("semi.csv.gz", text, strlen(text)),
                                    &(tg_csv_opts){.target_index = -1, .header = -1, .delimiter = ';'});
    assert_non_null(ds);
    assert_labels(ds, 2, (int64_t[]){0, 1});
    assert_features(ds, 2, (double[]){1, 2});
    tg_dataset_free(ds);
}

static void test_csv_one_column_bad_options_and_missing_file_are_errors(void **state) {
    (void)state;
    ASSERT_LOAD_FAILS(tg_dataset_csv(write_text("one.csv", "1\n2\n"), NULL), "one.csv",
                      "line 1 has 1 column; needs at least 2");
    const char *path = write_text("ok.csv", "1,0\n");
    ASSERT_LOAD_FAILS(tg_dataset_csv(path, &(tg_csv_opts){.header = 2}), "header 2");
    ASSERT_LOAD_FAILS(tg_dataset_csv(path, &(tg_csv_opts){.delimiter = '"'}), "delimiter");
    ASSERT_LOAD_FAILS(tg_dataset_csv(path, &(tg_csv_opts){.task = 7}), "unknown task 7");
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.csv", test_dir);
    ASSERT_LOAD_FAILS(tg_dataset_csv(missing, NULL), "tg_dataset_csv", "cannot open", missing);
    ASSERT_LOAD_FAILS(tg_dataset_csv(NULL, NULL), "path is NULL");
}

static void test_csv_binary_bytes_in_a_cell_are_shown_as_question_marks(void **state) {
    (void)state;
    const char bytes[] = "1,0\n2\x01\x7f,0\n";
    ASSERT_LOAD_FAILS(tg_dataset_csv(write_file("bin.csv", bytes, sizeof bytes - 1), NULL),
                      "line 2, column 1: \"2??\" is not a number");
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, dataset_setup, dataset_teardown)
        T(test_csv_header_and_target_by_name_give_features_and_labels),
        T(test_csv_defaults_detect_the_header_and_take_the_last_column),
        T(test_csv_target_index_counts_from_the_end_when_negative),
        T(test_csv_regression_targets_are_floats),
        T(test_csv_crlf_blank_lines_quotes_and_spaces_are_read),
        T(test_csv_numbers_in_every_decimal_form_are_read),
        T(test_csv_non_numeric_cell_names_line_and_column),
        T(test_csv_rejects_cells_strtod_would_half_read),
        T(test_csv_ragged_row_names_the_line_and_both_counts),
        T(test_csv_empty_file_or_header_only_is_an_error),
        T(test_csv_target_column_not_found_lists_the_header),
        T(test_csv_label_out_of_range_or_not_integer_names_line_and_column),
        T(test_csv_classes_option_bounds_the_labels_and_sets_the_count),
        T(test_csv_unclosed_quote_or_text_after_it_is_an_error),
        T(test_csv_other_delimiters_and_gzip_files_are_read),
        T(test_csv_one_column_bad_options_and_missing_file_are_errors),
        T(test_csv_binary_bytes_in_a_cell_are_shown_as_question_marks),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
