/* The training loop: it learns, resumes exactly (mid-epoch and at an epoch
 * boundary), refuses a checkpoint of another run without changing anything,
 * stops on request, logs every step and epoch as CSV, follows its learning-rate
 * schedule and reports progress in both modes. */
#include "scratch_dir.h" /* open_memstream too */

#include <stdlib.h>
#include <unistd.h>

#include "testing.h"

#define RUN_PATH scratch_path("run.tg")

/* The spiral split 450 / 150 and standardised, and a scratch directory. */
typedef struct fixture {
    tg_dataset *train, *test;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f || scratch_setup(state)) return -1;
    tg_dataset *all = tg_dataset_synthetic("spiral", 600, 5);
    if (!all || tg_dataset_split(all, 0.25, 5, &f->train, &f->test)) return -1;
    tg_dataset_free(all);
    if (tg_dataset_standardize(f->train) || tg_dataset_standardize_like(f->test, f->train)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    tg_dataset_free(f->train);
    tg_dataset_free(f->test);
    free(f);
    return scratch_teardown(state);
}

/* A small MLP (2 -> 32 -> 32 -> 3, tanh, batchnorm) for the spiral. */
static tg_model *small_model(tg_dtype dtype) {
    tg_mlp_opts m = {.inputs = 2, .hidden = {32, 32}, .n_hidden = 2, .outputs = 3, .activation = TG_ACT_TANH,
                     .batchnorm = true, .dtype = dtype};
    tg_model *model = tg_mlp_new(&m, 11);
    assert_non_null(model);
    return model;
}

static tg_fit_opts fit_opts(int64_t epochs, tg_dtype dtype) {
    return (tg_fit_opts){.epochs = epochs, .batch_size = 32, .dtype = dtype, .l2 = 1e-4, .seed = 3,
                         .schedule = {.kind = TG_LR_COSINE, .min_lr = 0.001}};
}


typedef tg_optim *(*optim_maker)(tg_params *p);
static tg_optim *momentum(tg_params *p) { return tg_sgd_new(p, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9}); }
static tg_optim *adam(tg_params *p) {
    tg_adam_opts o = tg_adam_defaults();
    o.lr = 0.01;
    return tg_adam_new(p, o);
}

/* Trains to `epochs`, stopping and resuming through a checkpoint after
 * `stop_at` steps (0: never): the fingerprint of the final model. */
static uint64_t train_run(fixture *f, optim_maker make, tg_dtype dtype, int64_t epochs, int64_t stop_at) {
    tg_model *model = small_model(dtype);
    tg_optim *opt = make(model->params);
    tg_fit_opts fit = fit_opts(epochs, dtype);
    fit.max_steps = stop_at;
    fit.checkpoint_path = stop_at ? RUN_PATH : NULL;
    tg_trainer *tr = tg_trainer_new(model, opt, f->train, f->test, &fit);
    assert_non_null(tr);
    assert_int_equal(tg_trainer_fit(tr), TG_OK);
    if (stop_at) {
        assert_true(tg_trainer_stopped(tr));
        assert_int_equal(tg_trainer_steps(tr), stop_at);
        tg_trainer_free(tr);
        tg_optim_free(opt);
        tg_model_free(model);
        /* a new process, as far as the run can tell */
        model = small_model(dtype);
        opt = make(model->params);
        fit.max_steps = 0;
        tr = tg_trainer_new(model, opt, f->train, f->test, &fit);
        assert_non_null(tr);
        assert_int_equal(tg_trainer_resume(tr, RUN_PATH), TG_OK);
        assert_int_equal(tg_trainer_steps(tr), stop_at);
        assert_int_equal(tg_trainer_fit(tr), TG_OK);
    }
    assert_true(tg_trainer_finished(tr));
    assert_int_equal(tg_trainer_history(tr)->n_epochs, epochs);
    uint64_t fingerprint = store_fingerprint(model->params);
    tg_trainer_free(tr);
    tg_optim_free(opt);
    tg_model_free(model);
    return fingerprint;
}

static void test_a_resumed_run_ends_with_the_same_bits_as_an_unbroken_one(void **state) {
    fixture *f = *state;
    int64_t per_epoch = (tg_dataset_len(f->train) + 31) / 32; /* 15 */
    uint64_t unbroken = train_run(f, momentum, TG_F32, 4, 0);
    assert_true(train_run(f, momentum, TG_F32, 4, 2 * per_epoch) == unbroken);    /* 2 epochs, then 2 more */
    assert_true(train_run(f, momentum, TG_F32, 4, per_epoch + 7) == unbroken);    /* mid-epoch */
    uint64_t adam_unbroken = train_run(f, adam, TG_F64, 3, 0);
    assert_true(train_run(f, adam, TG_F64, 3, per_epoch + 3) == adam_unbroken);
    assert_true(adam_unbroken != unbroken);
}

static void test_the_model_learns_the_spiral(void **state) {
    fixture *f = *state;
    tg_model *model = small_model(TG_F32);
    tg_optim *opt = momentum(model->params);
    tg_fit_opts fit = fit_opts(30, TG_F32);
    tg_trainer *tr = tg_trainer_new(model, opt, f->train, f->test, &fit);
    assert_int_equal(tg_trainer_fit(tr), TG_OK);
    const tg_history *h = tg_trainer_history(tr);
    assert_int_equal(h->n_epochs, 30);
    assert_int_equal(h->n_steps, 30 * 15);
    /* lr 0.1 with momentum on batches of 32: the epoch losses jump about, so
     * the last five epochs on average against the first */
    double last = 0;
    for (int e = 25; e < 30; e++) last += h->epochs[e].train_loss / 5;
    assert_true(last < 0.5 * h->epochs[0].train_loss);
    assert_true(h->epochs[29].test_accuracy > 0.9);
    tg_tape *t = tg_tape_new();
    tg_evaluation e;
    assert_int_equal(tg_evaluate(model, f->test, TG_F32, 64, t, &e), TG_OK);
    assert_int_equal(e.samples, tg_dataset_len(f->test));
    assert_true(fabs(e.accuracy - h->epochs[29].test_accuracy) < 1e-12);
    assert_true(fabs(e.loss - h->epochs[29].test_loss) < 1e-6);
    assert_int_equal(tg_confusion_total(&e.confusion), tg_dataset_len(f->test));
    tg_confusion_free(&e.confusion);
    tg_tape_free(t);
    tg_trainer_free(tr);
    tg_optim_free(opt);
    tg_model_free(model);
}

static void test_resume_of_another_model_fails_and_changes_nothing(void **state) {
    fixture *f = *state;
    tg_model *model = small_model(TG_F32);
    tg_optim *opt = momentum(model->params);
    tg_fit_opts fit = fit_opts(1, TG_F32);
    fit.checkpoint_path = RUN_PATH;
    tg_trainer *tr = tg_trainer_new(model, opt, f->train, f->test, &fit);
    assert_int_equal(tg_trainer_fit(tr), TG_OK);
    tg_trainer_free(tr);

    tg_mlp_opts wider = {.inputs = 2, .hidden = {64}, .n_hidden = 1, .outputs = 3, .batchnorm = true};
    tg_model *other = tg_mlp_new(&wider, 1);
    tg_optim *other_opt = momentum(other->params);
    tr = tg_trainer_new(other, other_opt, f->train, f->test, &fit);
    uint64_t before = store_fingerprint(other->params);
    assert_int_not_equal(tg_trainer_resume(tr, RUN_PATH), TG_OK);
    assert_error_mentions(tg_last_error(), "tg_trainer_resume");
    assert_error_mentions(tg_last_error(), RUN_PATH);
    assert_true(store_fingerprint(other->params) == before);
    assert_int_equal(tg_trainer_steps(tr), 0);

    /* another batch size: another mini-batch order, refused */
    tg_trainer_free(tr);
    tg_model *same = small_model(TG_F32);
    tg_optim *same_opt = momentum(same->params);
    fit.batch_size = 50;
    tr = tg_trainer_new(same, same_opt, f->train, f->test, &fit);
    assert_int_equal(tg_trainer_resume(tr, RUN_PATH), TG_ERR_STATE);
    assert_error_mentions(tg_last_error(), "batches per epoch");
    char settings[64];
    assert_int_equal(tg_run_settings(RUN_PATH, settings, sizeof settings), TG_OK);
    assert_string_equal(settings, "");
    tg_trainer_free(tr);
    tg_optim_free(same_opt);
    tg_model_free(same);
    tg_optim_free(other_opt);
    tg_model_free(other);
    tg_optim_free(opt);
    tg_model_free(model);
}

/* Progress callback that asks the loop to stop after 5 steps. */
static void stop_after_five(const tg_progress *p, void *user) {
    if (p->step >= 5) *(volatile sig_atomic_t *)user = 1;
}

static void test_a_stop_request_ends_the_step_and_saves_the_run(void **state) {
    fixture *f = *state;
    tg_model *model = small_model(TG_F32);
    tg_optim *opt = momentum(model->params);
    volatile sig_atomic_t stop = 0;
    tg_fit_opts fit = fit_opts(3, TG_F32);
    fit.stop = &stop;
    fit.checkpoint_path = RUN_PATH;
    fit.settings = "--hidden=32,32\n";
    fit.progress = stop_after_five;
    fit.progress_user = (void *)&stop;
    tg_trainer *tr = tg_trainer_new(model, opt, f->train, f->test, &fit);
    assert_int_equal(tg_trainer_fit(tr), TG_OK);
    assert_true(tg_trainer_stopped(tr));
    assert_false(tg_trainer_finished(tr));
    int64_t steps = tg_trainer_steps(tr);
    assert_true(steps >= 5 && steps < 15); /* stopped within the first epoch */
    char settings[64];
    assert_int_equal(tg_run_settings(RUN_PATH, settings, sizeof settings), TG_OK);
    assert_string_equal(settings, "--hidden=32,32\n");
    tg_checkpoint *c = tg_checkpoint_read(RUN_PATH);
    assert_non_null(c);
    assert_non_null(tg_checkpoint_find(c, "fc1.weight"));
    assert_non_null(tg_checkpoint_find(c, "bn1.running_var"));
    tg_checkpoint_free(c);
    tg_trainer_free(tr);
    tg_optim_free(opt);
    tg_model_free(model);
}

/* Reads the CSV log: counts rows and checks each epoch's loss is the mean of its steps'. */
static void test_the_csv_log_has_every_step_and_epoch(void **state) {
    fixture *f = *state;
    const char *log_path = scratch_path("log.csv");
    FILE *log = fopen(log_path, "w");
    tg_log_header(log);
    tg_model *model = small_model(TG_F64);
    tg_optim *opt = momentum(model->params);
    tg_fit_opts fit = fit_opts(2, TG_F64);
    fit.log = log;
    fit.schedule = (tg_lr_schedule){.kind = TG_LR_STEP, .step_epochs = 1, .gamma = 0.5, .warmup_steps = 4};
    tg_trainer *tr = tg_trainer_new(model, opt, f->train, f->test, &fit);
    assert_int_equal(tg_trainer_fit(tr), TG_OK);
    fclose(log);

    log = fopen(log_path, "r");
    char line[512];
    assert_non_null(fgets(line, sizeof line, log));
    assert_string_equal(line, "kind,epoch,step,lr,loss,accuracy,test_loss,test_accuracy,seconds,samples_per_second\n");
    int steps = 0, epochs = 0;
    double sum = 0;
    while (fgets(line, sizeof line, log)) {
        long long epoch, step;
        double lr, loss;
        if (strncmp(line, "step,", 5) == 0) {
            assert_int_equal(sscanf(line, "step,%lld,%lld,%lf,%lf", &epoch, &step, &lr, &loss), 4);
            assert_int_equal(step, ++steps);
            assert_int_equal(epoch, epochs + 1);
            /* warm-up over 4 steps, then 0.1 halved every epoch (15 steps) */
            double expected = 0.1 * (step > 15 ? 0.5 : 1.0) * (step <= 4 ? (double)step / 4 : 1.0);
            assert_true(fabs(lr - expected) < 1e-12);
            assert_true(fabs(loss - tg_trainer_history(tr)->step_loss[step - 1]) < 1e-6 * loss);
            sum += loss;
        } else {
            double accuracy, test_loss, test_accuracy;
            assert_int_equal(sscanf(line, "epoch,%lld,%lld,%lf,%lf,%lf,%lf,%lf", &epoch, &step, &lr, &loss, &accuracy,
                                    &test_loss, &test_accuracy),
                             7);
            assert_int_equal(epoch, ++epochs);
            assert_int_equal(step, steps);
            assert_true(fabs(loss - sum / 15) < 1e-6 * loss);
            assert_true(accuracy > 0 && accuracy <= 1 && test_accuracy > 0 && test_accuracy <= 1);
            assert_true(fabs(test_loss - tg_trainer_history(tr)->epochs[epoch - 1].test_loss) < 1e-6 * test_loss);
            sum = 0;
        }
    }
    fclose(log);
    assert_int_equal(steps, 30);
    assert_int_equal(epochs, 2);
    tg_trainer_free(tr);
    tg_optim_free(opt);
    tg_model_free(model);
}

static char *print_progress(bool in_place, const tg_progress *events, int n) {
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    tg_progress_printer pr = {.out = out, .in_place = in_place};
    for (int i = 0; i < n; i++) tg_progress_print(&events[i], &pr);
    fclose(out);
    return text;
}

static void test_progress_rewrites_a_terminal_line_and_prints_plain_lines_elsewhere(void **state) {
    (void)state;
    tg_epoch_metrics m = {.epoch = 1, .steps = 10, .train_loss = 0.5, .train_accuracy = 0.8, .test_loss = 0.625,
                          .test_accuracy = 0.75, .train_seconds = 2, .samples_per_second = 640};
    tg_progress events[3] = {
        {.epoch = 1, .epochs = 3, .batch = 5, .batches = 10, .loss = 0.75, .samples_per_second = 320, .eta_seconds = 1},
        {.epoch = 1, .epochs = 3, .batch = 10, .batches = 10, .loss = 0.5, .samples_per_second = 640, .eta_seconds = 0},
        {.epoch_end = true, .epoch = 1, .epochs = 3, .metrics = &m},
    };
    char *tty = print_progress(true, events, 3);
    assert_non_null(strstr(tty, "\repoch 1/3 [==========          ] 5/10  loss 0.7500  320 samples/s  ETA 1.0s"));
    assert_non_null(strstr(tty, "\repoch 1/3 [====================] 10/10"));
    assert_non_null(strstr(tty, "\repoch 1/3  loss 0.5000  acc 80.00%  test loss 0.6250  test acc 75.00%  640 samples/s"));
    assert_int_equal(tty[strlen(tty) - 1], '\n');
    char *plain = print_progress(false, events, 3);
    assert_string_equal(plain, "epoch 1/3  loss 0.5000  acc 80.00%  test loss 0.6250  test acc 75.00%  640 samples/s  2.00s\n");
    free(tty);
    free(plain);
}

static void test_confusion_counts_first_maxima_against_labels(void **state) {
    (void)state;
    tg_tape *t = tg_tape_new();
    /* rows: argmax 2, 0 (tie with 1: first), 1, 2 */
    tg_tensor *logits = T32(t, SHAPE(4, 3), 0, 1, 5, 3, 3, 1, -1, 2, 0, 0, 0, 9);
    int64_t labels[4] = {2, 1, 1, 0};
    tg_confusion c;
    assert_int_equal(tg_confusion_init(&c, 3), TG_OK);
    assert_int_equal(tg_confusion_add(&c, logits, labels), TG_OK);
    int64_t expected[9] = {0, 0, 1, /* true 0 */ 1, 1, 0, /* true 1 */ 0, 0, 1};
    for (int i = 0; i < 9; i++) assert_int_equal(c.counts[i], expected[i]);
    assert_true(fabs(tg_confusion_accuracy(&c) - 0.5) < 1e-15);
    assert_true(fabs(tg_confusion_class_accuracy(&c, 1) - 0.5) < 1e-15);
    assert_true(isnan(tg_confusion_class_accuracy(&c, 3)));
    int64_t bad[4] = {0, 3, 0, 0};
    assert_int_equal(tg_confusion_add(&c, logits, bad), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "label 3 of row 1");
    tg_confusion_free(&c);
    tg_tape_free(t);
}

static void test_bad_options_are_errors(void **state) {
    fixture *f = *state;
    tg_model *model = small_model(TG_F32);
    tg_optim *opt = momentum(model->params);
    tg_fit_opts fit = fit_opts(0, TG_F32);
    assert_null(tg_trainer_new(model, opt, f->train, f->test, &fit));
    assert_error_mentions(tg_last_error(), "epochs 0");
    fit = fit_opts(1, TG_F32);
    fit.schedule = (tg_lr_schedule){.kind = TG_LR_STEP, .gamma = 0.5};
    assert_null(tg_trainer_new(model, opt, f->train, f->test, &fit));
    assert_error_mentions(tg_last_error(), "schedule");
    tg_dataset *poly = tg_dataset_synthetic("poly", 50, 1);
    fit = fit_opts(1, TG_F32);
    assert_null(tg_trainer_new(model, opt, f->train, poly, &fit));
    assert_error_mentions(tg_last_error(), "does not match");
    tg_dataset_free(poly);
    tg_optim_free(opt);
    tg_model_free(model);
}

static void test_plot_draws_the_curves_or_says_how(void **state) {
    fixture *f = *state;
    tg_history h = {0};
    for (int s = 0; s < 20; s++) assert_int_equal(tg_history_add_step(&h, 1.0 / (s + 1)), TG_OK);
    for (int e = 1; e <= 2; e++) {
        tg_epoch_metrics m = {.epoch = e, .train_loss = 1.0 / e, .test_loss = 1.2 / e, .train_accuracy = 0.5 + 0.2 * e,
                              .test_accuracy = 0.45 + 0.2 * e};
        assert_int_equal(tg_history_add_epoch(&h, &m), TG_OK);
    }
    (void)f;
    const char *path = scratch_path("curves.svg");
    tg_status st = tg_plot_history(&h, 10, path, "test curves");
#ifdef TG_HAVE_PLPLOT
    assert_int_equal(st, TG_OK);
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char head[4096] = {0};
    assert_true(fread(head, 1, sizeof head - 1, in) > 100);
    fclose(in);
    assert_non_null(strstr(head, "<svg"));
#else
    assert_int_equal(st, TG_ERR_UNSUPPORTED);
    assert_error_mentions(tg_last_error(), "CSV");
#endif
    assert_int_equal(tg_plot_history(&h, 10, scratch_path("curves.gif"), NULL), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), ".svg, .png or .pdf");
    tg_history_free(&h);
}

int main(void) {
#define WITH_DATA(test) cmocka_unit_test_setup_teardown(test, setup, teardown)
    const struct CMUnitTest tests[] = {
        WITH_DATA(test_a_resumed_run_ends_with_the_same_bits_as_an_unbroken_one),
        WITH_DATA(test_the_model_learns_the_spiral),
        WITH_DATA(test_resume_of_another_model_fails_and_changes_nothing),
        WITH_DATA(test_a_stop_request_ends_the_step_and_saves_the_run),
        WITH_DATA(test_the_csv_log_has_every_step_and_epoch),
        cmocka_unit_test(test_progress_rewrites_a_terminal_line_and_prints_plain_lines_elsewhere),
        cmocka_unit_test(test_confusion_counts_first_maxima_against_labels),
        WITH_DATA(test_bad_options_are_errors),
        WITH_DATA(test_plot_draws_the_curves_or_says_how),
    };
    return cmocka_run_group_tests_name("trainer", tests, NULL, NULL);
}
