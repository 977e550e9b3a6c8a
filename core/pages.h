/* Large blocks backed by the system's huge pages where it offers them.
 *
 * A page fault costs microseconds (about 11 us on a virtual machine), and a
 * block of memory is faulted in 4 KiB at a time: the 47 MB of Fashion-MNIST's
 * images, or a tape's arena after an evaluation batch of 1000, take thousands
 * of faults on first touch. Linux's transparent huge pages in "madvise" mode
 * (Debian's default) back a 2 MiB-aligned range with one 2 MiB page on its
 * first touch when the range is advised to: one fault instead of 512, and
 * one TLB entry for what random rows of a data set or a layer's weights
 * spread over hundreds. Elsewhere (another system, huge pages off) the
 * advice is ignored and the blocks are ordinary memory. */
#ifndef TG_CORE_PAGES_H
#define TG_CORE_PAGES_H
#include <stddef.h>

enum { TG_HUGE_PAGE = 2 << 20 }; /* 2 MiB */

/* bytes of memory aligned to `alignment` (a power of two, at most
 * TG_HUGE_PAGE), released with free(). From TG_HUGE_PAGE bytes up the block
 * starts on a 2 MiB boundary, is a whole number of 2 MiB pages and is
 * advised to be backed by huge pages; smaller blocks are aligned_alloc's.
 * NULL when memory is short. */
void *tg_alloc_large(size_t alignment, size_t bytes);

/* Advises huge pages for the whole 2 MiB pages inside [p, p + bytes), a
 * block allocated elsewhere (one realloc grows, say), before it is touched:
 * pages already touched keep their small pages. */
void tg_advise_huge_pages(void *p, size_t bytes);

#endif
