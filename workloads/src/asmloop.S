/* asmloop: a guest whose exact instruction count is known, for counting tests.
 *
 * No libc and no arguments: _start is the ELF entry point. It executes
 *
 *     1 instruction    mov  $ITERATIONS, %ecx
 *     2 per iteration  dec  %ecx ; jnz 1b           (ITERATIONS times)
 *     3 instructions   mov  $SYS_exit, %eax ; xor %edi, %edi ; syscall
 *
 * so 1 + 2*ITERATIONS + 3 instructions in all, counting the syscall, and exits
 * with status 0. The catalog (workloads/catalog.py) states the same formula and
 * a test checks that ITERATIONS here matches it. The code uses no absolute
 * addresses, so it links as a plain static or a static-pie executable.
 */
#define ITERATIONS 1000000
#define SYS_exit 60

    .text
    .globl _start
    .type _start, @function
_start:
    mov $ITERATIONS, %ecx
1:
    dec %ecx
    jnz 1b
    mov $SYS_exit, %eax
    xor %edi, %edi
    syscall
    .size _start, . - _start

    .section .note.GNU-stack, "", @progbits
