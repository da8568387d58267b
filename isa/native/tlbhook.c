/* The virtual TLB's fill hook: a page's permissions straight from the block map.
 *
 * Unicorn (in UC_TLB_VIRTUAL mode) calls this UC_HOOK_TLB_FILL callback on every
 * TLB miss. It answers as BlockMap.tlb_answer (cofferos/isa/blockmap.py) does: find
 * the page's block in the table of (block base, address of its int8 protection
 * array) that the block map publishes in user_data (its tlb_ctl words), read the
 * page's protection, and enter the page at its own address with its permissions,
 * or at TRAP_BIT above it, where the engine has no memory, when the access is
 * refused or the page lies outside every block, so the engine reports the fault
 * at the guest address plus TRAP_BIT: every fault lands at or above TRAP_BIT,
 * the only range the CPU's fault hook covers (isa/cpu.py says why that keeps
 * stores on Unicorn's fast path). mmap's PROT_* bits are Unicorn's UC_PROT_* bits.
 * The constants come from the Python modules as -D flags (isa/native/__init__.py). */
#include <stdbool.h>
#include <stdint.h>

struct tlb_entry {  /* unicorn.h's uc_tlb_entry */
    uint64_t paddr;
    uint32_t perms;  /* uc_prot, an enum */
};

bool tlb_fill_hook(void *uc, uint64_t page, int access, struct tlb_entry *entry,
                   void *user_data) {
    (void)uc;
    const uint64_t *ctl = (const uint64_t *)user_data;
    const uint64_t *table = (const uint64_t *)(uintptr_t)ctl[TLB_TABLE];
    uint64_t base = page & ~(uint64_t)BLOCK_OFFSET_MASK;
    uint32_t needs = access == UC_MEM_WRITE ? UC_PROT_WRITE
                   : access == UC_MEM_FETCH ? UC_PROT_EXEC : UC_PROT_READ;
    uint64_t paddr = page | (uint64_t)TRAP_BIT;  /* outside every block: a trap */
    uint32_t perms = needs;
    for (uint64_t i = 0; i < ctl[TLB_BLOCKS]; i++) {
        if (table[2 * i] != base)
            continue;
        const int8_t *prot = (const int8_t *)(uintptr_t)table[2 * i + 1];
        int page_prot = prot[(page & (uint64_t)BLOCK_OFFSET_MASK) >> PAGE_SHIFT];
        uint32_t allowed = page_prot > PROT_NONE ? (uint32_t)page_prot : 0;
        if (allowed & needs) {
            paddr = page;
            perms = allowed;
        }
        break;
    }
    entry->paddr = paddr;
    entry->perms = perms;
    return true;
}

/* The same, for a CPU whose kernel counts page faults (the timing machine's): the
 * first use of a mapped page (its byte in the block's touched array, published in
 * ctl[TLB_TOUCHED], still 0) is a page fault, once; every later miss on it is
 * answered here alone. The block map clears a page's byte when the page is mapped
 * anew. The fault is logged, not shown to the kernel at once: the word at
 * ctl[TLB_CYCLES] (the block counter's cycles, as the kernel would read them at the
 * fault) goes to the next of the ctl[TLB_LOG_CAP] words at ctl[TLB_LOG], and the
 * kernel takes the log whenever it next runs (isa/touchlog.py). With no log, or a
 * full one, the function in ctl[TLB_TOUCH_FN] is called, which takes the log and
 * then this fault. */
typedef void (*touch_fn)(const uint64_t *ctl, uint64_t page);

bool tlb_fill_track_hook(void *uc, uint64_t page, int access, struct tlb_entry *entry,
                         void *user_data) {
    uint64_t *ctl = (uint64_t *)user_data;
    const uint64_t *table = (const uint64_t *)(uintptr_t)ctl[TLB_TABLE];
    const uint64_t *touched = (const uint64_t *)(uintptr_t)ctl[TLB_TOUCHED];
    uint64_t base = page & ~(uint64_t)BLOCK_OFFSET_MASK;
    for (uint64_t i = 0; i < ctl[TLB_BLOCKS]; i++) {
        if (table[2 * i] != base)
            continue;
        uint64_t index = (page & (uint64_t)BLOCK_OFFSET_MASK) >> PAGE_SHIFT;
        const int8_t *prot = (const int8_t *)(uintptr_t)table[2 * i + 1];
        uint8_t *used = (uint8_t *)(uintptr_t)touched[i];
        if (prot[index] != UNMAPPED && !used[index]) {
            used[index] = 1;
            uint64_t logged = ctl[TLB_LOGGED];
            if (ctl[TLB_LOG] && logged < ctl[TLB_LOG_CAP]) {
                ((uint64_t *)(uintptr_t)ctl[TLB_LOG])[logged] =
                    *(const uint64_t *)(uintptr_t)ctl[TLB_CYCLES];
                ctl[TLB_LOGGED] = logged + 1;
            } else {
                ((touch_fn)(uintptr_t)ctl[TLB_TOUCH_FN])(ctl, page);
            }
        }
        break;
    }
    return tlb_fill_hook(uc, page, access, entry, user_data);
}
