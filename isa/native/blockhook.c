/* The per-block instruction and cycle counter: Unicorn's UC_HOOK_BLOCK callback.
 *
 * Built on first use with the host's C compiler by cofferos/isa/native/__init__.py
 * (and cached), so the simulator starts without a JIT compiler. The control array
 * layout and the hash table are described in cofferos/isa/blockcount.py; the CTL_*
 * values below must equal the constants there (the loader passes them in as -D
 * flags, so one list is the source of truth).
 *
 * Per executed block: stop if the budget is reached; else resolve the conditional
 * branch that ended the previous block, if it did (with a cycle model that charges
 * mispredictions: see resolve_branch), and count the block from a one-entry cache (a
 * loop that is one block), or from the open-addressing table, or ask the Python miss
 * handler once to fill the table and try again. */
#include <stdint.h>

typedef void (*miss_fn)(uint64_t *ctl, uint64_t address, uint32_t size);
typedef int (*stop_fn)(void *uc);

/* The branch that ended the last block went to `address`: taken unless that is its
 * fall-through. A gshare predictor (counters indexed by branch address ^ global
 * history) had predicted it; a wrong prediction costs CTL_MISPREDICT_CYCLES. Taken, its
 * block costs at least TAKEN_BRANCH_UNITS. */
static void resolve_branch(uint64_t *ctl, uint64_t address) {
    uint64_t end = ctl[CTL_BRANCH_END];
    uint64_t taken = address != end;
    uint64_t history = ctl[CTL_HISTORY];
    uint8_t *counters = (uint8_t *)(uintptr_t)ctl[CTL_PREDICTOR];
    uint64_t slot = (end ^ history) & PREDICTOR_MASK;
    uint8_t counter = counters[slot];
    if ((counter >= COUNTER_TAKEN) != taken) {
        ctl[CTL_MISPREDICTS] += 1;
        ctl[CTL_CYCLES] += ctl[CTL_MISPREDICT_CYCLES];
    }
    if (taken) {
        /* a taken branch ends the core's fetch for the cycle: its block costs at least
         * TAKEN_BRANCH_UNITS */
        uint64_t block = ctl[CTL_RECENT_VALUE] >> VALUE_SHIFT; /* the last block counted */
        if (block < TAKEN_BRANCH_UNITS)
            ctl[CTL_CYCLES] += TAKEN_BRANCH_UNITS - block;
        if (counter < COUNTER_MAX)
            counters[slot] = counter + 1;
    } else if (counter > 0) {
        counters[slot] = counter - 1;
    }
    ctl[CTL_HISTORY] = ((history << 1) | taken) & HISTORY_MASK;
}

/* A value's cycles and CTL_CYCLES are both fixed point (CYCLE_FRACTION_BITS below the
 * cycle), so fractions add up exactly at no cost. */
static inline void count(uint64_t *ctl, uint64_t value, uint64_t address, uint32_t size) {
    ctl[CTL_INSNS] += value & INSN_MASK;
    ctl[CTL_CYCLES] += value >> VALUE_SHIFT;
    ctl[CTL_BRANCH_END] = (value & BRANCH_FLAG) ? address + size : 0;
}

void block_hook(void *uc, uint64_t address, uint32_t size, void *user_data) {
    uint64_t *ctl = (uint64_t *)user_data;
    if (ctl[CTL_INSNS] >= ctl[CTL_LIMIT]) {
        ctl[CTL_STOPPED] = 1;
        ((stop_fn)(uintptr_t)ctl[CTL_STOP_FN])(uc);
        return;
    }
    if (ctl[CTL_BRANCH_END])
        resolve_branch(ctl, address);
    uint64_t key = (address << KEY_SHIFT) | size;
    ctl[CTL_LAST_ADDR] = address;
    ctl[CTL_LAST_SIZE] = size;
    if (key == ctl[CTL_RECENT_KEY]) {
        count(ctl, ctl[CTL_RECENT_VALUE], address, size);
        return;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        uint64_t mask = ctl[CTL_MASK];
        uint64_t *table = (uint64_t *)(uintptr_t)ctl[CTL_TABLE];
        uint64_t slot = (address ^ (address >> HASH_SHIFT)) & mask;
        for (;;) {
            uint64_t probe = table[slot << 1];
            if (probe == key) {
                uint64_t value = table[(slot << 1) | 1];
                ctl[CTL_RECENT_KEY] = key;
                ctl[CTL_RECENT_VALUE] = value;
                count(ctl, value, address, size);
                return;
            }
            if (probe == 0)
                break;
            slot = (slot + 1) & mask;
        }
        ((miss_fn)(uintptr_t)ctl[CTL_MISS_FN])(ctl, address, size);
    }
}
