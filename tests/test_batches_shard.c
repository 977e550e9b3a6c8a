/* Sharded mini-batches: each of `size` ranks deals its contiguous share of
 * every batch, the shares together are exactly the batch one process deals,
 * and an iterator whose smallest batch cannot give every rank a sample is
 * refused. */
#include "testing.h"

/* Deals one epoch of n samples in batches of b, alone and as each of
 * `size` ranks, and checks every batch is the ranks' shares laid end to end. */
static void check_shares_make_the_batches(int64_t n, int64_t b, int size) {
    tg_rng alone_rng = tg_rng_new(8);
    tg_batches *alone = tg_batches_new(n, b, false, &alone_rng);
    tg_batches *ranks[4];
    tg_rng rngs[4];
    for (int r = 0; r < size; r++) {
        rngs[r] = tg_rng_new(8);
        ranks[r] = tg_batches_new(n, b, false, &rngs[r]);
        assert_int_equal(tg_batches_shard(ranks[r], r, size), TG_OK);
    }
    const int64_t *whole;
    int64_t count;
    while (tg_batches_next(alone, &whole, &count)) {
        int64_t at = 0, smallest = count, largest = 0;
        for (int r = 0; r < size; r++) {
            const int64_t *share;
            int64_t got;
            const int64_t *peeked;
            int64_t peeked_count;
            assert_true(tg_batches_peek(ranks[r], &peeked, &peeked_count)); /* the share next deals */
            assert_true(tg_batches_next(ranks[r], &share, &got));
            assert_ptr_equal(peeked, share);
            assert_int_equal(peeked_count, got);
            assert_int_equal(tg_batches_last_size(ranks[r]), count);
            for (int64_t k = 0; k < got; k++) assert_int_equal(share[k], whole[at + k]);
            at += got;
            smallest = got < smallest ? got : smallest;
            largest = got > largest ? got : largest;
        }
        assert_int_equal(at, count);
        assert_true(largest - smallest <= 1);
    }
    for (int r = 0; r < size; r++) {
        const int64_t *share;
        int64_t got;
        assert_false(tg_batches_next(ranks[r], &share, &got)); /* the epoch ends for every rank at once */
        tg_batches_free(ranks[r]);
    }
    tg_batches_free(alone);
}

static void test_the_ranks_shares_laid_end_to_end_are_the_batch_of_one_process(void **state) {
    (void)state;
    check_shares_make_the_batches(256, 128, 2); /* 64 + 64 */
    check_shares_make_the_batches(230, 51, 3);  /* 17 + 17 + 17, last 8 + 9 + 9 */
    check_shares_make_the_batches(230, 51, 2);  /* 25 + 26 */
    check_shares_make_the_batches(10, 10, 4);   /* 2 + 3 + 2 + 3 */
    check_shares_make_the_batches(7, 3, 1);     /* alone: the batches themselves */
}

static void test_a_batch_smaller_than_the_rank_count_is_refused(void **state) {
    (void)state;
    tg_batches *b = tg_batches_new(129, 128, false, NULL); /* the last batch holds 1 sample */
    assert_int_equal(tg_batches_shard(b, 0, 2), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "tg_batches_shard: a batch of 1 samples");
    assert_int_equal(tg_batches_shard(b, 2, 2), TG_ERR_ARG);
    assert_error_mentions(tg_last_error(), "rank 2 of 2 is not a rank");
    tg_batches_free(b);
    b = tg_batches_new(129, 128, true, NULL); /* drop_last: every batch holds 128 */
    assert_int_equal(tg_batches_shard(b, 1, 2), TG_OK);
    const int64_t *share;
    int64_t got;
    assert_true(tg_batches_next(b, &share, &got));
    assert_int_equal(got, 64);
    assert_int_equal(share[0], 64);
    assert_int_equal(tg_batches_last_size(b), 128);
    tg_batches_free(b);
    assert_int_equal(tg_batches_shard(NULL, 0, 1), TG_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_ranks_shares_laid_end_to_end_are_the_batch_of_one_process),
        cmocka_unit_test(test_a_batch_smaller_than_the_rank_count_is_refused),
    };
    return cmocka_run_group_tests_name("batches shard", tests, NULL, NULL);
}
