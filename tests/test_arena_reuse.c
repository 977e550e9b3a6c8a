/* The arena takes back released blocks: later allocations of 4 KiB or more
 * reuse them before the arena grows; the peak counts what was in use at once;
 * marks tell the blocks handed out since. */
#include "testing.h"

static void test_a_released_block_is_handed_out_again(void **state) {
    (void)state;
    void *a = tg_tape_alloc(tape, 8192);
    assert_non_null(a);
    size_t used = tg_tape_arena_used(tape);
    tg_tape_release(tape, a, 8192);
    assert_int_equal(tg_tape_arena_used(tape), used - 8192);
    void *b = tg_tape_alloc(tape, 8192);
    assert_ptr_equal(b, a);
    assert_int_equal(tg_tape_arena_used(tape), used);
}

static void test_a_larger_released_block_is_split(void **state) {
    (void)state;
    unsigned char *a = tg_tape_alloc(tape, 3 * 4096);
    tg_tape_release(tape, a, 3 * 4096);
    unsigned char *b = tg_tape_alloc(tape, 4096), *c = tg_tape_alloc(tape, 8192);
    assert_ptr_equal(b, a);
    assert_ptr_equal(c, a + 4096);
}

static void test_small_allocations_do_not_take_released_blocks(void **state) {
    (void)state;
    void *a = tg_tape_alloc(tape, 8192);
    tg_tape_release(tape, a, 8192);
    void *small = tg_tape_alloc(tape, 100);
    assert_ptr_not_equal(small, a);
    assert_ptr_equal(tg_tape_alloc(tape, 8192), a);
}

static void test_the_peak_is_the_most_in_use_at_once(void **state) {
    (void)state;
    size_t base = tg_tape_arena_used(tape);
    void *a = tg_tape_alloc(tape, 16384), *b = tg_tape_alloc(tape, 16384);
    tg_tape_release(tape, a, 16384);
    tg_tape_release(tape, b, 16384);
    assert_non_null(tg_tape_alloc(tape, 16384));
    assert_int_equal(tg_tape_arena_peak(tape), base + 32768);
    assert_int_equal(tg_tape_arena_used(tape), base + 16384);
    tg_tape_reset(tape);
    assert_int_equal(tg_tape_arena_peak(tape), 0);
    assert_int_equal(tg_tape_arena_used(tape), 0);
}

static void test_marks_tell_blocks_handed_out_since(void **state) {
    (void)state;
    void *before = tg_tape_alloc(tape, 256);
    uint64_t mark = tg_tape_arena_mark(tape);
    void *after = tg_tape_alloc(tape, 256);
    double outside = 0;
    assert_false(tg_tape_arena_since(tape, mark, before));
    assert_true(tg_tape_arena_since(tape, mark, after));
    assert_false(tg_tape_arena_since(tape, mark, &outside));
    /* a block from a new chunk, when the first one is full, is "since" too */
    void *big = tg_tape_alloc(tape, (size_t)4 << 20);
    assert_true(tg_tape_arena_since(tape, mark, big));
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, tape_setup, tape_teardown)
    const struct CMUnitTest tests[] = {
        T(test_a_released_block_is_handed_out_again),
        T(test_a_larger_released_block_is_split),
        T(test_small_allocations_do_not_take_released_blocks),
        T(test_the_peak_is_the_most_in_use_at_once),
        T(test_marks_tell_blocks_handed_out_since),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
