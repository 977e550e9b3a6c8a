/* Optimizer state as a first-class object: state tensors by name, export,
 * check and import (all or nothing), save and load, and exact resume: an
 * optimizer restored from a checkpoint continues with the same bits. */
#include <stdio.h>

#include "testing.h"

/* ---- state by name ---- */

static void test_state_tensors_are_readable_by_name_after_the_first_update(void **state) {
    (void)state;
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_param(p, "w", TG_F32, SHAPE(2), TG_INIT_ONES, NULL);
    tg_set(w->grad, 0, 0.5);
    tg_set(w->grad, 1, -2);
    tg_adam_opts o = tg_adam_defaults();
    o.amsgrad = true;
    tg_optim *opt = tg_adam_new(p, o);
    assert_null(tg_optim_state(opt, "w", "exp_avg"));
    assert_int_equal(tg_last_status(), TG_ERR_STATE);
    assert_error_mentions(tg_last_error(), "'w' has no exp_avg yet");
    assert_int_equal(tg_optim_step(opt), TG_OK);
    tg_tensor *m = tg_optim_state(opt, "w", "exp_avg"), *v = tg_optim_state(opt, "w", "exp_avg_sq");
    tg_tensor *v_max = tg_optim_state(opt, "w", "max_exp_avg_sq");
    assert_non_null(m);
    assert_true(m->dtype == TG_F32);
    assert_shape(m, SHAPE(2));
    ASSERT_VALUES(m, 1e-7, 0.05, -0.2);      /* (1 - beta1) g */
    ASSERT_VALUES(v, 1e-9, 0.00025, 0.004);  /* (1 - beta2) g^2 */
    ASSERT_VALUES(v_max, 1e-9, 0.00025, 0.004);
    assert_int_equal(tg_optim_param_steps(opt, "w"), 1);
    /* the tensor is the state: changing it changes the next step */
    tg_set(m, 0, 0);
    tg_set(m, 1, 0);
    tg_set(w->grad, 0, 0);
    tg_set(w->grad, 1, 0);
    float before[2] = {((float *)w->data)[0], ((float *)w->data)[1]};
    assert_int_equal(tg_optim_step(opt), TG_OK);
    assert_memory_equal(w->data, before, sizeof before); /* m = 0 and g = 0: no move */
    assert_null(tg_optim_state(opt, "w", "momentum_buffer"));
    assert_error_mentions(tg_last_error(), "tg_adam keeps no state 'momentum_buffer' (its states: exp_avg, "
                                           "exp_avg_sq, max_exp_avg_sq)");
    assert_null(tg_optim_state(opt, "x", "exp_avg"));
    assert_error_mentions(tg_last_error(), "no parameter 'x'");
    tg_optim_free(opt);
    opt = tg_sgd_new(p, (tg_sgd_opts){.lr = 0.1});
    assert_null(tg_optim_state(opt, "w", "momentum_buffer")); /* no momentum: no buffer */
    assert_error_mentions(tg_last_error(), "'w' has no momentum_buffer yet");
    tg_optim_free(opt);
    tg_params_free(p);
}

/* ---- exact resume ---- */

enum { FIRST_STEPS = 3, MORE_STEPS = 3 };

/* fc1.weight [300,300] is above TG_PARALLEL_MIN, so steps run in parallel */
static tg_params *model_new(tg_dtype dtype, tg_init init) {
    tg_rng rng = tg_rng_new(7);
    tg_params *p = tg_params_new();
    assert_non_null(tg_param(p, "fc1.weight", dtype, SHAPE(300, 300), init, &rng));
    assert_non_null(tg_param(p, "fc1.bias", dtype, SHAPE(300), init, &rng));
    assert_non_null(tg_buffer(p, "bn1.running_mean", dtype, SHAPE(300), TG_INIT_ZEROS, NULL));
    assert_non_null(tg_param(p, "bn1.weight", dtype, SHAPE(300), init, &rng));
    assert_non_null(tg_param(p, "fc2.weight", dtype, SHAPE(300, 3), init, &rng));
    return p;
}

/* Step k's gradients, the same whatever ran before; bn1.weight has none at steps 1 and 4. */
static void set_grads(tg_params *p, int k, tg_tensor **dropped) {
    *dropped = NULL;
    for (int j = 0; j < tg_params_count(p); j++) {
        tg_tensor *x = tg_params_at(p, j);
        if (!x->grad) continue;
        tg_rng rng = tg_rng_new(1000 + (uint64_t)k * 10 + (uint64_t)j);
        for (int64_t i = 0; i < x->numel; i++) tg_set(x->grad, i, tg_rng_normal(&rng));
        if (strcmp(x->name, "bn1.weight") == 0 && (k == 1 || k == 4)) {
            *dropped = x->grad;
            x->grad = NULL;
        }
    }
}

static void steps(tg_params *p, tg_optim *opt, int from, int to) {
    for (int k = from; k < to; k++) {
        tg_tensor *dropped;
        set_grads(p, k, &dropped);
        assert_int_equal(tg_optim_step(opt), TG_OK);
        if (dropped) tg_params_get(p, "bn1.weight")->grad = dropped;
    }
}

static uint64_t store_hash(const tg_params *p) {
    uint64_t h = 0;
    for (int j = 0; j < tg_params_count(p); j++) h = h * 31 + tg_tensor_hash(tg_params_at(p, j));
    return h;
}

typedef tg_optim *(*maker)(tg_params *);

static tg_optim *sgd_momentum_groups(tg_params *p) {
    tg_optim *opt = tg_sgd_new(p, (tg_sgd_opts){.lr = 0.01, .momentum = 0.9, .dampening = 0.1, .weight_decay = 1e-3});
    tg_optim_add_group(opt, "*.bias|bn*", (tg_optim_group_opts){.weight_decay = TG_OVERRIDE(0), .lr = TG_OVERRIDE(0.05)});
    return opt;
}
static tg_optim *sgd_nesterov_maximize(tg_params *p) {
    return tg_sgd_new(p, (tg_sgd_opts){.lr = 0.01, .momentum = 0.9, .nesterov = true, .maximize = true});
}
static tg_optim *adam_groups(tg_params *p) {
    tg_adam_opts o = tg_adam_defaults();
    o.lr = 0.01;
    o.weight_decay = 1e-2;
    tg_optim *opt = tg_adam_new(p, o);
    tg_optim_add_group(opt, "bn*", (tg_optim_group_opts){.beta1 = TG_OVERRIDE(0.8), .beta2 = TG_OVERRIDE(0.99)});
    return opt;
}
static tg_optim *adamw_amsgrad_maximize(tg_params *p) {
    tg_adam_opts o = tg_adamw_defaults();
    o.amsgrad = o.maximize = true;
    tg_optim *opt = tg_adam_new(p, o);
    tg_optim_add_group(opt, "*.bias", (tg_optim_group_opts){.weight_decay = TG_OVERRIDE(0)});
    return opt;
}

/* A: FIRST_STEPS steps (the lr halved by hand in one group before the last),
 * export with the parameters to a file, MORE_STEPS more. B: a new store and
 * optimizer load the file and take the same MORE_STEPS: the same bits. */
static void check_exact_resume(maker make, tg_dtype dtype) {
    const char *path = "optim_state_resume.tg";
    tg_params *pa = model_new(dtype, TG_INIT_KAIMING_UNIFORM);
    tg_optim *a = make(pa);
    assert_non_null(a);
    steps(pa, a, 0, FIRST_STEPS - 1);
    assert_int_equal(tg_optim_set_group_lr(a, tg_optim_group_count(a) - 1, tg_optim_lr(a) * 0.5), TG_OK);
    steps(pa, a, FIRST_STEPS - 1, FIRST_STEPS);
    tg_checkpoint *c = tg_checkpoint_new();
    assert_int_equal(tg_checkpoint_add_params(c, pa), TG_OK);
    assert_int_equal(tg_optim_export(a, c), TG_OK);
    assert_int_equal(tg_checkpoint_write(c, path), TG_OK);
    tg_checkpoint_free(c);
    steps(pa, a, FIRST_STEPS, FIRST_STEPS + MORE_STEPS);

    tg_params *pb = model_new(dtype, TG_INIT_ZEROS);
    tg_optim *b = make(pb);
    tg_checkpoint *r = tg_checkpoint_read(path);
    assert_non_null(r);
    assert_int_equal(tg_params_check_checkpoint(pb, r, true), TG_OK); /* the optimizer's records are not the model's */
    assert_int_equal(tg_optim_check_import(b, r), TG_OK);
    assert_int_equal(tg_params_load_checkpoint(pb, r, true, NULL), TG_OK);
    assert_int_equal(tg_optim_import(b, r), TG_OK);
    assert_int_equal(tg_optim_steps(b), FIRST_STEPS);
    assert_int_equal(tg_optim_param_steps(b, "bn1.weight"), FIRST_STEPS - 1);
    assert_float_equal(tg_optim_group_lr(b, tg_optim_group_count(b) - 1),
                       tg_optim_group_lr(a, tg_optim_group_count(a) - 1), 0);
    steps(pb, b, FIRST_STEPS, FIRST_STEPS + MORE_STEPS);
    for (int j = 0; j < tg_params_count(pa); j++) {
        const tg_tensor *xa = tg_params_at(pa, j), *xb = tg_params_at(pb, j);
        if (tg_tensor_hash(xa) != tg_tensor_hash(xb)) {
            print_error("%s differs after resuming (%s)\n", xa->name, tg_dtype_name(dtype));
            fail();
        }
    }
    assert_int_equal(tg_optim_steps(b), tg_optim_steps(a));
    assert_int_equal(tg_optim_param_steps(b, "fc1.weight"), tg_optim_param_steps(a, "fc1.weight"));
    /* the loaded parameters with a fresh optimizer do not resume: the check above can tell */
    tg_params *pf = model_new(dtype, TG_INIT_ZEROS);
    tg_optim *fresh = make(pf);
    assert_int_equal(tg_params_load_checkpoint(pf, r, true, NULL), TG_OK);
    steps(pf, fresh, FIRST_STEPS, FIRST_STEPS + MORE_STEPS);
    assert_true(store_hash(pf) != store_hash(pa));
    assert_true(store_hash(pb) == store_hash(pa));
    tg_optim_free(fresh);
    tg_params_free(pf);
    tg_params_free(pb);
    tg_optim_free(b);
    tg_checkpoint_free(r);
    tg_optim_free(a);
    tg_params_free(pa);
    remove(path);
}

static void test_resume_is_bit_identical_for_sgd_with_momentum_and_groups(void **state) {
    (void)state;
    check_exact_resume(sgd_momentum_groups, TG_F32);
    check_exact_resume(sgd_momentum_groups, TG_F64);
}

static void test_resume_is_bit_identical_for_sgd_nesterov_maximize(void **state) {
    (void)state;
    check_exact_resume(sgd_nesterov_maximize, TG_F32);
    check_exact_resume(sgd_nesterov_maximize, TG_F64);
}

static void test_resume_is_bit_identical_for_adam_with_groups(void **state) {
    (void)state;
    check_exact_resume(adam_groups, TG_F32);
    check_exact_resume(adam_groups, TG_F64);
}

static void test_resume_is_bit_identical_for_adamw_amsgrad_maximize(void **state) {
    (void)state;
    check_exact_resume(adamw_amsgrad_maximize, TG_F32);
    check_exact_resume(adamw_amsgrad_maximize, TG_F64);
}

/* ---- refusing what does not fit ---- */

/* A copy of src's records without the one named `skip` (NULL: all). */
static tg_checkpoint *copy_records(const tg_checkpoint *src, const char *skip) {
    tg_checkpoint *c = tg_checkpoint_new();
    for (int i = 0; i < tg_checkpoint_count(src); i++) {
        const tg_record *r = tg_checkpoint_at(src, i);
        if (skip && strcmp(r->name, skip) == 0) continue;
        if (r->kind == TG_RECORD_BYTES) {
            assert_int_equal(tg_checkpoint_add_bytes(c, r->name, r->data, r->bytes), TG_OK);
        } else {
            tg_tensor x = {.dtype = r->dtype, .ndim = r->ndim, .numel = tg_shape_numel(r->ndim, r->shape),
                           .data = (void *)r->data};
            memcpy(x.shape, r->shape, sizeof x.shape);
            assert_int_equal(tg_checkpoint_add_tensor(c, r->name, r->kind, &x), TG_OK);
        }
    }
    return c;
}

typedef struct small {
    tg_params *p;
    tg_tensor *w, *b;
} small;

/* w f32[2] and b f32[1], gradients 0.5 */
static small small_new(int64_t w_size) {
    small m = {.p = tg_params_new()};
    m.w = tg_param(m.p, "w", TG_F32, SHAPE(w_size), TG_INIT_ONES, NULL);
    m.b = tg_param(m.p, "b", TG_F32, SHAPE(1), TG_INIT_ONES, NULL);
    for (int64_t i = 0; i < w_size; i++) tg_set(m.w->grad, i, 0.5);
    tg_set(m.b->grad, 0, 0.5);
    return m;
}

static tg_adam_opts amsgrad_opts(void) {
    tg_adam_opts o = tg_adam_defaults();
    o.amsgrad = true;
    return o;
}

/* Both the check and the import refuse c with TG_status `status` and a
 * message mentioning `why`, and opt's state is as it was. */
static void assert_import_refused(tg_optim *opt, const tg_checkpoint *c, tg_status status, const char *why) {
    tg_tensor *m = tg_optim_state(opt, "w", "exp_avg");
    uint64_t m_hash = m ? tg_tensor_hash(m) : 0;
    int64_t steps = tg_optim_steps(opt), w_steps = tg_optim_param_steps(opt, "w");
    double lr = tg_optim_lr(opt);
    assert_int_equal(tg_optim_check_import(opt, c), status);
    assert_error_mentions(tg_last_error(), "tg_optim_check_import");
    assert_error_mentions(tg_last_error(), why);
    assert_int_equal(tg_optim_import(opt, c), status);
    assert_error_mentions(tg_last_error(), "tg_optim_import");
    assert_error_mentions(tg_last_error(), why);
    assert_true(tg_optim_state(opt, "w", "exp_avg") == m);
    if (m) assert_true(tg_tensor_hash(m) == m_hash);
    assert_int_equal(tg_optim_steps(opt), steps);
    assert_int_equal(tg_optim_param_steps(opt, "w"), w_steps);
    assert_true(tg_optim_lr(opt) == lr);
}

static void test_import_refuses_another_kind_flags_or_groups_and_changes_nothing(void **state) {
    (void)state;
    small m = small_new(2);
    tg_optim *saved = tg_adam_new(m.p, amsgrad_opts());
    assert_int_equal(tg_optim_add_group(saved, "b", (tg_optim_group_opts){.lr = TG_OVERRIDE(0.1)}), 1);
    for (int k = 0; k < 2; k++) assert_int_equal(tg_optim_step(saved), TG_OK);
    tg_checkpoint *c = tg_checkpoint_new();
    assert_int_equal(tg_optim_export(saved, c), TG_OK);
    assert_int_equal(tg_optim_export(saved, c), TG_ERR_ARG); /* one optimizer per checkpoint */
    assert_error_mentions(tg_last_error(), "already holds an optimizer's records");

    tg_optim *plain_adam = tg_adam_new(m.p, tg_adam_defaults());
    assert_int_equal(tg_optim_add_group(plain_adam, "b", (tg_optim_group_opts){.lr = TG_OVERRIDE(0.1)}), 1);
    assert_int_equal(tg_optim_step(plain_adam), TG_OK);
    assert_import_refused(plain_adam, c, TG_ERR_FORMAT,
                          "the state of another optimizer: 'adam nesterov=0 amsgrad=1 maximize=0', this one is "
                          "'adam nesterov=0 amsgrad=0 maximize=0'");
    tg_optim *sgd = tg_sgd_new(m.p, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
    assert_import_refused(sgd, c, TG_ERR_FORMAT, "'sgd nesterov=0 amsgrad=0 maximize=0'");
    tg_optim *no_groups = tg_adam_new(m.p, amsgrad_opts());
    assert_import_refused(no_groups, c, TG_ERR_FORMAT, "holds 2 parameter groups, this optimizer has 1");
    tg_optim *other_pattern = tg_adam_new(m.p, amsgrad_opts());
    assert_int_equal(tg_optim_add_group(other_pattern, "b*", (tg_optim_group_opts){0}), 1);
    assert_import_refused(other_pattern, c, TG_ERR_FORMAT, "group 1 has pattern 'b', this optimizer's has 'b*'");
    tg_checkpoint *empty = tg_checkpoint_new();
    assert_import_refused(plain_adam, empty, TG_ERR_FORMAT, "holds no optimizer (no record 'optim/config')");
    /* the same optimizer takes it */
    tg_optim *same = tg_adam_new(m.p, amsgrad_opts());
    assert_int_equal(tg_optim_add_group(same, "b", (tg_optim_group_opts){.lr = TG_OVERRIDE(0.5)}), 1);
    assert_int_equal(tg_optim_import(same, c), TG_OK);
    assert_float_equal(tg_optim_group_lr(same, 1), 0.1, 0); /* options come from the checkpoint */
    assert_int_equal(tg_optim_steps(same), 2);
    assert_non_null(tg_optim_state(same, "b", "max_exp_avg_sq"));
    for (tg_optim **o = (tg_optim *[]){saved, plain_adam, sgd, no_groups, other_pattern, same, NULL}; *o; o++)
        tg_optim_free(*o);
    tg_checkpoint_free(empty);
    tg_checkpoint_free(c);
    tg_params_free(m.p);
}

static void test_import_refuses_records_that_do_not_fit_the_model(void **state) {
    (void)state;
    small m = small_new(2);
    tg_optim *saved = tg_adam_new(m.p, amsgrad_opts());
    assert_int_equal(tg_optim_step(saved), TG_OK);
    tg_checkpoint *c = tg_checkpoint_new();
    assert_int_equal(tg_optim_export(saved, c), TG_OK);

    small wide = small_new(3); /* w is f32[3] here */
    tg_optim *opt = tg_adam_new(wide.p, amsgrad_opts());
    assert_int_equal(tg_optim_step(opt), TG_OK);
    assert_import_refused(opt, c, TG_ERR_SHAPE, "'optim/w/exp_avg' is f32[2], the parameter is f32[3]");
    tg_optim_free(opt);

    tg_params *only_w = tg_params_new(); /* no b */
    tg_tensor *w = tg_param(only_w, "w", TG_F32, SHAPE(2), TG_INIT_ONES, NULL);
    opt = tg_adam_new(only_w, amsgrad_opts());
    assert_import_refused(opt, c, TG_ERR_FORMAT, "record 'optim/b/step' is not a tg_adam record of this model");
    tg_optim_free(opt);
    tg_params_free(only_w);

    tg_params *w_buffer = tg_params_new(); /* b is a buffer here */
    w = tg_param(w_buffer, "w", TG_F32, SHAPE(2), TG_INIT_ONES, NULL);
    assert_non_null(tg_buffer(w_buffer, "b", TG_F32, SHAPE(1), TG_INIT_ONES, NULL));
    opt = tg_adam_new(w_buffer, amsgrad_opts());
    assert_import_refused(opt, c, TG_ERR_FORMAT, "is for 'b', a buffer in the store");
    tg_optim_free(opt);
    tg_params_free(w_buffer);
    (void)w;

    opt = tg_adam_new(m.p, amsgrad_opts());
    tg_checkpoint *partial = copy_records(c, "optim/w/exp_avg_sq");
    assert_import_refused(opt, partial, TG_ERR_FORMAT, "has state for 'w' but not its exp_avg_sq");
    tg_checkpoint *extra = copy_records(c, NULL);
    assert_int_equal(tg_checkpoint_add_bytes(extra, "optim/w/velocity", "x", 1), TG_OK);
    assert_import_refused(opt, extra, TG_ERR_FORMAT, "record 'optim/w/velocity' is not a tg_adam record");
    tg_checkpoint *bad_lr = copy_records(c, "optim/group/0/options");
    const double options[8] = {NAN, 1e-3, 0, 0, 0, 0.9, 0.999, 1e-8};
    assert_int_equal(tg_checkpoint_add_bytes(bad_lr, "optim/group/0/options", options, sizeof options), TG_OK);
    assert_import_refused(opt, bad_lr, TG_ERR_FORMAT, "lr nan must be");
    tg_checkpoint *bad_steps = copy_records(c, "optim/w/step");
    const int64_t minus_one = -1;
    assert_int_equal(tg_checkpoint_add_bytes(bad_steps, "optim/w/step", &minus_one, sizeof minus_one), TG_OK);
    assert_import_refused(opt, bad_steps, TG_ERR_FORMAT, "'optim/w/step' is -1");
    tg_checkpoint *not_state = copy_records(c, "optim/w/exp_avg");
    assert_int_equal(tg_checkpoint_add_tensor(not_state, "optim/w/exp_avg", TG_RECORD_BUFFER, m.w), TG_OK);
    assert_import_refused(opt, not_state, TG_ERR_SHAPE, "is not a state tensor");
    for (tg_checkpoint **k = (tg_checkpoint *[]){partial, extra, bad_lr, bad_steps, not_state, c, NULL}; *k; k++)
        tg_checkpoint_free(*k);
    tg_optim_free(opt);
    tg_optim_free(saved);
    tg_params_free(wide.p);
    tg_params_free(m.p);
}

static void test_save_and_load_write_and_read_a_file_of_the_optimizer_alone(void **state) {
    (void)state;
    const char *path = "optim_state_save.tg";
    small m = small_new(2);
    tg_optim *saved = tg_sgd_new(m.p, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
    assert_int_equal(tg_optim_step(saved), TG_OK);
    assert_int_equal(tg_optim_save(saved, path), TG_OK);
    tg_checkpoint *r = tg_checkpoint_read(path);
    for (int i = 0; i < tg_checkpoint_count(r); i++)
        assert_int_equal(strncmp(tg_checkpoint_at(r, i)->name, "optim/", 6), 0);
    tg_checkpoint_free(r);
    tg_optim *loaded = tg_sgd_new(m.p, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
    assert_int_equal(tg_optim_load(loaded, path), TG_OK);
    tg_tensor *b = tg_optim_state(loaded, "w", "momentum_buffer");
    ASSERT_VALUES(b, 0, 0.5, 0.5);
    assert_int_equal(tg_optim_steps(loaded), 1);
    /* a parameter file holds no optimizer; a missing file is an I/O error */
    assert_int_equal(tg_params_save(m.p, path), TG_OK);
    assert_int_equal(tg_optim_load(loaded, path), TG_ERR_FORMAT);
    assert_error_mentions(tg_last_error(), "holds no optimizer");
    assert_int_equal(tg_optim_load(loaded, "no/such/optim.tg"), TG_ERR_IO);
    assert_error_mentions(tg_last_error(), "tg_optim_load");
    assert_int_equal(tg_optim_save(NULL, path), TG_ERR_ARG);
    assert_int_equal(tg_optim_load(loaded, NULL), TG_ERR_ARG);
    assert_true(tg_optim_state(loaded, "w", "momentum_buffer") == b); /* still there after the failures */
    tg_optim_free(loaded);
    tg_optim_free(saved);
    tg_params_free(m.p);
    remove(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_tensors_are_readable_by_name_after_the_first_update),
        cmocka_unit_test(test_resume_is_bit_identical_for_sgd_with_momentum_and_groups),
        cmocka_unit_test(test_resume_is_bit_identical_for_sgd_nesterov_maximize),
        cmocka_unit_test(test_resume_is_bit_identical_for_adam_with_groups),
        cmocka_unit_test(test_resume_is_bit_identical_for_adamw_amsgrad_maximize),
        cmocka_unit_test(test_import_refuses_another_kind_flags_or_groups_and_changes_nothing),
        cmocka_unit_test(test_import_refuses_records_that_do_not_fit_the_model),
        cmocka_unit_test(test_save_and_load_write_and_read_a_file_of_the_optimizer_alone),
    };
    return cmocka_run_group_tests_name("optim_state", tests, NULL, NULL);
}
