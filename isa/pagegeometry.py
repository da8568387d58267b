"""Guest pages and blocks: their sizes, and the protection byte each page has.

The block map (:mod:`cofferos.isa.blockmap`) cuts the guest address space into
aligned :data:`BLOCK_SIZE` blocks, one engine region each, and keeps one protection
byte per page: :data:`UNMAPPED`, :data:`PROT_NONE` or mmap's ``PROT_*`` bits. The
compiled TLB hooks read the same bytes (the constants reach them as ``-D`` flags,
:mod:`cofferos.isa.native`).
"""

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
BLOCK_SIZE = 64 << 20  #: guest bytes per host block; one engine region each
PAGES_PER_BLOCK = BLOCK_SIZE // PAGE_SIZE
BLOCK_OFFSET_MASK = BLOCK_SIZE - 1
UNMAPPED = -1  #: a page's protection when nothing is mapped there
PROT_NONE = 0  #: mapped but inaccessible: kept in the host block, refused by the TLB
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4  # mmap(2) protection bits
#: A page's protection byte as the arrays hold it (UNMAPPED is -1 as int8, 0xFF).
UNMAPPED_BYTE = UNMAPPED & 0xFF
