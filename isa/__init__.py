"""The guest CPU: unmodified x86-64 Linux programs on Unicorn, counted exactly.

This layer knows instructions, memory and ELF files; it knows nothing of
processes or system calls (those are :mod:`cofferos.coffers`). A ``syscall``
instruction stops the engine and hands the task to the kernel.

The CPU and its memory:
    :mod:`.cpu` (one Unicorn engine and the fast paths a kernel needs: its
    setup and run loop), :mod:`.registers` (its register file),
    :mod:`.memaccess` (guest memory copied in and out, mapped, protected),
    :mod:`.intercepts` (CPUID, RDTSC, faults and TLB misses the engine calls back),
    :mod:`.blockmap` (guest memory as host blocks, page protection in a virtual
    TLB), :mod:`.blockhost` (the host memory behind the blocks: shared, copied on
    write, reached by the kernel whatever the protection), :mod:`.hostmem` (host
    memory several address spaces share: MAP_SHARED),
    :mod:`.cowmem` (copy-on-write blocks: fork without copying),
    :mod:`.faults` (what the CPU reports when an access goes wrong),
    :mod:`.fxsave` (the x87/SSE state as FXSAVE lays it out), :mod:`.cpuid`
    (the CPUID the guest sees), :mod:`.interrupts` (Ctrl-C while guest code runs).
Counting instructions and cycles:
    :mod:`.blockcount` (the per-block counter, the hottest path), :mod:`.layout`
    (its shared tables), :mod:`.costs`, :mod:`.pricing` and :mod:`.cost_table`
    (the ``simple`` cycle model: cycles per instruction class, priced with
    capstone), :mod:`.mca` (the ``mca`` model: block throughput from llvm-mca),
    :mod:`.blockstore` (block costs kept between runs), :mod:`.tlbhook` and
    ``native/`` (the two hot hooks in C, built on first use).
Loading programs (the second half of ``execve``):
    :mod:`.elf` (read and check an ELF file), :mod:`.progfile` (a program's
    bytes read in bounded pieces), :mod:`.loader` (lay out the process image),
    :mod:`.initstack` (argv, envp and the auxiliary vector).
"""
