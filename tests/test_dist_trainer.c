/* The data-parallel trainer under mpirun: an error on one rank (a bad shape
 * before a synchronised batchnorm of an MLP or of the cnn, after the last
 * one, or in a model without one) stops every rank after the same step with that rank's message instead
 * of leaving the others waiting in a collective; a stop request on one rank
 * stops all; rank 0 alone writes checkpoints, every rank resumes them to
 * the same bits as a run that never stopped; a checkpoint one rank cannot
 * read is refused by all. */
#define _GNU_SOURCE /* mkdtemp, setenv */
#include <unistd.h>

#include "dist_testing.h"

enum { FEATURES = 6, CLASSES = 3 };

static tg_dataset *blobs(int64_t n) {
    tg_rng rng = tg_rng_new(17);
    double *x = malloc(sizeof *x * (size_t)(n * FEATURES));
    int64_t *labels = malloc(sizeof *labels * (size_t)n);
    for (int64_t s = 0; s < n; s++) {
        labels[s] = s % CLASSES;
        for (int f = 0; f < FEATURES; f++) x[s * FEATURES + f] = tg_rng_normal(&rng) + (f % CLASSES == labels[s]);
    }
    tg_dataset *ds = tg_dataset_from(TG_F64, 2, (int64_t[]){n, FEATURES}, x, labels, NULL, 0);
    free(x);
    free(labels);
    assert_non_null(ds);
    return ds;
}

/* A model that goes wrong on one rank at one training call: an MLP with or
 * without batchnorm, or the cnn on the features as 1x2x3 images. */
typedef enum { MLP, MLP_BATCHNORM, CNN_BATCHNORM } model_kind;
typedef enum { NOTHING, BEFORE_BATCHNORM, AFTER_BATCHNORM, STOP } mishap;
typedef struct faulty {
    tg_model base;
    tg_model *inner;
    int rank, at_call, calls;
    mishap what;
    volatile sig_atomic_t *stop;
} faulty;

static tg_tensor *faulty_forward(tg_tape *t, tg_model *base, tg_tensor *x, bool training) {
    faulty *m = (faulty *)base;
    bool now = training && ++m->calls == m->at_call && dist_rank() == m->rank;
    if (now && m->what == BEFORE_BATCHNORM) x = tg_slice(t, x, 1, 0, FEATURES - 1); /* [n,5] into fc1 [6,8] */
    if (now && m->what == STOP) *m->stop = 1;
    tg_tensor *out = m->inner->forward(t, m->inner, x, training);
    if (now && m->what == AFTER_BATCHNORM) out = tg_reshape(t, out, 1, (int64_t[]){-1}); /* logits [3n] */
    return out;
}

static void faulty_free(tg_model *base) {
    faulty *m = (faulty *)base;
    tg_model_free(m->inner);
    free(m);
}

static tg_model *faulty_model(tg_dist *d, model_kind kind, mishap what, int at_call, volatile sig_atomic_t *stop) {
    faulty *m = calloc(1, sizeof *m);
    tg_mlp_opts o = {.inputs = FEATURES, .hidden = {8, 8}, .n_hidden = 2, .outputs = CLASSES,
                     .activation = TG_ACT_TANH, .batchnorm = kind == MLP_BATCHNORM, .dtype = TG_F64,
                     .replicas = tg_dist_replicas(d)};
    tg_cnn_opts c = {.channels = 1, .height = 2, .width = 3, .conv = {4}, .n_conv = 1, .hidden = {8}, .n_hidden = 1,
                     .outputs = CLASSES, .batchnorm = true, .dtype = TG_F64, .replicas = tg_dist_replicas(d)};
    m->inner = kind == CNN_BATCHNORM ? tg_cnn_new(&c, 4) : tg_mlp_new(&o, 4);
    assert_non_null(m->inner);
    m->base = (tg_model){.params = m->inner->params, .forward = faulty_forward, .free = faulty_free};
    snprintf(m->base.description, sizeof m->base.description, "faulty %s", kind == CNN_BATCHNORM ? "cnn" : "mlp");
    m->rank = dist_size() - 1;
    m->at_call = at_call;
    m->what = what;
    m->stop = stop;
    return &m->base;
}

typedef struct run {
    tg_status status;
    char message[512];
    int64_t steps;
    bool stopped;
    uint64_t fingerprint;
} run;

/* Trains a faulty model data parallel for up to `epochs` (resuming `resume`
 * first when given), saving to `save` when given. */
static run train(model_kind kind, mishap what, int at_call, int64_t epochs, int64_t max_steps, const char *save,
                 const char *resume) {
    tg_dist *d = tg_dist_new(MPI_COMM_WORLD, NULL);
    volatile sig_atomic_t stop = 0;
    tg_model *model = faulty_model(d, kind, what, at_call, &stop);
    tg_optim *opt = tg_sgd_new(model->params, (tg_sgd_opts){.lr = 0.05, .momentum = 0.9});
    tg_dataset *ds = blobs(120);
    tg_fit_opts fit = {.epochs = epochs, .batch_size = 20, .dtype = TG_F64, .l2 = 1e-3, .seed = 2,
                       .max_steps = max_steps, .stop = &stop, .checkpoint_path = save,
                       .replicas = tg_dist_replicas(d)};
    tg_trainer *tr = tg_trainer_new(model, opt, ds, NULL, &fit);
    assert_non_null(tr);
    run r = {0};
    r.status = resume ? tg_trainer_resume(tr, resume) : TG_OK;
    if (!r.status) r.status = tg_trainer_fit(tr);
    snprintf(r.message, sizeof r.message, "%s", r.status ? tg_last_error() : "");
    r.steps = tg_trainer_steps(tr);
    r.stopped = tg_trainer_stopped(tr);
    r.fingerprint = store_fingerprint(model->params);
    tg_trainer_free(tr);
    tg_dataset_free(ds);
    tg_optim_free(opt);
    tg_model_free(model);
    tg_dist_free(d);
    return r;
}

static void check_stopped_everywhere_by(const run *r, tg_status status, const char *op) {
    char named[64];
    snprintf(named, sizeof named, "rank %d of %d", dist_size() - 1, dist_size());
    assert_int_equal(r->status, status);
    assert_error_mentions(r->message, named);
    assert_error_mentions(r->message, op);
    assert_int_equal(r->steps, 2); /* the third step failed everywhere */
}

static void test_a_bad_shape_on_one_rank_before_a_synchronised_batchnorm_stops_every_rank(void **state) {
    (void)state;
    if (dist_size() < 2) skip(); /* the other ranks are what it is about */
    run r = train(MLP_BATCHNORM, BEFORE_BATCHNORM, 3, 1, 0, NULL, NULL);
    check_stopped_everywhere_by(&r, TG_ERR_SHAPE, "tg_matmul: inner dimensions differ");
}

static void test_a_bad_shape_on_one_rank_before_a_synchronised_batchnorm_of_the_cnn_stops_every_rank(void **state) {
    (void)state;
    if (dist_size() < 2) skip(); /* the other ranks are what it is about */
    run r = train(CNN_BATCHNORM, BEFORE_BATCHNORM, 3, 1, 0, NULL, NULL);
    check_stopped_everywhere_by(&r, TG_ERR_SHAPE, "tg_reshape");
}

static void test_a_bad_shape_on_one_rank_after_the_last_batchnorm_stops_every_rank(void **state) {
    (void)state;
    if (dist_size() < 2) skip(); /* the other ranks are what it is about */
    run r = train(MLP_BATCHNORM, AFTER_BATCHNORM, 3, 1, 0, NULL, NULL);
    check_stopped_everywhere_by(&r, TG_ERR_SHAPE, "tg_cross_entropy");
}

static void test_a_bad_shape_on_one_rank_of_a_model_without_batchnorm_stops_every_rank(void **state) {
    (void)state;
    if (dist_size() < 2) skip(); /* the other ranks are what it is about */
    run r = train(MLP, BEFORE_BATCHNORM, 3, 1, 0, NULL, NULL);
    check_stopped_everywhere_by(&r, TG_ERR_SHAPE, "tg_matmul: inner dimensions differ");
}

static void test_a_stop_request_on_one_rank_stops_every_rank_after_the_same_step(void **state) {
    (void)state;
    run r = train(MLP_BATCHNORM, STOP, 3, 2, 0, NULL, NULL);
    assert_int_equal(r.status, TG_OK);
    assert_true(r.stopped);
    assert_int_equal(r.steps, 3);
}

/* a fresh directory, the same name on every rank */
static void shared_directory(char *dir, size_t size) {
    if (dist_rank() == 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, size, "%s/tapegrad-dist-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) dir[0] = '\0';
    }
    MPI_Bcast(dir, (int)size, MPI_CHAR, 0, MPI_COMM_WORLD);
    assert_true(dir[0] != '\0');
}

static void remove_directory(const char *dir) {
    MPI_Barrier(MPI_COMM_WORLD);
    if (dist_rank() == 0) {
        char command[600];
        snprintf(command, sizeof command, "rm -rf '%s'", dir);
        assert_int_equal(system(command), 0);
    }
}

static void test_rank_0_alone_writes_checkpoints_and_every_rank_resumes_them_exactly(void **state) {
    (void)state;
    char dir[256], mine[300], rank0[300], other[300];
    shared_directory(dir, sizeof dir);
    snprintf(mine, sizeof mine, "%s/run-%d.tg", dir, dist_rank());
    snprintf(rank0, sizeof rank0, "%s/run-0.tg", dir);
    snprintf(other, sizeof other, "%s/run-%d.tg", dir, dist_size() - 1);
    /* each rank names its own file: only rank 0's is written */
    run first = train(MLP_BATCHNORM, NOTHING, 0, 3, 8, mine, NULL);
    MPI_Barrier(MPI_COMM_WORLD);
    bool rank0_wrote = access(rank0, F_OK) == 0, other_wrote = access(other, F_OK) == 0;
    run resumed = train(MLP_BATCHNORM, NOTHING, 0, 3, 0, NULL, rank0);
    run straight = train(MLP_BATCHNORM, NOTHING, 0, 3, 0, NULL, NULL);
    remove_directory(dir);
    assert_int_equal(first.status, TG_OK);
    assert_true(first.stopped);
    assert_int_equal(first.steps, 8);
    assert_true(rank0_wrote);
    assert_true(dist_size() == 1 || !other_wrote);
    assert_int_equal(resumed.status, TG_OK);
    assert_int_equal(resumed.steps, 18); /* 3 epochs of 6 batches */
    assert_true(resumed.fingerprint == straight.fingerprint);
    assert_true(dist_all_equal(MPI_COMM_WORLD, resumed.fingerprint));
}

static void test_a_checkpoint_one_rank_cannot_read_is_refused_by_every_rank(void **state) {
    (void)state;
    if (dist_size() < 2) skip();
    char dir[256], path[300];
    shared_directory(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/run.tg", dir);
    run saved = train(MLP_BATCHNORM, NOTHING, 0, 1, 3, path, NULL);
    /* the last rank looks for another file */
    char missing[320];
    snprintf(missing, sizeof missing, "%s/missing.tg", dir);
    run resumed = train(MLP_BATCHNORM, NOTHING, 0, 1, 0, NULL, dist_rank() == dist_size() - 1 ? missing : path);
    remove_directory(dir);
    assert_int_equal(saved.status, TG_OK);
    assert_int_not_equal(resumed.status, TG_OK);
    assert_error_mentions(resumed.message, "missing.tg");
    assert_int_equal(resumed.steps, 0); /* nobody loaded the 3 steps of the file */
}

int main(int argc, char **argv) {
    dist_test_begin(&argc, &argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_bad_shape_on_one_rank_before_a_synchronised_batchnorm_stops_every_rank),
        cmocka_unit_test(test_a_bad_shape_on_one_rank_before_a_synchronised_batchnorm_of_the_cnn_stops_every_rank),
        cmocka_unit_test(test_a_bad_shape_on_one_rank_after_the_last_batchnorm_stops_every_rank),
        cmocka_unit_test(test_a_bad_shape_on_one_rank_of_a_model_without_batchnorm_stops_every_rank),
        cmocka_unit_test(test_a_stop_request_on_one_rank_stops_every_rank_after_the_same_step),
        cmocka_unit_test(test_rank_0_alone_writes_checkpoints_and_every_rank_resumes_them_exactly),
        cmocka_unit_test(test_a_checkpoint_one_rank_cannot_read_is_refused_by_every_rank),
    };
    return dist_test_end(cmocka_run_group_tests_name("dist trainer", tests, NULL, NULL));
}
