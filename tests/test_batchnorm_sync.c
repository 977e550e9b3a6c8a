/* Synchronised batchnorm and tg_replica_sum in one process, with replicas
 * played by hooks: alone (tg_replicas_single) it is batchnorm, to the bit;
 * over k replicas holding copies of one batch it normalises like batchnorm
 * of that batch and the gradient through the sums matches; a replica that
 * failed still takes part in the sums (so no other replica waits), and a
 * failed one leaves the running statistics as they were; the
 * replica sum's gradient is the replica sum of the gradient. (Across real
 * processes: tests/test_dist_collectives.c.) */
#include "testing.h"

/* k replicas holding the same values: the sum is k times them */
typedef struct {
    int calls, failed_calls;
    int64_t last_count;
    bool refuse;
    int refuse_from_call; /* 0: never */
} copies;
static tg_status copies_sum(void *user, tg_dtype dtype, void *data, int64_t count, bool failed) {
    copies *c = user;
    c->calls++;
    c->failed_calls += failed;
    c->last_count = count;
    if (failed || c->refuse || (c->refuse_from_call && c->calls >= c->refuse_from_call)) return tg_set_error(TG_ERR_STATE, "rank 1 of 3 failed before this sum over ranks");
    for (int64_t i = 0; i < count; i++) {
        if (dtype == TG_F32)
            ((float *)data)[i] *= 3;
        else
            ((double *)data)[i] *= 3;
    }
    return TG_OK;
}
static copies three_state;
static const tg_replicas three = {0, 3, &three_state, copies_sum, NULL, NULL, NULL};

static const double X[12] = {0.5, -1.25, 2.0, 0.75, 1.5, -0.5, -2.25, 0.25, 1.0, 3.0, -0.75, 0.125};

typedef struct {
    tg_params *p;
    tg_batchnorm_state bn;
} layer;

static layer bn_layer(const tg_replicas *sync) {
    layer l = {tg_params_new()};
    assert_int_equal(tg_batchnorm_init(&l.bn, l.p, "bn", TG_F64, 3), TG_OK);
    for (int c = 0; c < 3; c++) {
        tg_set(l.bn.gamma, c, 0.5 + c);
        tg_set(l.bn.beta, c, 0.1 * c);
    }
    l.bn.sync = sync;
    return l;
}

/* forward and backward of a [4,3] batch with grad_output cos(i): y, x->grad into out */
static void run(layer *l, double y[12], double gx[12]) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_from(t, TG_F64, SHAPE(4, 3), X);
    tg_requires_grad(x);
    tg_tensor *out = tg_batchnorm(t, x, &l->bn, true);
    assert_non_null(out);
    double g[12];
    for (int i = 0; i < 12; i++) g[i] = cos((double)i);
    assert_int_equal(tg_backward(t, out, &(tg_backward_opts){.grad_output = tg_tensor_from(t, TG_F64, SHAPE(4, 3), g)}),
                     TG_OK);
    for (int i = 0; i < 12; i++) {
        y[i] = tg_get(out, i);
        gx[i] = tg_get(x->grad, i);
    }
    tg_tape_free(t);
}

static void test_synchronised_batchnorm_alone_is_batchnorm_to_the_bit(void **state) {
    (void)state;
    layer local = bn_layer(NULL), alone = bn_layer(tg_replicas_single());
    double y1[12], g1[12], y2[12], g2[12];
    run(&local, y1, g1);
    run(&alone, y2, g2);
    assert_memory_equal(y1, y2, sizeof y1);
    assert_memory_equal(g1, g2, sizeof g1);
    for (int i = 0; i < 4; i++) {
        const tg_tensor *a = tg_params_at(local.p, i), *b = tg_params_at(alone.p, i);
        assert_true(tg_tensor_hash(a) == tg_tensor_hash(b));
        if (a->grad) assert_true(tg_tensor_hash(a->grad) == tg_tensor_hash(b->grad));
    }
    tg_params_free(local.p);
    tg_params_free(alone.p);
}

/* Three replicas with the same batch: the global batch is three copies, so
 * its statistics are the batch's, each replica's input gradient is plain
 * batchnorm's, and running_var takes the unbiased variance over 3 x 4 values. */
static void test_over_replicas_holding_copies_the_statistics_are_the_copys(void **state) {
    (void)state;
    three_state = (copies){0};
    layer local = bn_layer(NULL), synced = bn_layer(&three);
    double y1[12], g1[12], y2[12], g2[12];
    run(&local, y1, g1);
    run(&synced, y2, g2);
    for (int i = 0; i < 12; i++) {
        assert_near(y2[i], y1[i], 1e-12);
        assert_near(g2[i], g1[i], 1e-12);
    }
    /* count, shift, sum, sum of squares forward; the two sums again backward */
    assert_int_equal(three_state.calls, 6);
    assert_int_equal(three_state.failed_calls, 0);
    for (int c = 0; c < 3; c++) {
        double mean = 0, ss = 0;
        for (int r = 0; r < 4; r++) mean += X[3 * r + c] / 4;
        for (int r = 0; r < 4; r++) ss += (X[3 * r + c] - mean) * (X[3 * r + c] - mean);
        assert_near(tg_get(synced.bn.running_mean, c), 0.1 * mean, 1e-12);
        assert_near(tg_get(synced.bn.running_var, c), 0.9 + 0.1 * (3 * ss) / (12 - 1), 1e-12);
    }
    tg_params_free(local.p);
    tg_params_free(synced.p);
}

static void test_a_replica_that_failed_still_takes_part_and_fails(void **state) {
    (void)state;
    three_state = (copies){0};
    layer l = bn_layer(&three);
    /* NULL input (an earlier op failed): one sum, as failed, with the count's size */
    assert_null(tg_batchnorm(tape, NULL, &l.bn, true));
    assert_int_equal(three_state.calls, 1);
    assert_int_equal(three_state.failed_calls, 1);
    tg_tape_clear_error(tape);
    /* a wrong channel count: takes part as failed too, and says what is wrong */
    tg_tensor *x4 = tg_zeros(tape, TG_F64, SHAPE(2, 4));
    assert_null(tg_batchnorm(tape, x4, &l.bn, true));
    assert_int_equal(three_state.failed_calls, 2);
    assert_error("tg_batchnorm", "f64[2,4]");
    /* another replica failed: every sum reports it, the op fails naming it */
    three_state.refuse = true;
    tg_tensor *x = tg_tensor_from(tape, TG_F64, SHAPE(4, 3), X);
    assert_null(tg_batchnorm(tape, x, &l.bn, true));
    assert_error("tg_batchnorm", "rank 1 of 3 failed");
    /* evaluation uses the running statistics: no sums */
    int calls = three_state.calls;
    assert_non_null(tg_batchnorm(tape, x, &l.bn, false));
    assert_int_equal(three_state.calls, calls);
    tg_params_free(l.p);
}

/* the count and the sums agreed, the squared deviations refused by another
 * replica: the op fails and the running statistics are as they were */
static void test_a_failed_synchronised_batchnorm_leaves_the_running_statistics_as_they_were(void **state) {
    (void)state;
    three_state = (copies){.refuse_from_call = 3};
    layer l = bn_layer(&three);
    tg_tensor *x = tg_tensor_from(tape, TG_F64, SHAPE(4, 3), X);
    assert_null(tg_batchnorm(tape, x, &l.bn, true));
    assert_error("tg_replica_sum: f64[1,3] over 3 replicas", "rank 1 of 3 failed");
    assert_int_equal(three_state.calls, 3);
    ASSERT_VALUES(l.bn.running_mean, 0, 0, 0, 0);
    ASSERT_VALUES(l.bn.running_var, 0, 1, 1, 1);
    assert_int_equal(l.bn.num_batches_tracked, 0);
    tg_params_free(l.p);
}

static void test_a_single_value_per_channel_over_all_replicas_is_enough_to_train(void **state) {
    (void)state;
    three_state = (copies){0};
    layer l = bn_layer(&three);
    /* one row here, three rows in all: training is defined (alone it is an error) */
    tg_tensor *one = tg_tensor_from(tape, TG_F64, SHAPE(1, 3), X);
    assert_non_null(tg_batchnorm(tape, one, &l.bn, true));
    l.bn.sync = tg_replicas_single();
    assert_null(tg_batchnorm(tape, one, &l.bn, true));
    assert_error("tg_batchnorm", "the 1 replicas have 1 in all");
    tg_params_free(l.p);
}

static void test_the_replica_sum_sums_and_its_gradient_is_the_replica_sum_of_the_gradient(void **state) {
    (void)state;
    three_state = (copies){0};
    tg_tensor *x = T64(tape, SHAPE(3), 1, -2, 0.5);
    tg_requires_grad(x);
    tg_tensor *y = tg_replica_sum(tape, x, &three);
    ASSERT_VALUES(y, 0, 3, -6, 1.5);
    tg_tensor *loss = tg_sum(tape, tg_mul(tape, y, T64(tape, SHAPE(3), 2, 1, -1)), NULL, 0, false);
    assert_int_equal(tg_backward(tape, loss, NULL), TG_OK);
    ASSERT_VALUES(x->grad, 0, 6, 3, -3);
    assert_string_equal(y->node->op->name, "replica_sum");
    char text[32];
    y->node->op->describe(y->node, text, sizeof text);
    assert_string_equal(text, "replicas=3");
    /* errors */
    assert_null(tg_replica_sum(tape, x, NULL));
    assert_error("tg_replica_sum", "f64[3]");
    assert_null(tg_replica_sum(tape, NULL, &three));
    tg_tape_clear_error(tape);
    three_state.refuse = true;
    assert_null(tg_replica_sum(tape, x, &three));
    assert_error("tg_replica_sum: f64[3] over 3 replicas", "rank 1 of 3 failed");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synchronised_batchnorm_alone_is_batchnorm_to_the_bit),
        cmocka_unit_test(test_over_replicas_holding_copies_the_statistics_are_the_copys),
        cmocka_unit_test_setup_teardown(test_a_replica_that_failed_still_takes_part_and_fails, tape_setup,
                                        tape_teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_synchronised_batchnorm_leaves_the_running_statistics_as_they_were,
                                        tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_a_single_value_per_channel_over_all_replicas_is_enough_to_train,
                                        tape_setup, tape_teardown),
        cmocka_unit_test_setup_teardown(test_the_replica_sum_sums_and_its_gradient_is_the_replica_sum_of_the_gradient,
                                        tape_setup, tape_teardown),
    };
    return cmocka_run_group_tests_name("synchronised batchnorm", tests, NULL, NULL);
}
