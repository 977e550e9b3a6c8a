/* Data-parallel training under mpirun computes what one process computes:
 * an MLP with synchronised batchnorm and an L2 penalty, SGD with momentum,
 * 20 steps: N ranks with a batch of 64 each end where one process with a
 * batch of 64 N ends (f64 within 1e-12, f32 within 1e-5, relative), every
 * rank with the same bits; the same for the cnn (batchnorm over images);
 * 1, 2, 3 ranks sharing one global batch end at the same place; the trainer
 * does the same, with shares of unequal size too. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "dist_testing.h"

enum { FEATURES = 16, CLASSES = 4, STEPS = 20 };

/* n samples of FEATURES normal values, labelled by a fixed random linear teacher */
static tg_dataset *teacher_data(int64_t n) {
    tg_rng rng = tg_rng_new(99);
    double *x = malloc(sizeof *x * (size_t)(n * FEATURES)), teacher[FEATURES * CLASSES];
    int64_t *labels = malloc(sizeof *labels * (size_t)n);
    for (int i = 0; i < FEATURES * CLASSES; i++) teacher[i] = tg_rng_normal(&rng);
    for (int64_t s = 0; s < n; s++) {
        double best = -INFINITY;
        for (int f = 0; f < FEATURES; f++) x[s * FEATURES + f] = tg_rng_normal(&rng) + 0.5;
        for (int c = 0; c < CLASSES; c++) {
            double score = 0;
            for (int f = 0; f < FEATURES; f++) score += x[s * FEATURES + f] * teacher[f * CLASSES + c];
            if (score > best) {
                best = score;
                labels[s] = c;
            }
        }
    }
    tg_dataset *ds = tg_dataset_from(TG_F64, 2, (int64_t[]){n, FEATURES}, x, labels, NULL, 0);
    free(x);
    free(labels);
    assert_non_null(ds);
    return ds;
}

/* 16 -> 32 -> 32 -> 4, relu, batchnorm synchronised over d's ranks (d NULL: alone) */
static tg_model *model_for(tg_dist *d, tg_dtype dtype) {
    tg_mlp_opts m = {.inputs = FEATURES, .hidden = {32, 32}, .n_hidden = 2, .outputs = CLASSES,
                     .activation = TG_ACT_RELU, .batchnorm = true, .dtype = dtype,
                     .replicas = d ? tg_dist_replicas(d) : NULL};
    tg_model *model = tg_mlp_new(&m, 7);
    assert_non_null(model);
    return model;
}

/* The features as 1x4x4 images: conv 4 -> batchnorm -> max pool -> relu,
 * twice (4x4 -> 2x2 -> 1x1), then 4 -> 16 -> 4, batchnorm synchronised over
 * d's ranks (d NULL: alone), no dropout (its masks differ between ranks) */
static tg_model *cnn_for(tg_dist *d, tg_dtype dtype) {
    tg_cnn_opts c = {.channels = 1, .height = 4, .width = 4, .conv = {4, 4}, .n_conv = 2, .hidden = {16},
                     .n_hidden = 1, .outputs = CLASSES, .batchnorm = true, .dtype = dtype,
                     .replicas = d ? tg_dist_replicas(d) : NULL};
    tg_model *model = tg_cnn_new(&c, 7);
    assert_non_null(model);
    return model;
}

typedef tg_model *(*model_fn)(tg_dist *d, tg_dtype dtype);

/* STEPS steps of the loop a user writes: this rank's share of each global
 * batch, cross entropy + L2 penalty, backward, gradients averaged, SGD with
 * momentum. Returns the model (its store holds the result) or NULL. */
static tg_model *train_loop(model_fn make, tg_dist *d, tg_dtype dtype, const tg_dataset *ds, int64_t global_batch) {
    tg_model *model = make(d, dtype);
    tg_optim *opt = tg_sgd_new(model->params, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
    tg_rng rng = tg_rng_new(3); /* the same shuffling on every rank */
    tg_batches *b = tg_batches_new(tg_dataset_len(ds), global_batch, false, &rng);
    tg_tape *t = tg_tape_new();
    tg_status st = opt && b && t ? TG_OK : TG_ERR_NOMEM;
    if (!st && d) st = tg_batches_shard(b, tg_dist_rank(d), tg_dist_size(d));
    if (!st && d) st = tg_dist_broadcast_params(d, model->params);
    for (int step = 0; step < STEPS && !st; step++) {
        const int64_t *idx;
        int64_t count;
        if (!tg_batches_next(b, &idx, &count)) tg_batches_next(b, &idx, &count); /* a new epoch */
        tg_tape_reset(t);
        tg_batch batch;
        st = tg_dataset_gather(t, ds, dtype, count, idx, &batch);
        tg_tensor *logits = st ? NULL : model->forward(t, model, batch.x, true);
        tg_tensor *loss = tg_add(t, tg_cross_entropy(t, logits, count, batch.labels),
                                 tg_l2_penalty(t, model->params, 1e-3));
        tg_zero_grad(model->params);
        if (!st) st = tg_backward(t, loss, NULL);
        if (!st && d) st = tg_dist_average_grads(d, model->params);
        if (!st) st = tg_optim_step(opt);
    }
    tg_tape_free(t);
    tg_batches_free(b);
    tg_optim_free(opt);
    if (st) {
        print_error("train_loop: %s\n", tg_last_error());
        tg_model_free(model);
        return NULL;
    }
    return model;
}

static void check_ranks_train_like_one_process(model_fn make, tg_dtype dtype, double tolerance) {
    int size = dist_size();
    tg_dataset *ds = teacher_data(64 * size * 3);
    tg_dist *d = tg_dist_new(MPI_COMM_WORLD, NULL);
    tg_model *parallel = train_loop(make, d, dtype, ds, 64 * size);
    tg_model *alone = train_loop(make, NULL, dtype, ds, 64 * size); /* one process, the whole batch */
    bool same_bits = dist_all_equal(MPI_COMM_WORLD, parallel ? store_fingerprint(parallel->params) : 0);
    tg_dist_free(d);
    assert_non_null(parallel);
    assert_non_null(alone);
    double difference = store_relative_difference(parallel->params, alone->params);
    /* it trained: the parameters moved */
    tg_model *start = make(NULL, dtype);
    double moved = store_relative_difference(alone->params, start->params);
    tg_model_free(start);
    tg_model_free(parallel);
    tg_model_free(alone);
    tg_dataset_free(ds);
    if (!(difference <= tolerance)) print_error("relative difference %g (tolerance %g)\n", difference, tolerance);
    assert_true(difference <= tolerance);
    assert_true(moved > 0.01);
    assert_true(same_bits);
}

static void test_ranks_with_batch_64_each_train_like_one_process_with_the_whole_batch_f64(void **state) {
    (void)state;
    check_ranks_train_like_one_process(model_for, TG_F64, 1e-12);
}

static void test_ranks_with_batch_64_each_train_like_one_process_with_the_whole_batch_f32(void **state) {
    (void)state;
    check_ranks_train_like_one_process(model_for, TG_F32, 1e-5);
}

static void test_the_cnn_on_ranks_trains_like_one_process_with_the_whole_batch_f64(void **state) {
    (void)state;
    check_ranks_train_like_one_process(cnn_for, TG_F64, 1e-12);
}

static void test_the_cnn_on_ranks_trains_like_one_process_with_the_whole_batch_f32(void **state) {
    (void)state;
    check_ranks_train_like_one_process(cnn_for, TG_F32, 1e-5);
}

/* The first k ranks train on a global batch of 96 (1, 2, 3 ranks: 96, 48, 32
 * each); rank 0 compares every k with one process. */
static void test_one_two_and_three_ranks_sharing_one_global_batch_end_at_the_same_place(void **state) {
    (void)state;
    int rank = dist_rank(), size = dist_size();
    tg_dataset *ds = teacher_data(96 * 3);
    tg_model *alone = rank == 0 ? train_loop(model_for, NULL, TG_F64, ds, 96) : NULL;
    double worst = rank == 0 && alone ? 0 : INFINITY;
    int groups_differing = 0;
    for (int k = 1; k <= size && k <= 3; k++) {
        MPI_Comm group;
        MPI_Comm_split(MPI_COMM_WORLD, rank < k ? 0 : MPI_UNDEFINED, rank, &group);
        if (group == MPI_COMM_NULL) continue;
        tg_dist *d = tg_dist_new(group, NULL);
        tg_model *parallel = train_loop(model_for, d, TG_F64, ds, 96);
        groups_differing += !dist_all_equal(group, parallel ? store_fingerprint(parallel->params) : 0);
        if (rank == 0) {
            double diff = parallel && alone ? store_relative_difference(parallel->params, alone->params) : INFINITY;
            if (!(diff <= worst)) worst = diff;
        }
        tg_model_free(parallel);
        tg_dist_free(d);
        MPI_Comm_free(&group);
    }
    MPI_Bcast(&worst, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    tg_model_free(alone);
    tg_dataset_free(ds);
    if (!(worst <= 1e-12)) print_error("relative difference %g\n", worst);
    assert_true(worst <= 1e-12);
    assert_int_equal(groups_differing, 0);
}

/* ---- the trainer ---- */

typedef struct {
    int calls;
} progress_count;
static void count_progress(const tg_progress *p, void *user) {
    (void)p;
    ((progress_count *)user)->calls++;
}

/* batch 51 over 230 samples: shares of 25/26 (2 ranks), 17 and 8/9/9 (3 ranks) */
static tg_fit_opts trainer_opts(const tg_replicas *r, progress_count *progress) {
    return (tg_fit_opts){.epochs = 2, .batch_size = 51, .dtype = TG_F64, .l2 = 1e-3, .seed = 5,
                         .schedule = {.kind = TG_LR_COSINE, .min_lr = 0.01}, .replicas = r,
                         .progress = count_progress, .progress_user = progress};
}

static void test_the_trainer_on_ranks_follows_the_trainer_alone_with_unequal_shares(void **state) {
    (void)state;
    int rank = dist_rank();
    tg_dataset *all = teacher_data(300), *train = NULL, *test = NULL;
    assert_int_equal(tg_dataset_split(all, 70.0 / 300, 1, &train, &test), TG_OK);
    tg_dist *d = tg_dist_new(MPI_COMM_WORLD, NULL);
    progress_count progress_parallel = {0}, progress_alone = {0};
    tg_model *m_parallel = model_for(d, TG_F64), *m_alone = model_for(NULL, TG_F64);
    tg_optim *o_parallel = tg_sgd_new(m_parallel->params, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
    tg_optim *o_alone = tg_sgd_new(m_alone->params, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
    tg_fit_opts fit_parallel = trainer_opts(tg_dist_replicas(d), &progress_parallel);
    tg_fit_opts fit_alone = trainer_opts(NULL, &progress_alone);
    tg_trainer *parallel = tg_trainer_new(m_parallel, o_parallel, train, test, &fit_parallel);
    tg_trainer *alone = tg_trainer_new(m_alone, o_alone, train, test, &fit_alone);
    assert_non_null(parallel);
    assert_non_null(alone);
    tg_status st = tg_trainer_fit(parallel);
    tg_status st_alone = tg_trainer_fit(alone);
    bool same_bits = dist_all_equal(MPI_COMM_WORLD, store_fingerprint(m_parallel->params));
    tg_dist_free(d);
    assert_int_equal(st, TG_OK);
    assert_int_equal(st_alone, TG_OK);
    assert_true(same_bits);
    double difference = store_relative_difference(m_parallel->params, m_alone->params);
    if (!(difference <= 1e-12)) print_error("relative difference %g\n", difference);
    assert_true(difference <= 1e-12);
    /* the history: the global batch's loss and accuracy at every step */
    const tg_history *hp = tg_trainer_history(parallel), *ha = tg_trainer_history(alone);
    assert_int_equal(hp->n_steps, ha->n_steps);
    assert_int_equal(hp->n_steps, 10); /* 230 / 51: 5 batches per epoch */
    for (int64_t k = 0; k < hp->n_steps; k++) assert_near(hp->step_loss[k], ha->step_loss[k], 1e-6);
    assert_near(hp->epochs[1].train_loss, ha->epochs[1].train_loss, 1e-12);
    assert_near(hp->epochs[1].train_accuracy, ha->epochs[1].train_accuracy, 0);
    assert_near(hp->epochs[1].test_accuracy, ha->epochs[1].test_accuracy, 0);
    /* progress from rank 0 only */
    assert_int_equal(progress_parallel.calls, rank == 0 ? progress_alone.calls : 0);
    tg_trainer_free(parallel);
    tg_trainer_free(alone);
    tg_optim_free(o_parallel);
    tg_optim_free(o_alone);
    tg_model_free(m_parallel);
    tg_model_free(m_alone);
    tg_dataset_free(train);
    tg_dataset_free(test);
    tg_dataset_free(all);
}

int main(int argc, char **argv) {
    dist_test_begin(&argc, &argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranks_with_batch_64_each_train_like_one_process_with_the_whole_batch_f64),
        cmocka_unit_test(test_ranks_with_batch_64_each_train_like_one_process_with_the_whole_batch_f32),
        cmocka_unit_test(test_the_cnn_on_ranks_trains_like_one_process_with_the_whole_batch_f64),
        cmocka_unit_test(test_the_cnn_on_ranks_trains_like_one_process_with_the_whole_batch_f32),
        cmocka_unit_test(test_one_two_and_three_ranks_sharing_one_global_batch_end_at_the_same_place),
        cmocka_unit_test(test_the_trainer_on_ranks_follows_the_trainer_alone_with_unequal_shares),
    };
    return dist_test_end(cmocka_run_group_tests_name("dist training", tests, NULL, NULL));
}
