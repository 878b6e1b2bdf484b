# FNV-1a (32-bit) hash of the memory the program is given: r1 = memory, r2 = its length.
#   bpfvm run-raw examples/asm/fnv1a.s --mem '68 65 6c 6c 6f'    # "hello" -> 0x4f9f2cab
        mov32 %r0, 0x811c9dc5          # offset basis
        mov %r3, 0                     # index
        jge %r3, %r2, done             # empty input
loop:
        mov %r4, %r1
        add %r4, %r3
        ldxb %r5, [%r4+0]              # next byte
        xor32 %r0, %r5
        mul32 %r0, 0x01000193          # FNV prime
        add %r3, 1
        jlt %r3, %r2, loop
done:
        exit
