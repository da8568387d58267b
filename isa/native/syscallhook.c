/* The SYSCALL trap's native half: Unicorn's UC_HOOK_INSN callback for SYSCALL.
 *
 * Built with the other hooks by cofferos/isa/native/__init__.py. Per trap it reads
 * RAX and the six argument registers into the control words with one
 * uc_reg_read_batch, calls the kernel's Python trap (a ctypes callback with no
 * arguments), and if the kernel left a return value in the control words writes it
 * to RAX with one uc_reg_write. Done here, those two engine calls cost a C call
 * each instead of a ctypes foreign call (a few hundred nanoseconds) each. It also
 * copies the block counter's whole cycles at the call into the words, where a timed
 * run's record of the call reads them (cheaper than the ctypes field), and calls a
 * second trap instead when first touches are logged, which hands them to the kernel
 * first (so the usual one need not look at the log). The word
 * layout (TRAP_*) comes from cofferos/isa/syscalltrap.py as -D flags; the engine
 * functions' addresses are in the words too, so the library does not link Unicorn. */
#include <stdint.h>

typedef int (*read_batch_fn)(void *uc, int *regs, void **values, int count);
typedef int (*reg_write_fn)(void *uc, int regid, const void *value);
typedef void (*trap_fn)(void);

void syscall_hook(void *uc, void *user_data) {
    uint64_t *ctl = (uint64_t *)user_data;
    ((read_batch_fn)(uintptr_t)ctl[TRAP_READ_BATCH_FN])(
        uc, (int *)(uintptr_t)ctl[TRAP_REG_IDS], (void **)(uintptr_t)ctl[TRAP_VALUE_PTRS],
        (int)TRAP_ARG_WORDS);
    ctl[TRAP_HAS_RESULT] = 0;
    ctl[TRAP_CYCLES] = *(const uint64_t *)(uintptr_t)ctl[TRAP_CYCLE_WORD] >> CYCLE_FRACTION_BITS;
    const uint64_t *touches = (const uint64_t *)(uintptr_t)ctl[TRAP_TOUCHES_AT];
    ((trap_fn)(uintptr_t)ctl[touches != 0 && *touches ? TRAP_PYTHON_TOUCHED_FN
                                                       : TRAP_PYTHON_FN])();
    if (ctl[TRAP_HAS_RESULT])
        ((reg_write_fn)(uintptr_t)ctl[TRAP_REG_WRITE_FN])(uc, (int)ctl[TRAP_RESULT_REG],
                                                          &ctl[TRAP_RESULT]);
}
