/* Large blocks (core/pages.h): from 2 MiB up, whole 2 MiB pages on a 2 MiB
 * boundary advised to be huge pages (Linux marks the range "hg" in
 * /proc/self/smaps); smaller blocks keep the alignment asked for; sizes that
 * cannot be rounded up are refused. */
#include <stdint.h>
#include <stdlib.h>

#include "core/pages.h"
#include "testing.h"

/* Whether the mapping holding p is advised huge pages (VmFlags "hg"); -1
 * when /proc/self/smaps cannot tell (another system). */
static int advised_huge(const void *p) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    int found = -1, inside = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) { /* a mapping's first line */
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            found = strstr(line, " hg") != NULL;
            break;
        }
    }
    fclose(f);
    return found;
}

static void test_a_large_block_is_whole_huge_pages_advised_as_such(void **state) {
    (void)state;
    size_t bytes = 3 * (size_t)TG_HUGE_PAGE + 100;
    unsigned char *p = tg_alloc_large(64, bytes);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % TG_HUGE_PAGE, 0);
    memset(p, 0xab, 4 * (size_t)TG_HUGE_PAGE); /* rounded up to 4 whole pages: all of it is ours */
    assert_int_equal(p[4 * (size_t)TG_HUGE_PAGE - 1], 0xab);
    assert_int_equal(p[0], 0xab);
    int huge = advised_huge(p);
    if (huge >= 0) assert_int_equal(huge, 1);
    free(p);
}

static void test_a_small_block_keeps_the_alignment_asked_for(void **state) {
    (void)state;
    unsigned char *p = tg_alloc_large(64, 1000); /* not a multiple of 64: rounded up */
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 64, 0);
    memset(p, 1, 1024);
    free(p);
    p = tg_alloc_large(4096, (size_t)TG_HUGE_PAGE - 4096);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 4096, 0);
    free(p);
}

static void test_advice_covers_only_the_whole_huge_pages_inside_a_block(void **state) {
    (void)state;
    /* a block from elsewhere: its 2 MiB-aligned interior is advised, the
     * ragged ends are not, and the contents never change */
    size_t bytes = 5 * (size_t)TG_HUGE_PAGE;
    unsigned char *p = malloc(bytes);
    assert_non_null(p);
    memset(p, 7, bytes);
    tg_advise_huge_pages(p + 1, bytes - 2);
    tg_advise_huge_pages(NULL, bytes);  /* nothing to advise */
    tg_advise_huge_pages(p, 100);       /* no whole page inside */
    for (size_t i = 0; i < bytes; i += 4096) assert_int_equal(p[i], 7);
    uintptr_t first = ((uintptr_t)p + 1 + TG_HUGE_PAGE - 1) & ~(uintptr_t)(TG_HUGE_PAGE - 1);
    int huge = advised_huge((void *)first);
    if (huge >= 0) assert_int_equal(huge, 1);
    huge = advised_huge(p);
    if (huge >= 0 && (uintptr_t)p != first) assert_int_equal(huge, 0);
    free(p);
}

static void test_a_size_that_cannot_be_rounded_up_is_refused(void **state) {
    (void)state;
    assert_null(tg_alloc_large(64, SIZE_MAX - 10));
    assert_null(tg_alloc_large(64, SIZE_MAX - TG_HUGE_PAGE + 1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_large_block_is_whole_huge_pages_advised_as_such),
        cmocka_unit_test(test_a_small_block_keeps_the_alignment_asked_for),
        cmocka_unit_test(test_advice_covers_only_the_whole_huge_pages_inside_a_block),
        cmocka_unit_test(test_a_size_that_cannot_be_rounded_up_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
