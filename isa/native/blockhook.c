/* The per-block instruction and cycle counter: Unicorn's UC_HOOK_BLOCK callback.
 *
 * Built on first use with the host's C compiler by cofferos/isa/native/__init__.py
 * (and cached), so the simulator starts without a JIT compiler. The control array
 * layout and the hash table are described in cofferos/isa/blockcount.py; the CTL_*
 * values below must equal the constants there (the loader passes them in as -D
 * flags, so one list is the source of truth).
 *
 * Per executed block: stop if the budget is reached; else resolve the conditional
 * branch that ended the previous block, if it did (with a cycle model that marks
 * blocks and charges mispredictions: see resolve_branch and fetch_redirect), and
 * count the block from a one-entry cache (a
 * loop that is one block), or from the open-addressing table, or ask the Python miss
 * handler once to fill the table and try again. A loop that is one block, once the
 * predictor and the front end's clock would not change from one iteration to the next
 * (try_steady), is counted by two additions until it is left. */
#include <stdint.h>

typedef void (*miss_fn)(uint64_t *ctl, uint64_t address, uint32_t size);
typedef int (*stop_fn)(void *uc);

#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* The front end has fetched up to a taken transfer that ends a block whose back-end
 * cost began at `start` on the counter's clock. The branch predictor runs ahead of
 * the back end through its queues, at one taken transfer a cycle, but never more than
 * CTL_FETCH_AHEAD ahead: so a redirect costs the core a cycle only when the front end
 * is what holds it up, and the back end waits for it (the counter, `cycles`, moves up
 * to it: the new counter is returned). With no run-ahead, every block that ends with a
 * taken transfer costs at least TAKEN_BRANCH_UNITS, as before the front end had a clock
 * of its own. Saturating max/min arithmetic, so the compiler emits conditional moves. */
static inline uint64_t fetch_redirect(uint64_t *ctl, uint64_t start, uint64_t cycles) {
    uint64_t ahead = ctl[CTL_FETCH_AHEAD];
    uint64_t fetch = ctl[CTL_FETCH];
    uint64_t stalled = start - (start < ahead ? start : ahead); /* its queues were full */
    fetch = (fetch > stalled ? fetch : stalled) + TAKEN_BRANCH_UNITS;
    ctl[CTL_FETCH] = fetch;
    return fetch > cycles ? fetch : cycles;
}

/* A wrong prediction (rare, so out of line): the penalty, after which the front end
 * starts again from the back end's clock. Returns the new counter. */
static __attribute__((noinline)) uint64_t mispredicted(uint64_t *ctl, uint64_t cycles) {
    ctl[CTL_MISPREDICTS] += 1;
    cycles += ctl[CTL_MISPREDICT_CYCLES];
    ctl[CTL_FETCH] = cycles;
    return cycles;
}

/* The branch that ended the last block (its fall-through is `end`) went to `address`:
 * taken unless that is its fall-through. A gshare predictor (counters indexed by branch
 * address ^ global history) had predicted it; a wrong prediction costs
 * CTL_MISPREDICT_CYCLES. `cycles` is the counter's clock, kept in a register from here
 * to count's one store: the new one is returned. */
static inline uint64_t resolve_branch(uint64_t *ctl, uint64_t address, uint64_t end,
                                      uint64_t cycles) {
    uint64_t taken = address != end;
    uint64_t history = ctl[CTL_HISTORY];
    uint8_t *counters = (uint8_t *)(uintptr_t)ctl[CTL_PREDICTOR];
    uint64_t slot = (end ^ history) & PREDICTOR_MASK;
    uint8_t counter = counters[slot];
    ctl[CTL_BRANCH_END] = 0; /* resolved (count sets it again if this block ends with one) */
    ctl[CTL_HISTORY] = ((history << 1) | taken) & HISTORY_MASK;
    if (taken) {
        uint64_t block = ctl[CTL_RECENT_VALUE] >> VALUE_SHIFT; /* the last block counted */
        cycles = fetch_redirect(ctl, cycles - (cycles < block ? cycles : block), cycles);
        if (counter < COUNTER_MAX)
            counters[slot] = counter + 1;
    } else if (counter > 0) {
        counters[slot] = counter - 1;
    }
    if (UNLIKELY((counter >= COUNTER_TAKEN) != taken))
        cycles = mispredicted(ctl, cycles);
    return cycles;
}

/* A value's cycles and CTL_CYCLES are both fixed point (CYCLE_FRACTION_BITS below the
 * cycle), so fractions add up exactly at no cost. An unmarked block (the simple model)
 * costs two additions and one test: CTL_BRANCH_END is already 0 (resolve_branch
 * clears it, and only a marked block sets it). */
static inline void count(uint64_t *ctl, uint64_t value, uint64_t address, uint32_t size,
                         uint64_t start) {
    uint64_t cycles = start + (value >> VALUE_SHIFT);
    ctl[CTL_INSNS] += value & INSN_MASK;
    if (value & (BRANCH_FLAG | TRANSFER_FLAG)) {
        if (value & BRANCH_FLAG)
            ctl[CTL_BRANCH_END] = address + size;
        else
            cycles = fetch_redirect(ctl, start, cycles);
    }
    ctl[CTL_CYCLES] = cycles;
}

/* A loop that is one block (its branch, ending at `end`, was just taken back to its
 * start) has reached its steady state when the predictor would learn nothing from the
 * next iteration (the history all taken, the counter it indexes saturated taken: taken
 * again, predicted, both stay as they are) and one more iteration leaves
 * the counter at its value plus the block's cost and the front end behind it by the
 * same lag: then, by induction, so does every later one. With b the block's cost, A the
 * run-ahead, T a redirect, C the counter and L = C - CTL_FETCH the lag, fetch_redirect's
 * arithmetic gives that in two cases, both with b >= T:
 * - the front end held back by its run-ahead (its clock is C - b - A plus T): the lag is
 *   2b + A - T (so C >= b + A, the clock being no lower than 0);
 * - the front end as fast as the back end (b == T), T <= L <= b + A: it passes its
 *   redirect in step with the block, under the counter and over the run-ahead's floor.
 * From then on each iteration is counted by block_hook's steady path alone. Out of line:
 * a loop passes here a few times, not each iteration. */
static __attribute__((noinline)) void try_steady(uint64_t *ctl, uint64_t key, uint64_t end) {
    const uint8_t *counters = (const uint8_t *)(uintptr_t)ctl[CTL_PREDICTOR];
    if (ctl[CTL_HISTORY] != HISTORY_MASK
            || counters[(end ^ HISTORY_MASK) & PREDICTOR_MASK] != COUNTER_MAX)
        return;
    uint64_t block = ctl[CTL_RECENT_VALUE] >> VALUE_SHIFT;
    uint64_t ahead = ctl[CTL_FETCH_AHEAD];
    uint64_t cycles = ctl[CTL_CYCLES];
    uint64_t lag = cycles - ctl[CTL_FETCH];
    if (block < TAKEN_BRANCH_UNITS)
        return;
    if (lag == 2 * block + ahead - TAKEN_BRANCH_UNITS
            || (block == TAKEN_BRANCH_UNITS && lag >= TAKEN_BRANCH_UNITS
                && lag <= block + ahead)) {
        ctl[CTL_STEADY_KEY] = key;
        ctl[CTL_STEADY_LAG] = lag;
    }
}

/* Out of the steady state (another block, or the loop's exit): the front end's clock is
 * written back, the counter's less the lag it kept (blockcount.py's settle_fetch). */
static __attribute__((noinline)) void settle_fetch(uint64_t *ctl, uint64_t cycles) {
    ctl[CTL_FETCH] = cycles - ctl[CTL_STEADY_LAG];
    ctl[CTL_STEADY_KEY] = 0;
}

/* The rare paths are out of line (and called last), so that the hot one (a block found
 * in the one-entry cache or the table) saves no registers: the budget's stop, and a
 * block the table lacks. */
static __attribute__((noinline)) void stop(uint64_t *ctl, void *uc) {
    ctl[CTL_STOPPED] = 1;
    ((stop_fn)(uintptr_t)ctl[CTL_STOP_FN])(uc);
}

/* The table's value for `key`, or 0 when it has none (a value is never 0: every
 * translated block has at least one instruction). */
static inline uint64_t probe(uint64_t *ctl, uint64_t address, uint64_t key) {
    uint64_t mask = ctl[CTL_MASK];
    uint64_t *table = (uint64_t *)(uintptr_t)ctl[CTL_TABLE];
    uint64_t slot = (address ^ (address >> HASH_SHIFT)) & mask;
    for (;;) {
        uint64_t found = table[slot << 1];
        if (found == key)
            return table[(slot << 1) | 1];
        if (found == 0)
            return 0;
        slot = (slot + 1) & mask;
    }
}

static inline void remember_recent(uint64_t *ctl, uint64_t key, uint64_t value,
                                   uint64_t address, uint32_t size, uint64_t cycles) {
    ctl[CTL_RECENT_KEY] = key;
    ctl[CTL_RECENT_VALUE] = value;
    count(ctl, value, address, size, cycles);
}

/* A block the table lacks: the Python miss handler fills it, once (it sees the clock
 * in CTL_CYCLES, as every reader outside the hook does). */
static __attribute__((noinline)) void missed(uint64_t *ctl, uint64_t address, uint32_t size,
                                             uint64_t key, uint64_t cycles) {
    ctl[CTL_CYCLES] = cycles;
    ((miss_fn)(uintptr_t)ctl[CTL_MISS_FN])(ctl, address, size);
    uint64_t value = probe(ctl, address, key);
    if (value != 0) /* else the handler could not fill it: nothing is counted */
        remember_recent(ctl, key, value, address, size, ctl[CTL_CYCLES]);
}

/* The budget is reached: pass the slice boundary instead of stopping, if the caller
 * allowed it (CTL_PASS_LEFT), no first touch waits in the log (the kernel would take it
 * at the stop) and the cycle word is below CTL_PASS_CYCLES. The boundary (instructions,
 * cycle word) is noted for the caller, which accounts the slice afterwards, and the
 * budget moves on by a slice, as the caller would have set it. 1: passed. */
static __attribute__((noinline)) int pass_boundary(uint64_t *ctl) {
    const uint64_t *touched = (const uint64_t *)(uintptr_t)ctl[CTL_PASS_TOUCHED];
    if (ctl[CTL_PASS_LEFT] == 0 || (touched && *touched)
            || ctl[CTL_CYCLES] >= ctl[CTL_PASS_CYCLES])
        return 0;
    uint64_t *log = (uint64_t *)(uintptr_t)ctl[CTL_PASS_LOG];
    uint64_t passed = ctl[CTL_PASSED];
    log[2 * passed] = ctl[CTL_INSNS];
    log[2 * passed + 1] = ctl[CTL_CYCLES];
    ctl[CTL_PASSED] = passed + 1;
    ctl[CTL_PASS_LEFT] -= 1;
    ctl[CTL_LIMIT] = ctl[CTL_INSNS] + ctl[CTL_PASS_STEP];
    return 1;
}

void block_hook(void *uc, uint64_t address, uint32_t size, void *user_data) {
    uint64_t *ctl = (uint64_t *)user_data;
    if (ctl[CTL_INSNS] >= ctl[CTL_LIMIT] && !pass_boundary(ctl)) {
        stop(ctl, uc);
        return;
    }
    uint64_t cycles = ctl[CTL_CYCLES];
    uint64_t key = (address << KEY_SHIFT) | size;
    ctl[CTL_LAST_ADDR] = address;
    ctl[CTL_LAST_SIZE] = size;
    uint64_t end = ctl[CTL_BRANCH_END];
    if (end) {
        uint64_t steady = ctl[CTL_STEADY_KEY];
        if (key == steady) { /* the steady loop again: nothing else changes */
            uint64_t value = ctl[CTL_RECENT_VALUE];
            ctl[CTL_INSNS] += value & INSN_MASK;
            ctl[CTL_CYCLES] = cycles + (value >> VALUE_SHIFT);
            return;
        }
        if (UNLIKELY(steady != 0))
            settle_fetch(ctl, cycles);
        cycles = resolve_branch(ctl, address, end, cycles);
        if (key == ctl[CTL_RECENT_KEY]) {
            count(ctl, ctl[CTL_RECENT_VALUE], address, size, cycles);
            if (end == address + size) /* this block's own branch, taken back to it */
                try_steady(ctl, key, end);
            return;
        }
    } else if (key == ctl[CTL_RECENT_KEY]) {
        count(ctl, ctl[CTL_RECENT_VALUE], address, size, cycles);
        return;
    }
    uint64_t value = probe(ctl, address, key);
    if (value == 0) {
        missed(ctl, address, size, key, cycles);
        return;
    }
    remember_recent(ctl, key, value, address, size, cycles);
}
