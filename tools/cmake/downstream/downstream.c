/* Built by tools/test.sh against an installed tapegrad: computes one gradient
 * and checks it. loss = sum((x @ w - y)^2), w [2,1], x [3,2], y [3,1];
 * dloss/dw = 2 x^T (x @ w - y). */
#include <math.h>
#include <stdio.h>

#include <tapegrad.h>

int main(void) {
    tg_params *params = tg_params_new();
    tg_tape *tape = tg_tape_new();
    tg_tensor *w = tg_param(params, "w", TG_F64, 2, (int64_t[]){2, 1}, TG_INIT_ONES, NULL);
    if (!params || !tape || !w) {
        fprintf(stderr, "downstream: %s\n", tg_last_error());
        return 1;
    }
    tg_tensor *x = tg_tensor_from(tape, TG_F64, 2, (int64_t[]){3, 2}, (double[]){1, 2, 3, 4, 5, 6});
    tg_tensor *y = tg_tensor_from(tape, TG_F64, 2, (int64_t[]){3, 1}, (double[]){1, 0, -1});
    tg_tensor *loss = tg_sum(tape, tg_square(tape, tg_sub(tape, tg_matmul(tape, x, w), y)), NULL, 0, false);
    if (!loss || tg_backward(tape, loss, NULL)) {
        fprintf(stderr, "downstream: %s\n", tg_tape_error(tape));
        return 1;
    }
    /* x @ w - y = [2, 7, 12]; 2 x^T [2, 7, 12] = [2 (2 + 21 + 60), 2 (4 + 28 + 72)] */
    const double expected[2] = {166, 208};
    int ok = fabs(tg_item(loss) - 197) < 1e-12;
    for (int i = 0; i < 2; i++) ok = ok && fabs(tg_get(w->grad, i) - expected[i]) < 1e-12;
    printf("downstream: loss %g, dloss/dw = [%g, %g] (expected 197, [166, 208]): %s\n", tg_item(loss),
           tg_get(w->grad, 0), tg_get(w->grad, 1), ok ? "ok" : "WRONG");
    tg_tape_free(tape);
    tg_params_free(params);
    return ok ? 0 : 1;
}
