/* Elementwise unary ops (ops/unary.h): forward on known values in f32 and
 * f64, PyTorch's choices at kinks and extremes, first and second derivatives
 * against central differences in f64, large tensors against the serial
 * definition and across thread counts. Expected values from torch (float64). */
#include "central_difference.h"

#include <tgmath.h>

static int setup(void **state) {
    *state = tg_tape_new();
    return 0;
}
static int teardown(void **state) {
    tg_tape_free(*state);
    return 0;
}

static const tg_dtype dtypes[2] = {TG_F32, TG_F64};

typedef tg_tensor *(*unary_fn)(tg_tape *, tg_tensor *);
static tg_tensor *leaky_relu(tg_tape *t, tg_tensor *x) { return tg_leaky_relu(t, x, 0.1); }
static tg_tensor *clamp(tg_tape *t, tg_tensor *x) { return tg_clamp(t, x, -0.5, 0.7); }

/* x = [-2, -0.5, 0, 0.3, 1, 2.5];  positive x = [0.25, 0.5, 1, 2, 3.5, 10] */
static const struct {
    const char *name;
    unary_fn fn;
    bool positive;
    double expected[6];
} known[] = {
    {"neg", tg_neg, false, {2.0, 0.5, -0.0, -0.3, -1.0, -2.5}},
    {"abs", tg_abs, false, {2.0, 0.5, 0.0, 0.3, 1.0, 2.5}},
    {"sign", tg_sign, false, {-1.0, -1.0, 0.0, 1.0, 1.0, 1.0}},
    {"exp", tg_exp, false, {0.1353352832366127, 0.6065306597126334, 1.0, 1.3498588075760032, 2.718281828459045,
                            12.182493960703473}},
    {"square", tg_square, false, {4.0, 0.25, 0.0, 0.09, 1.0, 6.25}},
    {"sin", tg_sin, false, {-0.9092974268256817, -0.479425538604203, 0.0, 0.29552020666133955, 0.8414709848078965,
                            0.5984721441039564}},
    {"cos", tg_cos, false, {-0.4161468365471424, 0.8775825618903728, 1.0, 0.955336489125606, 0.5403023058681398,
                            -0.8011436155469337}},
    {"tanh", tg_tanh, false, {-0.9640275800758169, -0.46211715726000974, 0.0, 0.2913126124515909,
                              0.7615941559557649, 0.9866142981514303}},
    {"sigmoid", tg_sigmoid, false, {0.11920292202211755, 0.3775406687981454, 0.5, 0.574442516811659,
                                    0.7310585786300049, 0.9241418199787566}},
    {"relu", tg_relu, false, {0.0, 0.0, 0.0, 0.3, 1.0, 2.5}},
    {"leaky_relu", leaky_relu, false, {-0.2, -0.05, 0.0, 0.3, 1.0, 2.5}},
    {"gelu", tg_gelu, false, {-0.04540230591222494, -0.15428599017485606, 0.0, 0.18537092354275922,
                              0.8411919906082768, 2.484915733910001}},
    {"softplus", tg_softplus, false, {0.1269280110429725, 0.4740769841801067, 0.6931471805599453,
                                      0.8543552444685272, 1.3132616875182228, 2.5788897342925496}},
    {"clamp", clamp, false, {-0.5, -0.5, 0.0, 0.3, 0.7, 0.7}},
    {"log", tg_log, true, {-1.3862943611198906, -0.6931471805599453, 0.0, 0.6931471805599453, 1.252762968495368,
                           2.302585092994046}},
    {"sqrt", tg_sqrt, true, {0.5, 0.7071067811865476, 1.0, 1.4142135623730951, 1.8708286933869707,
                             3.1622776601683795}},
    {"rsqrt", tg_rsqrt, true, {2.0, 1.414213562373095, 1.0, 0.7071067811865475, 0.5345224838248488,
                               0.31622776601683794}},
};
#define N_KNOWN (int)(sizeof known / sizeof known[0])

static void test_every_unary_op_on_known_values_in_f32_and_f64(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        for (int i = 0; i < N_KNOWN; i++) {
            tg_tensor *x = known[i].positive ? TENSOR(t, dtypes[d], SHAPE(2, 3), 0.25, 0.5, 1, 2, 3.5, 10)
                                             : TENSOR(t, dtypes[d], SHAPE(2, 3), -2, -0.5, 0, 0.3, 1, 2.5);
            tg_tensor *y = known[i].fn(t, x);
            assert_shape(y, SHAPE(2, 3));
            assert_int_equal(y->dtype, dtypes[d]);
            for (int k = 0; k < 6; k++) {
                double want = known[i].expected[k], got = tg_get(y, k);
                double tol = dtypes[d] == TG_F32 ? 1e-6 * (1 + fabs(want)) : 1e-15 * (1 + fabs(want));
                if (!(fabs(got - want) <= tol)) {
                    print_error("%s %s element %d: got %.17g, expected %.17g\n", known[i].name,
                                tg_dtype_name(dtypes[d]), k, got, want);
                    fail();
                }
            }
        }
    }
}

static void test_scalars_and_higher_ranks_keep_their_shape(void **state) {
    tg_tape *t = *state;
    tg_tensor *s = tg_exp(t, tg_scalar(t, TG_F64, 1.0));
    assert_int_equal(s->ndim, 0);
    ASSERT_VALUES(s, 1e-15, 2.718281828459045);
    tg_tensor *x = tg_ones(t, TG_F32, 5, (const int64_t[]){2, 1, 3, 1, 2});
    assert_shape(tg_tanh(t, x), 5, x->shape);
}

static void test_sigmoid_and_softplus_are_stable_for_large_inputs(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++) {
        tg_tensor *x = TENSOR(t, dtypes[d], SHAPE(5), -1000, -50, 0, 50, 1000);
        tg_tensor *sg = tg_sigmoid(t, x), *sp = tg_softplus(t, x);
        for (int k = 0; k < 5; k++) assert_true(isfinite(tg_get(sg, k)) && isfinite(tg_get(sp, k)));
        ASSERT_VALUES(sg, 1e-15, 0.0, 1.928749847963918e-22, 0.5, 1.0, 1.0);
        ASSERT_VALUES(sp, 1e-7, 0.0, 1.9287498479639178e-22, 0.6931471805599453, 50.0, 1000.0);
    }
    /* PyTorch's threshold: softplus(x) = x exactly above 20 */
    tg_tensor *x = T64(t, SHAPE(3), 20, 25, -25);
    ASSERT_VALUES(tg_softplus(t, x), 1e-15, 20.000000002061153, 25.0, 1.3887943864867583e-11);
}

/* a NaN stays visible (PyTorch): relu(NaN) = NaN, not 0; sign(NaN) = 0 */
static void test_nan_propagates_through_every_unary_op_but_sign(void **state) {
    tg_tape *t = *state;
    for (int d = 0; d < 2; d++)
        for (int i = 0; i < N_KNOWN; i++) {
            tg_tensor *y = known[i].fn(t, TENSOR(t, dtypes[d], SHAPE(2), NAN, 1.0));
            if (known[i].fn == tg_sign) {
                ASSERT_VALUES(y, 0, 0, 1);
                continue;
            }
            if (!isnan(tg_get(y, 0))) {
                print_error("%s(NaN) = %g in %s\n", known[i].name, tg_get(y, 0), tg_dtype_name(dtypes[d]));
                fail();
            }
            assert_false(isnan(tg_get(y, 1)));
        }
}

static void test_clamp_with_equal_bounds_is_constant(void **state) {
    tg_tape *t = *state;
    ASSERT_VALUES(tg_clamp(t, T64(t, SHAPE(3), -1, 0.5, 2), 0.5, 0.5), 0, 0.5, 0.5, 0.5);
}

/* torch.autograd at x = [-1, 0, 1, -0.5, 0.7] */
static void test_gradients_at_kinks_follow_pytorch(void **state) {
    tg_tape *t = *state;
    const struct {
        unary_fn fn;
        double grad[5];
    } kinks[] = {{tg_abs, {-1, 0, 1, -1, 1}},
                 {tg_relu, {0, 0, 1, 0, 1}},
                 {clamp, {0, 1, 0, 1, 1}}, /* low <= x <= high passes, edges included */
                 {leaky_relu, {0.1, 0.1, 1, 0.1, 1}},
                 {tg_sign, {0, 0, 0, 0, 0}}};
    for (size_t i = 0; i < sizeof kinks / sizeof kinks[0]; i++) {
        tg_tape_reset(t);
        tg_tensor *x = T64(t, SHAPE(5), -1, 0, 1, -0.5, 0.7);
        tg_requires_grad(x);
        tg_tensor *y = kinks[i].fn(t, x);
        assert_int_equal(tg_backward(t, y, &(tg_backward_opts){.grad_output = tg_ones(t, TG_F64, SHAPE(5))}), TG_OK);
        if (kinks[i].fn == tg_sign) {
            assert_null(x->grad); /* nothing flows */
            continue;
        }
        assert_values(x->grad, kinks[i].grad, 5, 0);
    }
}

/* ---- first and second derivatives against central differences ---- */

static tg_tensor *call_unary(tg_tape *t, tg_tensor **in, void *user) {
    return ((unary_fn)(void (*)(void))user)(t, in[0]);
}
static void *as_user(unary_fn fn) { return (void *)(void (*)(void))fn; }

/* inputs: [2,3,2], signed magnitudes in [0.1, 2] (away from kinks) or
 * positive in [0.3, 2.5]; clamp inputs avoid its edges */
static tg_tensor *sample_for(tg_tape *t, tg_rng *rng, int i) {
    if (known[i].positive) return tg_sample_uniform(t, rng, TG_F64, SHAPE(2, 3, 2), 0.3, 2.5);
    if (known[i].fn == clamp) return T64(t, SHAPE(2, 3, 2), -1.2, -0.6, -0.4, 0, 0.2, 0.6, 0.8, 1.5, -0.3, 0.1, 0.65, 2);
    return tg_sample_signed(t, rng, TG_F64, SHAPE(2, 3, 2), 0.1, 2.0);
}

static void test_every_unary_gradient_matches_central_differences(void **state) {
    tg_tape *t = *state;
    tg_rng rng = tg_rng_new(17);
    for (int i = 0; i < N_KNOWN; i++) {
        tg_tape_reset(t);
        tg_tensor *x = sample_for(t, &rng, i);
        cd_check(call_unary, as_user(known[i].fn), 1, &x, 0);
    }
}

static void test_every_unary_second_derivative_matches_central_differences(void **state) {
    tg_tape *t = *state;
    tg_rng rng = tg_rng_new(19);
    for (int i = 0; i < N_KNOWN; i++) {
        tg_tape_reset(t);
        tg_tensor *x = sample_for(t, &rng, i);
        cd_derivative d = {call_unary, as_user(known[i].fn), 1, 0, 0};
        cd_check(cd_first_derivative, &d, 1, &x, 0);
    }
}

/* torch.autograd.grad(create_graph=True) at x = [-2, -0.5, 0.3, 1, 2.5] */
static void test_second_derivatives_match_pytorch(void **state) {
    tg_tape *t = *state;
    const struct {
        unary_fn fn;
        double d1[5], d2[5];
    } cases[] = {
        {tg_tanh,
         {0.07065082485316443, 0.7864477329659274, 0.9151369618266292, 0.41997434161402614, 0.02659222668316057},
         {0.13621868742711296, 0.7268619813835873, -0.5331818782014544, -0.6397000084492246, -0.052472542130580405}},
        {tg_sigmoid,
         {0.1049935854035065, 0.2350037122015945, 0.24445831169074586, 0.19661193324148185, 0.07010371654510807},
         {0.07996250105615306, 0.05755679485232075, -0.03639618395557626, -0.09085774767294841,
          -0.05946783584543401}},
        {tg_gelu, {-0.0860992566236183, 0.13263009646535764, 0.7322954516388018, 1.0829640838457826, 1.037951576212666},
         {-0.10787507995107845, 0.615506895115985, 0.7281484484339118, 0.24214819798377296, -0.07624539207361294}},
        {tg_softplus,
         {0.11920292202211755, 0.37754066879814546, 0.574442516811659, 0.7310585786300049, 0.9241418199787564},
         {0.1049935854035065, 0.2350037122015945, 0.24445831169074586, 0.19661193324148185, 0.07010371654510807}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_tape_reset(t);
        tg_tensor *x = T64(t, SHAPE(5), -2, -0.5, 0.3, 1, 2.5);
        tg_requires_grad(x);
        tg_tensor *y = cases[i].fn(t, x), *g, *g2;
        tg_tensor *ones = tg_ones(t, TG_F64, SHAPE(5));
        assert_int_equal(tg_grad(t, 1, &y, &ones, 1, &x, &g, &(tg_grad_opts){.create_graph = true}), TG_OK);
        assert_values(g, cases[i].d1, 5, 1e-12);
        assert_int_equal(tg_grad(t, 1, &g, &ones, 1, &x, &g2, NULL), TG_OK);
        assert_values(g2, cases[i].d2, 5, 1e-12);
    }
}

/* ---- large tensors ---- */

enum { BIG = 1 << 17 };

/* the definitions, evaluated one element at a time in the tensor's type */
#define SERIAL(T)                                                                                  \
    static double serial_##T(int i, T x) {                                                         \
        switch (i) {                                                                               \
        case 0: return -x;                                                                         \
        case 1: return fabs(x);                                                                    \
        case 2: return (x > 0) - (x < 0);                                                          \
        case 3: return exp(x);                                                                     \
        case 4: return x * x;                                                                      \
        case 5: return sin(x);                                                                     \
        case 6: return cos(x);                                                                     \
        case 7: return tanh(x);                                                                    \
        case 8: return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));                         \
        case 9: return x <= 0 ? 0 : x;                                                             \
        case 10: return x > 0 ? x : (T)0.1 * x;                                                    \
        case 11:                                                                                   \
            return (T)0.5 * x * (1 + tanh((T)0.7978845608028654 * (x + (T)0.044715 * x * x * x))); \
        case 12: return x > 20 ? x : (x > 0 ? x : 0) + log1p(exp(-fabs(x)));                       \
        case 13: return x < (T)-0.5 ? (T)-0.5 : (x > (T)0.7 ? (T)0.7 : x);                         \
        case 14: return log(x);                                                                    \
        case 15: return sqrt(x);                                                                   \
        default: return 1 / sqrt(x);                                                               \
        }                                                                                          \
    }
SERIAL(float)
SERIAL(double)

static void test_large_tensors_match_the_serial_definition(void **state) {
    tg_tape *t = *state;
    assert_int_equal(N_KNOWN, 17);
    for (int d = 0; d < 2; d++) {
        tg_tape_reset(t);
        tg_rng rng = tg_rng_new(23);
        tg_tensor *x = tg_sample_uniform(t, &rng, dtypes[d], SHAPE(BIG + 3), -4.0, 4.0);
        tg_tensor *xp = tg_sample_uniform(t, &rng, dtypes[d], SHAPE(BIG + 3), 0.01, 30.0);
        for (int i = 0; i < N_KNOWN; i++) {
            tg_tensor *in = known[i].positive ? xp : x;
            tg_tensor *y = known[i].fn(t, in);
            assert_non_null(y);
            for (int64_t k = 0; k < y->numel; k++) {
                double want = dtypes[d] == TG_F32 ? serial_float(i, (float)tg_get(in, k))
                                                  : serial_double(i, tg_get(in, k));
                double got = tg_get(y, k);
                if (dtypes[d] == TG_F32) want = (float)want;
                if (got != want) {
                    print_error("%s %s element %lld: got %.17g, expected %.17g\n", known[i].name,
                                tg_dtype_name(dtypes[d]), (long long)k, got, want);
                    fail();
                }
            }
        }
    }
}

static void test_large_results_are_bit_identical_with_one_and_two_threads(void **state) {
    tg_tape *t = *state, *src = tg_tape_new();
    int threads_before = tg_get_num_threads();
    for (int d = 0; d < 2; d++) {
        uint64_t hashes[2][2 * N_KNOWN];
        tg_rng rng = tg_rng_new(29);
        tg_tensor *x = tg_sample_uniform(src, &rng, dtypes[d], SHAPE(256, 513), 0.1, 3.0);
        tg_tensor *g = tg_sample_uniform(src, &rng, dtypes[d], SHAPE(256, 513), -1.0, 1.0);
        for (int run = 0; run < 2; run++) {
            tg_set_num_threads(run + 1);
            for (int i = 0; i < N_KNOWN; i++) {
                tg_tape_reset(t);
                tg_tensor *xi = tg_detach(t, x), *gi = tg_detach(t, g);
                tg_requires_grad(xi);
                tg_tensor *y = known[i].fn(t, xi);
                hashes[run][2 * i] = tg_tensor_hash(y);
                assert_int_equal(tg_backward(t, y, &(tg_backward_opts){.grad_output = gi}), TG_OK);
                hashes[run][2 * i + 1] = xi->grad ? tg_tensor_hash(xi->grad) : 0;
            }
        }
        for (int k = 0; k < 2 * N_KNOWN; k++) assert_true(hashes[0][k] == hashes[1][k]);
    }
    tg_set_num_threads(threads_before);
    tg_tape_free(src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_every_unary_op_on_known_values_in_f32_and_f64),
        T(test_scalars_and_higher_ranks_keep_their_shape),
        T(test_sigmoid_and_softplus_are_stable_for_large_inputs),
        T(test_nan_propagates_through_every_unary_op_but_sign),
        T(test_clamp_with_equal_bounds_is_constant),
        T(test_gradients_at_kinks_follow_pytorch),
        T(test_every_unary_gradient_matches_central_differences),
        T(test_every_unary_second_derivative_matches_central_differences),
        T(test_second_derivatives_match_pytorch),
        T(test_large_tensors_match_the_serial_definition),
        T(test_large_results_are_bit_identical_with_one_and_two_threads),
#undef T
    };
    return cmocka_run_group_tests_name("unary", tests, NULL, NULL);
}
