/* Loss composites against PyTorch (torch 1.13, float64): values, gradients,
 * scopes and errors. */
#include "testing.h"

static const double X[12] = {0, 0.72323086393, 1.34857582326, 1.79139737136, 1.99176168908, 1.92255040595,
                             1.59313094447, 1.04808868337, 0.361192535788, -0.374589327086, -1.05967228182,
                             -1.60133356435};
static const double TARGET[12] = {1, 0.978030914724, 0.913088940312, 0.808027508312, 0.667462825841,
                                  0.497571047892, 0.305816908378, 0.100625733387, 0.10898675224, 0.313810559359,
                                  0.5048461046, 0.673699635595};

static void test_cross_entropy_matches_pytorch(void **state) {
    (void)state;
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_from(t, TG_F64, SHAPE(4, 3), X);
    tg_requires_grad(x);
    tg_tensor *loss = tg_cross_entropy(t, x, 4, (const int64_t[]){2, 0, 1, 2});
    assert_non_null(loss);
    assert_int_equal(loss->ndim, 0);
    assert_float_equal(tg_item(loss), 1.1955489806, 1e-10);
    assert_int_equal(tg_backward(t, loss, NULL), TG_OK);
    ASSERT_VALUES(x->grad, 1e-10, 0.0361636588312, 0.0745362495975, -0.110699908429, -0.175639280601,
                  0.0908574827349, 0.0847817978656, 0.133579559781, -0.172548263103, 0.0389687033225,
                  0.139097985739, 0.0701121191911, -0.20921010493);
    tg_tape_free(t);
}

static void test_cross_entropy_is_stable_for_huge_logits(void **state) {
    (void)state;
    tg_tape *t = tg_tape_new();
    tg_tensor *x = T64(t, SHAPE(1, 3), 1000.0, -1000.0, 0.0);
    tg_tensor *loss = tg_cross_entropy(t, x, 1, (const int64_t[]){1});
    assert_float_equal(tg_item(loss), 2000.0, 1e-9);
    tg_tensor *x32 = T32(t, SHAPE(1, 3), 1000.0f, -1000.0f, 0.0f);
    assert_float_equal(tg_item(tg_cross_entropy(t, x32, 1, (const int64_t[]){0})), 0.0, 1e-6);
    tg_tape_free(t);
}

static void test_bce_with_logits_matches_pytorch_including_zero_logits(void **state) {
    (void)state;
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_from(t, TG_F64, SHAPE(4, 3), X); /* X[0] is exactly 0 */
    tg_tensor *y = tg_tensor_from(t, TG_F64, SHAPE(4, 3), TARGET);
    tg_requires_grad(x);
    tg_tensor *loss = tg_bce_with_logits(t, x, y);
    assert_float_equal(tg_item(loss), 0.830331932074, 1e-10);
    assert_int_equal(tg_backward(t, loss, NULL), TG_OK);
    ASSERT_VALUES(x->grad, 1e-10, -0.0416666666667, -0.025392736379, -0.009932687093, 0.00408925038184,
                  0.0177055471, 0.0312376266122, 0.0437699367305, 0.053315164306, 0.0400285275351,
                  0.0078018321832, -0.0206228347959, -0.0421586935186);
    tg_tape_free(t);
}

static void test_mse_matches_pytorch(void **state) {
    (void)state;
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_from(t, TG_F64, SHAPE(4, 3), X);
    tg_tensor *y = tg_tensor_from(t, TG_F64, SHAPE(4, 3), TARGET);
    tg_requires_grad(x);
    tg_tensor *loss = tg_mse(t, x, y);
    assert_float_equal(tg_item(loss), 1.39348177509, 1e-10);
    assert_int_equal(tg_backward(t, loss, NULL), TG_OK);
    ASSERT_VALUES(x->grad, 1e-10, -0.166666666667, -0.0424666751324, 0.0725811471573, 0.163894977175,
                  0.220716477206, 0.237496559676, 0.214552339349, 0.157910491665, 0.0420342972581,
                  -0.114733314407, -0.260753064403, -0.379172199991);
    tg_tape_free(t);
}

static void test_losses_record_their_scope(void **state) {
    (void)state;
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_from(t, TG_F64, SHAPE(4, 3), X);
    assert_non_null(tg_cross_entropy(t, x, 4, (const int64_t[]){0, 1, 2, 0}));
    assert_true(tg_tape_node_count(t) >= 4);
    for (int64_t i = 0; i < tg_tape_node_count(t); i++)
        assert_string_equal(tg_tape_node(t, i)->scope, "cross_entropy");
    tg_tape_free(t);
}

static void test_loss_errors_name_the_op_and_shapes(void **state) {
    (void)state;
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_F64, SHAPE(4, 3));
    assert_null(tg_cross_entropy(t, x, 4, (const int64_t[]){0, 1, 3, 0}));
    assert_error_mentions(tg_tape_error(t), "tg_cross_entropy");
    assert_error_mentions(tg_tape_error(t), "label 3");
    assert_error_mentions(tg_tape_error(t), "f64[4,3]");
    tg_tape_clear_error(t);
    assert_null(tg_cross_entropy(t, x, 3, (const int64_t[]){0, 1, 2}));
    assert_error_mentions(tg_tape_error(t), "[N,C]");
    tg_tape_clear_error(t);
    assert_null(tg_mse(t, x, tg_zeros(t, TG_F64, SHAPE(3))));
    assert_error_mentions(tg_tape_error(t), "tg_mse");
    assert_error_mentions(tg_tape_error(t), "f64[3]");
    tg_tape_clear_error(t);
    assert_null(tg_bce_with_logits(t, x, NULL));
    assert_null(tg_mse(t, NULL, x));
    tg_tape_free(t);
}

/* the labels used to be blamed on the logits: "logits f64[2,3] must be [N,C]" */
static void test_cross_entropy_with_null_labels_blames_the_labels(void **state) {
    (void)state;
    tg_tape *t = tg_tape_new();
    assert_null(tg_cross_entropy(t, tg_zeros(t, TG_F64, SHAPE(2, 3)), 2, NULL));
    assert_int_equal(tg_tape_status(t), TG_ERR_ARG);
    assert_error_mentions(tg_tape_error(t), "tg_cross_entropy: labels is NULL (2 labels expected for logits f64[2,3])");
    tg_tape_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_entropy_matches_pytorch),
        cmocka_unit_test(test_cross_entropy_is_stable_for_huge_logits),
        cmocka_unit_test(test_bce_with_logits_matches_pytorch_including_zero_logits),
        cmocka_unit_test(test_mse_matches_pytorch),
        cmocka_unit_test(test_losses_record_their_scope),
        cmocka_unit_test(test_loss_errors_name_the_op_and_shapes),
        cmocka_unit_test(test_cross_entropy_with_null_labels_blames_the_labels),
    };
    return cmocka_run_group_tests_name("loss", tests, NULL, NULL);
}
