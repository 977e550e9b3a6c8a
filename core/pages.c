#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include "core/pages.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

void tg_advise_huge_pages(void *p, size_t bytes) {
#ifdef MADV_HUGEPAGE
    uintptr_t first = ((uintptr_t)p + TG_HUGE_PAGE - 1) & ~(uintptr_t)(TG_HUGE_PAGE - 1);
    uintptr_t end = ((uintptr_t)p + bytes) & ~(uintptr_t)(TG_HUGE_PAGE - 1);
    if (p && end > first) (void)madvise((void *)first, end - first, MADV_HUGEPAGE); /* advice: refusal is harmless */
#else
    (void)p, (void)bytes;
#endif
}

void *tg_alloc_large(size_t alignment, size_t bytes) {
    if (bytes < TG_HUGE_PAGE) return aligned_alloc(alignment, (bytes + alignment - 1) & ~(alignment - 1));
    if (bytes > SIZE_MAX - TG_HUGE_PAGE) return NULL;
    size_t whole = (bytes + TG_HUGE_PAGE - 1) & ~(size_t)(TG_HUGE_PAGE - 1);
    void *p = aligned_alloc(TG_HUGE_PAGE, whole);
    tg_advise_huge_pages(p, whole);
    return p;
}
