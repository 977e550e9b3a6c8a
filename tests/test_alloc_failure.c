/* Allocation-failure injection: for every k, the k-th allocation of a
 * scenario fails, through a training step (tape, forward with batchnorm and
 * an L2 penalty, backward, Adam's first step), a backward with create_graph
 * (a gradient penalty), a save and a load (into a model and into an empty
 * store). Each time:
 *   - the failing call returns an error (a status and a message);
 *   - it leaves the store as it was before that call (values, versions,
 *     gradients), and the checkpoint file as it was;
 *   - nothing leaks (every block allocated is freed; LSan in the sanitizer
 *     build sees the rest);
 *   - the same scenario then runs again without failure and succeeds.
 * The library is unchanged: this program wraps malloc, calloc, realloc,
 * aligned_alloc, posix_memalign, strdup and free at link time
 * (-Wl,--wrap=..., see CMakeLists.txt), so every call the library's objects
 * make comes here first. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, posix_memalign */
#include "scratch_dir.h" /* files_in */
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "testing.h"

/* ---- the wrappers ---- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t alignment, size_t size);
int __real_posix_memalign(void **p, size_t alignment, size_t size);
char *__real_strdup(const char *s);
void __real_free(void *p);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_aligned_alloc(size_t alignment, size_t size);
int __wrap_posix_memalign(void **p, size_t alignment, size_t size);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);

static _Atomic long calls;  /* allocation calls since armed */
static _Atomic long fail_at; /* 0: none fails; k: the k-th call after arming fails */

/* The blocks the wrappers handed out and not yet freed: an open-addressing
 * set (free of a block it never saw, such as open_memstream's, is ignored). */
enum { SLOTS = 1 << 16 };
static void *live[SLOTS];
static long n_live;
static atomic_flag lock = ATOMIC_FLAG_INIT;

static size_t slot_of(const void *p) { return ((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull >> 48; }

static void track(void *p) {
    if (!p) return;
    while (atomic_flag_test_and_set(&lock)) continue;
    size_t i = slot_of(p);
    while (live[i]) i = (i + 1) & (SLOTS - 1);
    live[i] = p;
    n_live++;
    atomic_flag_clear(&lock);
}

static void untrack(void *p) {
    if (!p) return;
    while (atomic_flag_test_and_set(&lock)) continue;
    size_t i = slot_of(p);
    while (live[i] && live[i] != p) i = (i + 1) & (SLOTS - 1);
    if (live[i] == p) { /* remove, then re-insert the rest of the cluster */
        live[i] = NULL;
        n_live--;
        for (size_t j = (i + 1) & (SLOTS - 1); live[j]; j = (j + 1) & (SLOTS - 1)) {
            void *q = live[j];
            live[j] = NULL;
            size_t k = slot_of(q);
            while (live[k]) k = (k + 1) & (SLOTS - 1);
            live[k] = q;
        }
    }
    atomic_flag_clear(&lock);
}

static bool this_one_fails(void) {
    long k = atomic_load(&fail_at);
    if (!k) return false;
    return atomic_fetch_add(&calls, 1) + 1 == k;
}

void *__wrap_malloc(size_t size) {
    if (this_one_fails()) return NULL;
    void *p = __real_malloc(size);
    track(p);
    return p;
}
void *__wrap_calloc(size_t n, size_t size) {
    if (this_one_fails()) return NULL;
    void *p = __real_calloc(n, size);
    track(p);
    return p;
}
void *__wrap_realloc(void *p, size_t size) {
    if (this_one_fails()) return NULL;
    void *q = __real_realloc(p, size);
    if (q || size == 0) untrack(p);
    track(q);
    return q;
}
void *__wrap_aligned_alloc(size_t alignment, size_t size) {
    if (this_one_fails()) return NULL;
    void *p = __real_aligned_alloc(alignment, size);
    track(p);
    return p;
}
int __wrap_posix_memalign(void **p, size_t alignment, size_t size) {
    if (this_one_fails()) return 12; /* ENOMEM */
    int rc = __real_posix_memalign(p, alignment, size);
    if (rc == 0) track(*p);
    return rc;
}
char *__wrap_strdup(const char *s) {
    if (this_one_fails()) return NULL;
    char *p = __real_strdup(s);
    track(p);
    return p;
}
void __wrap_free(void *p) {
    untrack(p);
    __real_free(p);
}

static void arm(long k) {
    atomic_store(&calls, 0);
    atomic_store(&fail_at, k);
}
static long disarm(void) {
    atomic_store(&fail_at, 0);
    return atomic_load(&calls);
}

/* ---- the store and its snapshots ---- */

/* Hash of every tensor's bytes, version and gradient: equal <=> unchanged. */
static uint64_t fingerprint(const tg_params *p) {
    uint64_t h = (uint64_t)tg_params_count(p);
    for (int i = 0; i < tg_params_count(p); i++) {
        const tg_tensor *x = tg_params_at(p, i);
        h = h * 1099511628211ull + tg_tensor_hash(x);
        h = h * 1099511628211ull + x->version;
        h = h * 1099511628211ull + tg_tensor_hash(x->grad);
    }
    return h;
}

typedef struct scenario {
    tg_params *p;     /* the store the scenario works on (made outside the armed region) */
    char dir[256], path[300];
    uint64_t before;  /* fingerprint before the call now running */
    bool failed;      /* a call failed */
    bool broke;       /* a failed call changed the store */
    char failure[256];
} scenario;

/* Before each call that may change the store. */
static void snapshot(scenario *s) { s->before = fingerprint(s->p); }

/* After it: a failure leaves a status, a message and the store as it was. */
static tg_status checked(scenario *s, tg_status st, const char *what) {
    if (!st) return TG_OK;
    s->failed = true;
    snprintf(s->failure, sizeof s->failure, "%s: %s", what, tg_last_error());
    if (tg_last_error()[0] == '\0' || tg_last_status() == TG_OK) {
        print_error("%s failed with status %d and message \"%s\"\n", what, (int)st, tg_last_error());
        s->broke = true;
    }
    if (fingerprint(s->p) != s->before) {
        print_error("%s failed (%s) and changed the store\n", what, tg_last_error());
        s->broke = true;
    }
    return st;
}

/* Snapshots the store, then makes one call and checks it. */
#define CALL(s, what, expr) (snapshot(s), checked((s), (expr), (what)))

/* ---- scenarios: each returns TG_OK or the failing call's status ---- */

enum { N = 8, IN = 6, HIDDEN = 5, CLASSES = 3 };

static tg_params *model(void) {
    tg_params *p = tg_params_new();
    tg_rng rng = tg_rng_new(5);
    assert_non_null(tg_param(p, "fc1.weight", TG_F32, SHAPE(IN, HIDDEN), TG_INIT_KAIMING_UNIFORM, &rng));
    assert_non_null(tg_param(p, "fc1.bias", TG_F32, SHAPE(HIDDEN), TG_INIT_ZEROS, NULL));
    assert_non_null(tg_param(p, "fc2.weight", TG_F32, SHAPE(HIDDEN, CLASSES), TG_INIT_KAIMING_UNIFORM, &rng));
    tg_batchnorm_state bn;
    assert_int_equal(tg_batchnorm_init(&bn, p, "bn", TG_F32, HIDDEN), TG_OK);
    return p;
}

/* The forward pass of a small classifier: linear, batchnorm (which updates
 * the running statistics), relu, linear, cross-entropy + L2 penalty. */
static tg_tensor *forward(tg_tape *t, tg_params *p, tg_batchnorm_state *bn) {
    tg_rng rng = tg_rng_new(9);
    int64_t labels[N];
    for (int i = 0; i < N; i++) labels[i] = i % CLASSES;
    tg_tensor *x = tg_uniform(t, &rng, TG_F32, SHAPE(N, IN), -1, 1);
    tg_tape_push_scope(t, "model");
    tg_tensor *h = tg_relu(t, tg_batchnorm(t, tg_linear(t, x, tg_params_get(p, "fc1.weight"),
                                                         tg_params_get(p, "fc1.bias")),
                                           bn, true));
    tg_tensor *logits = tg_linear(t, h, tg_params_get(p, "fc2.weight"), NULL);
    tg_tape_pop_scope(t);
    return tg_add(t, tg_cross_entropy(t, logits, N, labels), tg_l2_penalty(t, p, 1e-3));
}

/* forward, backward, Adam's first step (allocating its state), on a new tape,
 * then a reset and a little of the next step */
static tg_status training_step(scenario *s) {
    tg_params *p = s->p;
    tg_status st;
    tg_optim *opt = NULL;
    tg_tape *t = NULL;
    tg_tensor *loss = NULL;
    tg_batchnorm_state bn;
    if ((st = CALL(s, "tg_tape_new", (t = tg_tape_new()) ? TG_OK : tg_last_status()))) goto done;
    if ((st = CALL(s, "tg_batchnorm_init", tg_batchnorm_init(&bn, p, "bn", TG_F32, HIDDEN)))) goto done;
    if ((st = CALL(s, "forward", (loss = forward(t, p, &bn)) ? TG_OK : tg_tape_status(t)))) goto done;
    tg_zero_grad(p);
    if ((st = CALL(s, "tg_backward", tg_backward(t, loss, NULL)))) goto done;
    if ((st = CALL(s, "tg_adam_new", (opt = tg_adam_new(p, tg_adam_defaults())) ? TG_OK : tg_last_status())))
        goto done;
    if ((st = CALL(s, "tg_optim_step", tg_optim_step(opt)))) goto done;
    tg_tape_reset(t); /* a merge of the arena allocates */
    st = CALL(s, "an op after the reset", tg_sum(t, tg_params_get(p, "fc2.weight"), NULL, 0, false) ? TG_OK
                                                                                                   : tg_tape_status(t));
done:
    tg_optim_free(opt);
    tg_tape_free(t);
    return st;
}

/* gradient penalty: g = d y / d (x, w) with create_graph, then backward of
 * sum(g^2) into w->grad, x->grad and v->grad; x and v are large enough that
 * the arena grows during both backward passes (allocations that can fail) */
static tg_status double_backward(scenario *s) {
    tg_tensor *w = tg_params_get(s->p, "fc1.weight"); /* [IN, HIDDEN] */
    tg_tape *t = NULL;
    tg_tensor *x = NULL, *v = NULL, *y = NULL, *penalty = NULL, *grads[2];
    tg_status st;
    if ((st = CALL(s, "tg_tape_new", (t = tg_tape_new()) ? TG_OK : tg_last_status()))) goto done;
    x = tg_full(t, TG_F32, SHAPE(64, 1024), 0.01);
    v = tg_full(t, TG_F32, SHAPE(1024, IN), 0.02);
    if ((st = CALL(s, "inputs", x && v ? TG_OK : tg_tape_status(t)))) goto done;
    tg_requires_grad(x);
    tg_requires_grad(v);
    y = tg_sum(t, tg_tanh(t, tg_matmul(t, tg_matmul(t, x, v), w)), NULL, 0, false);
    if ((st = CALL(s, "forward", y ? TG_OK : tg_tape_status(t)))) goto done;
    st = CALL(s, "tg_grad(create_graph)",
              tg_grad(t, 1, &y, NULL, 2, (tg_tensor *[]){x, w}, grads, &(tg_grad_opts){.create_graph = true}));
    if (st) goto done;
    penalty = tg_add(t, tg_sum(t, tg_square(t, grads[0]), NULL, 0, false),
                     tg_sum(t, tg_square(t, grads[1]), NULL, 0, false));
    if ((st = CALL(s, "the penalty", penalty ? TG_OK : tg_tape_status(t)))) goto done;
    st = CALL(s, "tg_backward of the penalty", tg_backward(t, penalty, NULL));
    if (!st && (!x->grad || !v->grad || !tg_same_shape(x->grad, x))) {
        print_error("the penalty's backward left no gradient on x or v\n");
        s->broke = true;
    }
done:
    tg_tape_free(t);
    return st;
}

/* a backward into a parameter and twelve large tape inputs that get their
 * first gradient: the gradients' memory (as much as the inputs') is taken
 * while the pass flushes into ->grad, so the arena grows there, after the
 * parameter's part */
enum { LEAVES = 12 };
static tg_status backward_into_new_gradients(scenario *s) {
    tg_tensor *w = tg_params_get(s->p, "fc1.weight"); /* [IN, HIDDEN] */
    tg_tape *t = NULL;
    tg_tensor *leaves[LEAVES] = {0}, *total = NULL, *loss = NULL;
    tg_status st;
    if ((st = CALL(s, "tg_tape_new", (t = tg_tape_new()) ? TG_OK : tg_last_status()))) goto done;
    for (int i = 0; i < LEAVES; i++) {
        leaves[i] = tg_full(t, TG_F32, SHAPE(20000, IN), 0.01 * (i + 1)); /* 480 kB each */
        tg_requires_grad(leaves[i]);
        total = i ? tg_add(t, total, leaves[i]) : leaves[i];
    }
    /* loss = sum(total @ w): d/d leaf = 1 @ w^T for each, d/dw = total^T @ 1 */
    loss = tg_sum(t, tg_matmul(t, total, w), NULL, 0, false);
    if ((st = CALL(s, "forward", loss ? TG_OK : tg_tape_status(t)))) goto done;
    st = CALL(s, "tg_backward", tg_backward(t, loss, NULL));
    for (int i = 0; i < LEAVES; i++) {
        if (!st && !leaves[i]->grad) {
            print_error("backward left input %d without its gradient\n", i);
            s->broke = true;
        }
        if (st && leaves[i]->grad) {
            print_error("a failed backward gave input %d a gradient\n", i);
            s->broke = true;
        }
    }
done:
    tg_tape_free(t);
    return st;
}

static tg_status save(scenario *s) { return CALL(s, "tg_params_save", tg_params_save(s->p, s->path)); }

static tg_status load_into_the_model(scenario *s) {
    return CALL(s, "tg_params_load", tg_params_load(s->p, s->path));
}

static tg_status load_into_an_empty_store(scenario *s) {
    tg_params *saved = s->p, *empty = NULL;
    tg_status st = CALL(s, "tg_params_new", (empty = tg_params_new()) ? TG_OK : tg_last_status());
    if (st) return st;
    s->p = empty;
    st = CALL(s, "tg_params_load into an empty store", tg_params_load(s->p, s->path));
    if (!st && tg_params_count(s->p) != tg_params_count(saved)) {
        print_error("the empty store got %d tensors of %d\n", tg_params_count(s->p), tg_params_count(saved));
        s->broke = true;
    }
    tg_params_free(empty);
    s->p = saved;
    return st;
}

/* ---- the driver ---- */

static bool read_file(const char *path, unsigned char *buf, size_t size, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    *len = fread(buf, 1, size, f);
    fclose(f);
    return true;
}

static long total_points;

/* Runs `run` with the k-th allocation failing for k = 1, 2, ... until a run
 * makes fewer than k allocations; returns how many points were injected. */
static long inject_every_allocation(tg_status (*run)(scenario *), const char *name) {
    scenario s = {.p = model()};
    const char *tmp = getenv("TMPDIR");
    snprintf(s.dir, sizeof s.dir, "%s/tapegrad-alloc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(s.dir));
    snprintf(s.path, sizeof s.path, "%s/model.tg", s.dir);
    assert_int_equal(tg_params_save(s.p, s.path), TG_OK); /* the checkpoint a save replaces, a load reads */
    static unsigned char file[1 << 16], file_after[1 << 16];
    long k;
    for (k = 1;; k++) {
        size_t file_len = 0, after_len = 0;
        assert_true(read_file(s.path, file, sizeof file, &file_len));
        long blocks = n_live;
        s.failed = s.broke = false;
        arm(k);
        tg_status st = run(&s);
        long made = disarm();
        if (made < k) { /* no allocation failed: the scenario is through */
            assert_int_equal(st, TG_OK);
            assert_false(s.failed);
            break;
        }
        if (!st || !s.failed) {
            print_error("%s: allocation %ld failed, yet the scenario succeeded\n", name, k);
            fail();
        }
        if (getenv("TG_ALLOC_VERBOSE")) print_message("%s: allocation %ld: %s\n", name, k, s.failure);
        if (s.broke) {
            print_error("%s: allocation %ld: %s\n", name, k, s.failure);
            fail();
        }
        if (n_live != blocks) {
            print_error("%s: allocation %ld failed (%s) and %ld blocks leaked\n", name, k, s.failure,
                        n_live - blocks);
            fail();
        }
        assert_true(read_file(s.path, file_after, sizeof file_after, &after_len));
        if (after_len != file_len || memcmp(file, file_after, file_len) != 0) {
            print_error("%s: allocation %ld failed (%s) and the checkpoint changed\n", name, k, s.failure);
            fail();
        }
        assert_int_equal(files_in(s.dir), 1); /* no temporary left */
        /* the next run, without failures, works */
        s.failed = false;
        if (run(&s) != TG_OK) {
            print_error("%s: after allocation %ld failed, the next run failed: %s\n", name, k, s.failure);
            fail();
        }
        if (n_live != blocks) {
            print_error("%s: the run after failure %ld leaked %ld blocks\n", name, k, n_live - blocks);
            fail();
        }
    }
    unlink(s.path);
    rmdir(s.dir);
    tg_params_free(s.p);
    print_message("%-28s %4ld allocation points injected, each failed cleanly\n", name, k - 1);
    total_points += k - 1;
    return k - 1;
}

static void test_every_allocation_of_a_training_step_can_fail_cleanly(void **state) {
    (void)state;
    assert_true(inject_every_allocation(training_step, "training step") > 10);
}

static void test_every_allocation_of_a_create_graph_backward_can_fail_cleanly(void **state) {
    (void)state;
    assert_true(inject_every_allocation(double_backward, "backward with create_graph") > 3);
}

static void test_every_allocation_of_a_backward_into_new_gradients_can_fail_cleanly(void **state) {
    (void)state;
    assert_true(inject_every_allocation(backward_into_new_gradients, "backward into new gradients") > 3);
}

static void test_every_allocation_of_a_save_can_fail_cleanly(void **state) {
    (void)state;
    assert_true(inject_every_allocation(save, "save") > 3);
}

static void test_every_allocation_of_a_load_can_fail_cleanly(void **state) {
    (void)state;
    assert_true(inject_every_allocation(load_into_the_model, "load into the model") > 3);
    assert_true(inject_every_allocation(load_into_an_empty_store, "load into an empty store") > 3);
    print_message("%ld allocation points injected in all\n", total_points);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_of_a_training_step_can_fail_cleanly),
        cmocka_unit_test(test_every_allocation_of_a_create_graph_backward_can_fail_cleanly),
        cmocka_unit_test(test_every_allocation_of_a_backward_into_new_gradients_can_fail_cleanly),
        cmocka_unit_test(test_every_allocation_of_a_save_can_fail_cleanly),
        cmocka_unit_test(test_every_allocation_of_a_load_can_fail_cleanly),
    };
    return cmocka_run_group_tests_name("allocation failure", tests, NULL, NULL);
}
