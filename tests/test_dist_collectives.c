/* dist/'s collectives under mpirun: sums in rank order with the same bits on
 * every rank and on both paths (allgather, alltoall + allgather), a failed
 * rank named on every rank, parameters broadcast from rank 0, gradients
 * averaged in buckets of any size with the same bits, the replica-sum op's
 * gradient, and synchronised batchnorm equal to batchnorm of the whole batch. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "dist_testing.h"

/* The value rank r holds at i: reproducible on every rank. */
static double value_at(int rank, int64_t i) {
    return sin(0.37 * (double)i + 1.3 * rank) * (1.0 + 0.01 * (double)(i % 97)) + 1e-3 * rank;
}

/* sum over ranks in rank order, in the dtype's arithmetic */
static void expected_sum(tg_dtype dtype, void *out, int64_t count, int ranks) {
    for (int64_t i = 0; i < count; i++) {
        if (dtype == TG_F32) {
            float acc = (float)value_at(0, i);
            for (int r = 1; r < ranks; r++) acc += (float)value_at(r, i);
            ((float *)out)[i] = acc;
        } else {
            double acc = value_at(0, i);
            for (int r = 1; r < ranks; r++) acc += value_at(r, i);
            ((double *)out)[i] = acc;
        }
    }
}

static void fill(tg_dtype dtype, void *data, int64_t count, int rank) {
    for (int64_t i = 0; i < count; i++) {
        if (dtype == TG_F32)
            ((float *)data)[i] = (float)value_at(rank, i);
        else
            ((double *)data)[i] = value_at(rank, i);
    }
}

static void test_sum_adds_every_ranks_values_in_rank_order_on_both_paths(void **state) {
    (void)state;
    const int64_t counts[] = {0, 1, 7, 1000, 4099, 100003};
    const size_t small_bytes[] = {1, 1 << 30, 0}; /* always alltoall, always allgather, the default */
    int rank = dist_rank(), size = dist_size(), mismatches = 0, failures = 0;
    uint64_t hash = 0;
    for (size_t s = 0; s < 3; s++) {
        tg_dist *d = tg_dist_new(MPI_COMM_WORLD, &(tg_dist_opts){.small_bytes = small_bytes[s]});
        assert_non_null(d);
        for (int dt = 0; dt < 2; dt++) {
            tg_dtype dtype = dt ? TG_F64 : TG_F32;
            for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
                int64_t n = counts[c];
                size_t bytes = (size_t)(n ? n : 1) * tg_dtype_size(dtype);
                void *data = malloc(bytes), *want = malloc(bytes);
                fill(dtype, data, n, rank);
                expected_sum(dtype, want, n, size);
                failures += tg_dist_sum(d, dtype, data, n) != TG_OK;
                mismatches += memcmp(data, want, (size_t)n * tg_dtype_size(dtype)) != 0;
                hash = hash * 31 + (n ? XXH3_64bits(data, (size_t)n * tg_dtype_size(dtype)) : 0);
                free(data);
                free(want);
            }
        }
        tg_dist_free(d);
    }
    bool same_bits = dist_all_equal(MPI_COMM_WORLD, hash);
    assert_int_equal(failures, 0);
    assert_int_equal(mismatches, 0);
    assert_true(same_bits);
}

static void test_a_rank_that_failed_before_a_sum_makes_every_rank_fail_naming_it(void **state) {
    (void)state;
    int rank = dist_rank(), size = dist_size();
    if (size < 2) skip();
    tg_dist *d = tg_dist_new(MPI_COMM_WORLD, NULL);
    assert_non_null(d);
    const tg_replicas *r = tg_dist_replicas(d);
    int failed_rank = size - 1;
    double small[3] = {1, 2, 3};
    double *large = calloc(100000, sizeof *large);
    tg_status st_small = r->sum(r->user, TG_F64, rank == failed_rank ? NULL : small, 3, rank == failed_rank);
    char message_small[512];
    snprintf(message_small, sizeof message_small, "%s", tg_last_error());
    tg_status st_large = r->sum(r->user, TG_F64, large, 100000, rank == failed_rank);
    char message_large[512];
    snprintf(message_large, sizeof message_large, "%s", tg_last_error());
    /* the agreement names the rank that failed first, not those that only saw it */
    tg_status local = rank == failed_rank ? tg_set_error(TG_ERR_SHAPE, "tg_matmul: inner dimensions differ")
                                          : tg_set_error(TG_ERR_STATE, "echo of another rank's failure");
    tg_status agreed = tg_dist_agree(d, local);
    char message_agreed[512];
    snprintf(message_agreed, sizeof message_agreed, "%s", tg_last_error());
    tg_status all_fine = tg_dist_agree(d, TG_OK);
    tg_dist_free(d);
    free(large);

    char named[64];
    snprintf(named, sizeof named, "rank %d of %d", failed_rank, size);
    assert_int_not_equal(st_small, TG_OK);
    assert_int_not_equal(st_large, TG_OK);
    assert_error_mentions(message_small, named);
    assert_error_mentions(message_large, named);
    assert_int_equal(agreed, TG_ERR_SHAPE);
    assert_error_mentions(message_agreed, named);
    assert_error_mentions(message_agreed, "tg_matmul: inner dimensions differ");
    assert_int_equal(all_fine, TG_OK);
}

/* a store: w [3,4] f32, b [4] f64, a buffer [2] f64, values depending on `rank` */
static tg_params *store_of(int rank, bool extra) {
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_param(p, "w", TG_F32, 2, (int64_t[]){3, 4}, TG_INIT_ZEROS, NULL);
    tg_tensor *b = tg_param(p, "b", TG_F64, 1, (int64_t[]){4}, TG_INIT_ZEROS, NULL);
    tg_tensor *m = tg_buffer(p, "m", TG_F64, 1, (int64_t[]){2}, TG_INIT_ZEROS, NULL);
    assert_true(w && b && m);
    if (extra) assert_non_null(tg_param(p, "extra", TG_F32, 1, (int64_t[]){1}, TG_INIT_ZEROS, NULL));
    for (int i = 0; i < tg_params_count(p); i++) {
        tg_tensor *x = tg_params_at(p, i);
        for (int64_t k = 0; k < x->numel; k++) tg_set(x, k, value_at(rank, 10 * i + k));
        for (int64_t k = 0; x->grad && k < x->numel; k++) tg_set(x->grad, k, value_at(rank, 100 + 10 * i + k));
    }
    return p;
}

static void test_broadcast_gives_every_rank_rank_0s_parameters_and_buffers(void **state) {
    (void)state;
    tg_dist *d = tg_dist_new(MPI_COMM_WORLD, NULL);
    tg_params *mine = store_of(dist_rank(), false), *rank0 = store_of(0, false);
    tg_status st = tg_dist_broadcast_params(d, mine);
    uint64_t got = store_fingerprint(mine), want = store_fingerprint(rank0);
    tg_dist_free(d);
    tg_params_free(mine);
    tg_params_free(rank0);
    assert_int_equal(st, TG_OK);
    assert_true(got == want);
}

static void test_stores_of_different_layouts_are_refused_on_every_rank(void **state) {
    (void)state;
    if (dist_size() < 2) skip();
    tg_dist *d = tg_dist_new(MPI_COMM_WORLD, NULL);
    tg_params *p = store_of(dist_rank(), dist_rank() == 1);
    tg_status broadcast = tg_dist_broadcast_params(d, p);
    char message[512];
    snprintf(message, sizeof message, "%s", tg_last_error());
    tg_status average = tg_dist_average_grads(d, p);
    tg_dist_free(d);
    tg_params_free(p);
    assert_int_equal(broadcast, TG_ERR_STATE);
    assert_int_equal(average, TG_ERR_STATE);
    assert_error_mentions(message, "tg_dist_broadcast_params: the ranks' parameter stores differ");
}

/* w [33,5] f32, v [1000] f64, u [7] f32, a buffer, a parameter without ->grad use */
static tg_params *gradient_store(int rank) {
    tg_params *p = tg_params_new();
    assert_non_null(tg_param(p, "w", TG_F32, 2, (int64_t[]){33, 5}, TG_INIT_ZEROS, NULL));
    assert_non_null(tg_param(p, "v", TG_F64, 1, (int64_t[]){1000}, TG_INIT_ZEROS, NULL));
    assert_non_null(tg_buffer(p, "running", TG_F32, 1, (int64_t[]){3}, TG_INIT_ONES, NULL));
    assert_non_null(tg_param(p, "u", TG_F32, 1, (int64_t[]){7}, TG_INIT_ZEROS, NULL));
    for (int i = 0; i < tg_params_count(p); i++) {
        tg_tensor *x = tg_params_at(p, i);
        for (int64_t k = 0; x->grad && k < x->numel; k++) tg_set(x->grad, k, value_at(rank, 1000 * i + k));
    }
    return p;
}

/* mismatches of p's gradients with the rank-order mean of every rank's gradient_store */
static int mean_mismatches(const tg_params *p, int size) {
    int mismatches = 0;
    for (int i = 0; i < tg_params_count(p); i++) {
        const tg_tensor *x = tg_params_at(p, i);
        for (int64_t k = 0; x->grad && k < x->numel; k++) {
            double want;
            if (x->dtype == TG_F32) {
                float acc = (float)value_at(0, 1000 * i + k);
                for (int r = 1; r < size; r++) acc += (float)value_at(r, 1000 * i + k);
                want = acc / (float)size;
            } else {
                double acc = value_at(0, 1000 * i + k);
                for (int r = 1; r < size; r++) acc += value_at(r, 1000 * i + k);
                want = acc / size;
            }
            mismatches += tg_get(x->grad, k) != want;
        }
    }
    return mismatches;
}

static void test_averaged_gradients_are_the_rank_order_mean_whatever_the_bucket_size(void **state) {
    (void)state;
    /* one parameter per bucket, a few, one per dtype run, the default */
    const size_t buckets[] = {1, 64, 1 << 20, 0};
    int failures = 0, mismatches = 0;
    uint64_t hash = 0;
    for (int b = 0; b < 4; b++) {
        tg_dist *d = tg_dist_new(MPI_COMM_WORLD, &(tg_dist_opts){.bucket_bytes = buckets[b]});
        tg_params *p = gradient_store(dist_rank());
        failures += tg_dist_average_grads(d, p) != TG_OK;
        mismatches += mean_mismatches(p, dist_size());
        for (int i = 0; i < tg_params_count(p); i++)
            if (tg_params_at(p, i)->grad) hash = hash * 31 + tg_tensor_hash(tg_params_at(p, i)->grad);
        tg_params_free(p);
        tg_dist_free(d);
    }
    bool same_bits = dist_all_equal(MPI_COMM_WORLD, hash);
    assert_int_equal(failures, 0);
    assert_int_equal(mismatches, 0);
    assert_true(same_bits);
}

/* y = replica_sum(x_r), loss_r = sum(y * c_r): dloss/dx_r = sum over ranks of c_r' */
static void test_the_gradient_of_a_replica_sum_is_the_replica_sum_of_the_gradients(void **state) {
    (void)state;
    int rank = dist_rank(), size = dist_size();
    tg_dist *d = tg_dist_new(MPI_COMM_WORLD, NULL);
    tg_tape *t = tg_tape_new();
    double xs[4], cs[4], want_y[4] = {0}, want_g[4] = {0};
    for (int i = 0; i < 4; i++) {
        xs[i] = value_at(rank, i);
        cs[i] = value_at(rank, 50 + i);
        for (int r = 0; r < size; r++) {
            want_y[i] += value_at(r, i);
            want_g[i] += value_at(r, 50 + i);
        }
    }
    tg_tensor *x = tg_tensor_from(t, TG_F64, SHAPE(2, 2), xs);
    tg_requires_grad(x);
    tg_tensor *y = tg_replica_sum(t, x, tg_dist_replicas(d));
    tg_tensor *loss = tg_sum(t, tg_mul(t, y, tg_tensor_from(t, TG_F64, SHAPE(2, 2), cs)), NULL, 0, false);
    tg_status st = tg_backward(t, loss, NULL);
    double got_y[4], got_g[4];
    for (int i = 0; i < 4; i++) {
        got_y[i] = y ? tg_get(y, i) : NAN;
        got_g[i] = x->grad ? tg_get(x->grad, i) : NAN;
    }
    tg_tape_free(t);
    tg_dist_free(d);
    assert_int_equal(st, TG_OK);
    for (int i = 0; i < 4; i++) {
        assert_near(got_y[i], want_y[i], 1e-12);
        assert_near(got_g[i], want_g[i], 1e-12);
    }
}

/* The whole batch [rows,C] (the same on every rank), each rank holding rows
 * [rank rows / size, (rank + 1) rows / size): synchronised batchnorm of the
 * shares is batchnorm of the whole; gamma's and beta's gradients summed over
 * the ranks are the whole batch's. */
static void test_synchronised_batchnorm_of_the_shares_is_batchnorm_of_the_whole_batch(void **state) {
    (void)state;
    int rank = dist_rank(), size = dist_size();
    enum { ROWS = 12, C = 3 };
    double whole[ROWS * C], gout[ROWS * C];
    for (int i = 0; i < ROWS * C; i++) {
        whole[i] = 2.0 * value_at(7, i) + 0.5 * (i % C);
        gout[i] = cos(0.7 * i);
    }
    int first = ROWS * rank / size, last = ROWS * (rank + 1) / size, rows = last - first;
    tg_dist *d = tg_dist_new(MPI_COMM_WORLD, NULL);
    tg_params *p_sync = tg_params_new(), *p_whole = tg_params_new();
    tg_batchnorm_state bn_sync, bn_whole;
    assert_int_equal(tg_batchnorm_init(&bn_sync, p_sync, "bn", TG_F64, C), TG_OK);
    assert_int_equal(tg_batchnorm_init(&bn_whole, p_whole, "bn", TG_F64, C), TG_OK);
    bn_sync.sync = tg_dist_replicas(d);
    for (int c = 0; c < C; c++) {
        tg_set(bn_sync.gamma, c, 1.0 + 0.25 * c);
        tg_set(bn_whole.gamma, c, 1.0 + 0.25 * c);
        tg_set(bn_sync.beta, c, -0.5 * c);
        tg_set(bn_whole.beta, c, -0.5 * c);
    }
    tg_tape *t = tg_tape_new();
    tg_tensor *xs = tg_tensor_from(t, TG_F64, 2, (int64_t[]){rows, C}, whole + first * C);
    tg_tensor *xw = tg_tensor_from(t, TG_F64, SHAPE(ROWS, C), whole);
    tg_requires_grad(xs);
    tg_requires_grad(xw);
    tg_tensor *ys = tg_batchnorm(t, xs, &bn_sync, true);
    tg_tensor *yw = tg_batchnorm(t, xw, &bn_whole, true);
    tg_status st = tg_backward(t, ys, &(tg_backward_opts){
                                          .grad_output = tg_tensor_from(t, TG_F64, 2, (int64_t[]){rows, C},
                                                                        gout + first * C)});
    if (!st)
        st = tg_backward(t, yw, &(tg_backward_opts){.grad_output = tg_tensor_from(t, TG_F64, SHAPE(ROWS, C), gout)});
    /* per-rank parameter gradients add up to the whole batch's */
    double affine[2 * C];
    for (int c = 0; c < C; c++) {
        affine[c] = tg_get(bn_sync.gamma->grad, c);
        affine[C + c] = tg_get(bn_sync.beta->grad, c);
    }
    if (!st) st = tg_dist_sum(d, TG_F64, affine, 2 * C);
    double worst_y = 0, worst_g = 0, worst_affine = 0, worst_running = 0;
    for (int i = 0; ys && yw && i < rows * C; i++) {
        worst_y = fmax(worst_y, fabs(tg_get(ys, i) - tg_get(yw, first * C + i)));
        worst_g = fmax(worst_g, fabs(tg_get(xs->grad, i) - tg_get(xw->grad, first * C + i)));
    }
    for (int c = 0; c < C; c++) {
        worst_affine = fmax(worst_affine, fabs(affine[c] - tg_get(bn_whole.gamma->grad, c)));
        worst_affine = fmax(worst_affine, fabs(affine[C + c] - tg_get(bn_whole.beta->grad, c)));
        worst_running = fmax(worst_running, fabs(tg_get(bn_sync.running_mean, c) - tg_get(bn_whole.running_mean, c)));
        worst_running = fmax(worst_running, fabs(tg_get(bn_sync.running_var, c) - tg_get(bn_whole.running_var, c)));
    }
    tg_tape_free(t);
    tg_params_free(p_sync);
    tg_params_free(p_whole);
    tg_dist_free(d);
    assert_int_equal(st, TG_OK);
    assert_true(worst_y < 1e-12);
    assert_true(worst_g < 1e-12);
    assert_true(worst_affine < 1e-12);
    assert_true(worst_running < 1e-12);
}

int main(int argc, char **argv) {
    dist_test_begin(&argc, &argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sum_adds_every_ranks_values_in_rank_order_on_both_paths),
        cmocka_unit_test(test_a_rank_that_failed_before_a_sum_makes_every_rank_fail_naming_it),
        cmocka_unit_test(test_broadcast_gives_every_rank_rank_0s_parameters_and_buffers),
        cmocka_unit_test(test_stores_of_different_layouts_are_refused_on_every_rank),
        cmocka_unit_test(test_averaged_gradients_are_the_rank_order_mean_whatever_the_bucket_size),
        cmocka_unit_test(test_the_gradient_of_a_replica_sum_is_the_replica_sum_of_the_gradients),
        cmocka_unit_test(test_synchronised_batchnorm_of_the_shares_is_batchnorm_of_the_whole_batch),
    };
    return dist_test_end(cmocka_run_group_tests_name("dist collectives", tests, NULL, NULL));
}
