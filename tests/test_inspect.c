/* Looking inside a model during training: a scope's output is its last
 * forward node (nested scopes included, lookalike names not), value and
 * per-unit statistics and gradient norms by name prefix are the numbers
 * worked out by hand, and the trainer's progress callback sees each step's
 * tape, outputs, loss and model (and none of them at an epoch's end). */
#include <stdlib.h>

#include "testing.h"

static void test_scope_output_is_the_last_forward_node_of_the_scope(void **state) {
    (void)state;
    tg_tensor *x = T64(tape, SHAPE(2, 2), 1, -2, 3, -4);
    tg_tape_push_scope(tape, "layer3");
    tg_tensor *a = tg_mul_scalar(tape, x, 2);
    tg_tape_push_scope(tape, "inner");
    tg_tensor *b = tg_relu(tape, a);
    tg_tape_pop_scope(tape);
    tg_tape_pop_scope(tape);
    tg_tape_push_scope(tape, "layer30");
    tg_tensor *c = tg_neg(tape, b);
    tg_tape_pop_scope(tape);
    assert_non_null(c);
    assert_ptr_equal(tg_scope_output(tape, "layer3"), b);       /* layer3/inner counts as layer3 */
    assert_ptr_equal(tg_scope_output(tape, "layer3/inner"), b);
    assert_ptr_equal(tg_scope_output(tape, "layer30"), c);
    assert_null(tg_scope_output(tape, "layer"));               /* a prefix of a name is not the scope */
    assert_error_mentions(tg_last_error(), "no operation was recorded in scope 'layer'");
    assert_null(tg_scope_output(tape, ""));
    assert_null(tg_scope_output(NULL, "layer3"));
}

/* values 1 -2 3 -4: mean -0.5, population variance (2.25 + 2.25 + 12.25 + 12.25) / 4 = 7.25 */
static void test_value_stats_are_mean_population_std_min_and_max(void **state) {
    (void)state;
    tg_value_stats s;
    assert_int_equal(tg_tensor_stats(T64(tape, SHAPE(2, 2), 1, -2, 3, -4), &s), TG_OK);
    assert_int_equal(s.n, 4);
    assert_near(s.mean, -0.5, 1e-15);
    assert_near(s.std, sqrt(7.25), 1e-15);
    assert_near(s.min, -4, 0);
    assert_near(s.max, 3, 0);
    assert_int_equal(tg_tensor_stats(NULL, &s), TG_ERR_ARG);
}

/* [3,2]: unit 0 = 1, 3, 5 (mean 3, std sqrt(8/3)); unit 1 = 2, 2, 2 (mean 2, std 0) */
static void test_unit_stats_are_per_column_over_the_samples(void **state) {
    (void)state;
    double mean[2], std[2];
    assert_int_equal(tg_unit_stats(T32(tape, SHAPE(3, 2), 1, 2, 3, 2, 5, 2), mean, std), TG_OK);
    assert_near(mean[0], 3, 1e-12);
    assert_near(std[0], sqrt(8.0 / 3), 1e-7);
    assert_near(mean[1], 2, 1e-12);
    assert_near(std[1], 0, 0);
    assert_int_equal(tg_unit_stats(T64(tape, SHAPE(3), 1, 2, 3), mean, std), TG_ERR_SHAPE);
    assert_error_mentions(tg_last_error(), "f64[3]");
}

static void test_grad_norm_sums_the_parameters_a_prefix_names(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *w1 = tg_param(p, "fc1.weight", TG_F64, 1, (int64_t[]){2}, TG_INIT_ZEROS, NULL);
    tg_tensor *b1 = tg_param(p, "fc1.bias", TG_F64, 1, (int64_t[]){1}, TG_INIT_ZEROS, NULL);
    tg_tensor *w10 = tg_param(p, "fc10.weight", TG_F64, 1, (int64_t[]){1}, TG_INIT_ZEROS, NULL);
    assert_non_null(tg_buffer(p, "fc1.running", TG_F64, 1, (int64_t[]){1}, TG_INIT_ONES, NULL));
    tg_set(w1->grad, 0, 3);
    tg_set(w1->grad, 1, 4);
    tg_set(b1->grad, 0, 12);
    tg_set(w10->grad, 0, 100);
    assert_near(tg_params_grad_norm(p, "fc1.weight"), 5, 1e-15);
    assert_near(tg_params_grad_norm(p, "fc1."), 13, 1e-15); /* not fc10, not the buffer */
    assert_near(tg_params_grad_norm(p, NULL), sqrt(169.0 + 10000), 1e-12);
    assert_near(tg_params_grad_norm(p, "nothing"), 0, 0);
    tg_params_free(p);
}

typedef struct seen {
    int steps, epoch_ends;
    double losses[64];
    int64_t first_layer_shape[2];
    double grad_norm;
    bool epoch_end_fields_null;
} seen;

static void look_inside(const tg_progress *p, void *user) {
    seen *s = user;
    if (p->epoch_end) {
        s->epoch_ends++;
        s->epoch_end_fields_null = !p->tape && !p->step_outputs && !p->step_loss && !p->model;
        return;
    }
    assert_non_null(p->tape);
    assert_non_null(p->model);
    assert_int_equal(p->step_outputs->shape[1], 3);
    s->losses[s->steps++] = tg_item(p->step_loss);
    const tg_tensor *h = tg_scope_output(p->tape, "layer1"); /* the first hidden layer's activations */
    assert_non_null(h);
    s->first_layer_shape[0] = h->shape[0];
    s->first_layer_shape[1] = h->shape[1];
    assert_string_equal(h->node->op->name, "tanh");
    s->grad_norm = tg_params_grad_norm(p->model->params, "fc1.weight");
}

static void test_progress_after_a_step_shows_its_tape_outputs_loss_and_model(void **state) {
    (void)state;
    tg_dataset *train = tg_dataset_synthetic("spiral", 100, 3);
    tg_model *model = tg_mlp_new(&(tg_mlp_opts){.inputs = 2, .hidden = {8}, .n_hidden = 1, .outputs = 3,
                                                .activation = TG_ACT_TANH},
                                 5);
    tg_optim *opt = tg_sgd_new(model->params, (tg_sgd_opts){.lr = 0.1});
    seen s = {0};
    tg_fit_opts fit = {.epochs = 2, .batch_size = 40, .seed = 1, .progress = look_inside, .progress_user = &s};
    tg_trainer *tr = tg_trainer_new(model, opt, train, NULL, &fit);
    assert_int_equal(tg_trainer_fit(tr), TG_OK);
    const tg_history *h = tg_trainer_history(tr);
    assert_int_equal(s.steps, 6); /* 40 + 40 + 20, twice */
    assert_int_equal(s.epoch_ends, 2);
    assert_true(s.epoch_end_fields_null);
    for (int i = 0; i < 6; i++) assert_near(s.losses[i], h->step_loss[i], 1e-6); /* the step's own loss */
    assert_int_equal(s.first_layer_shape[0], 20); /* the last batch */
    assert_int_equal(s.first_layer_shape[1], 8);
    assert_near(s.grad_norm, tg_params_grad_norm(model->params, "fc1.weight"), 0); /* the last step's gradient */
    assert_true(s.grad_norm > 0);
    tg_trainer_free(tr);
    tg_optim_free(opt);
    tg_model_free(model);
    tg_dataset_free(train);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scope_output_is_the_last_forward_node_of_the_scope, tape_setup,
                                        tape_teardown),
        cmocka_unit_test_setup_teardown(test_value_stats_are_mean_population_std_min_and_max, tape_setup,
                                        tape_teardown),
        cmocka_unit_test_setup_teardown(test_unit_stats_are_per_column_over_the_samples, tape_setup, tape_teardown),
        cmocka_unit_test(test_grad_norm_sums_the_parameters_a_prefix_names),
        cmocka_unit_test(test_progress_after_a_step_shows_its_tape_outputs_loss_and_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
