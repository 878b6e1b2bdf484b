#!/usr/bin/env python3
# Asks the running kernel which helpers each program type may call: loads, for every type and
# helper id, "r1..r5 = 0; call ID; r0 = 0; exit" and reads the verifier log. Loads only; run
# as root. Prints "TYPE MAX_ID [ids...]" lines for src/verifier/helper_availability.inc.
import ctypes, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
def load(ptype, code, attach=0):
    insns = ctypes.create_string_buffer(code)
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(1<<16)
    attr = struct.pack("IIQQIIQII", ptype, len(code)//8, ctypes.addressof(insns), ctypes.addressof(lic), 1, 1<<16, ctypes.addressof(log), 0, 0)
    attr += struct.pack("16sII", b"", 0, attach)
    buf = ctypes.create_string_buffer(attr, 144)
    fd = libc.syscall(321, 5, buf, 144)
    e = ctypes.get_errno()
    if fd >= 0: libc.close(fd)
    return fd, e, log.value.decode(errors="replace")
def ins(code, dst=0, src=0, off=0, imm=0): return struct.pack("<BBhi", code, dst | (src<<4), off, imm)
ret0 = ins(0xb7,0,0,0,0) + ins(0x95)
out = {}
for t in range(1, 40):
    fd, e, log = load(t, ret0)
    if fd < 0: continue
    allowed = []
    for h in range(1, 260):
        code = b"".join(ins(0xb7, r, 0, 0, 0) for r in range(1,6)) + ins(0x85, 0, 0, 0, h) + ret0
        fd, e, log = load(t, code)
        if "invalid func unknown" in log: break
        if "cannot use helper" in log: continue
        allowed.append(h)
    out[t] = (allowed, h)
for t,(a,maxh) in out.items():
    print(t, maxh, a)
