/* Built by tools/test.sh against an installed tapegrad with tapegrad_dist and
 * run under mpirun: every rank holds w = [1, 2] with the gradient [rank, 1];
 * after averaging every rank has [(0 + 1 + ... + (N-1)) / N, 1]. */
#include <math.h>
#include <stdio.h>

#include <tapegrad_dist.h>

int main(int argc, char **argv) {
    tg_dist *d = tg_dist_init(&argc, &argv, NULL);
    tg_params *params = tg_params_new();
    tg_tensor *w = params ? tg_param(params, "w", TG_F64, 1, (int64_t[]){2}, TG_INIT_ONES, NULL) : NULL;
    if (!d || !w) {
        fprintf(stderr, "downstream_dist: %s\n", tg_last_error());
        return 1;
    }
    int rank = tg_dist_rank(d), size = tg_dist_size(d);
    tg_set(w->grad, 0, rank);
    tg_set(w->grad, 1, 1);
    int ok = tg_dist_average_grads(d, params) == TG_OK;
    ok = ok && fabs(tg_get(w->grad, 0) - (size - 1) / 2.0) < 1e-15 && tg_get(w->grad, 1) == 1;
    if (rank == 0)
        printf("downstream_dist: %d ranks, mean gradient [%g, %g] (expected [%g, 1]): %s\n", size, tg_get(w->grad, 0),
               tg_get(w->grad, 1), (size - 1) / 2.0, ok ? "ok" : "WRONG");
    tg_params_free(params);
    return tg_dist_finalize(d) == TG_OK && ok ? 0 : 1;
}
