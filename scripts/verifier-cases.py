#!/usr/bin/env python3
# Records what the running kernel answers for each verifier case: loads every program of
# tests/verifier/cases.json (maps created for its map indices) with BPF_PROG_LOAD at log
# level 1 and stores {"accepted", "errno", "message"} under "kernel". Loads only; run as root
# after building bpfvm (its assembler turns the cases' "asm" into bytecode).
#   scripts/verifier-cases.py [tests/verifier/cases.json]
import json, os, subprocess, ctypes, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
MT = {"hash":1,"array":2,"prog_array":3,"ringbuf":27,"queue":22}
PT = {"socket_filter":1,"kprobe":2,"sched_cls":3,"tracepoint":5,"xdp":6,"cgroup_skb":8,"raw_tracepoint":17}
def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 144)
    r = libc.syscall(321, cmd, buf, 144); return r, ctypes.get_errno()
path = sys.argv[1] if len(sys.argv) > 1 else "tests/verifier/cases.json"
bpfvm = os.environ.get("BPFVM", "build/default/bpfvm")
cases = json.load(open(path))
for c in cases:
    fds = []
    for m in c.get("maps", []):
        fd, e = bpf(0, struct.pack("IIII", MT[m["type"]], m["key_size"], m["value_size"], m["max_entries"])); fds.append(fd)
    hexs = subprocess.run([bpfvm,"asm","/dev/stdin"], input=c["asm"].encode(), capture_output=True).stdout.decode().split()
    code = bytearray(bytes.fromhex("".join(hexs)))
    for i in range(0, len(code), 8):
        if code[i] == 0x18 and (code[i+1] >> 4) in (1,2):
            idx = struct.unpack_from("<i", code, i+4)[0]; struct.pack_into("<i", code, i+4, fds[idx])
    insns = ctypes.create_string_buffer(bytes(code)); lic = ctypes.create_string_buffer(c.get("license","GPL").encode())
    log = ctypes.create_string_buffer(1<<20)
    attr = struct.pack("IIQQIIQII", PT[c["prog_type"]], len(code)//8, ctypes.addressof(insns), ctypes.addressof(lic), 1, 1<<20, ctypes.addressof(log), 0, c.get("flags", 0)) + struct.pack("16sII", b"", 0, c.get("expected_attach_type",0))
    fd, e = bpf(5, attr)
    if fd >= 0: libc.close(fd)
    for f in fds: libc.close(f)
    if fd >= 0:
        c["kernel"] = {"accepted": True}
    else:
        lines = [l for l in log.value.decode().replace("processed", "\nprocessed").splitlines() if l and not l.startswith("processed")]
        # The first line after the last instruction line is the kernel's message.
        idx = max(i for i,l in enumerate(lines) if l.split(":")[0].isdigit()) if any(l.split(":")[0].isdigit() for l in lines) else -1
        c["kernel"] = {"accepted": False, "errno": e, "message": lines[idx+1] if idx+1 < len(lines) else lines[-1]}
json.dump(cases, open(path, "w"), indent=1)
print(f"{len(cases)} cases recorded in {path}")
