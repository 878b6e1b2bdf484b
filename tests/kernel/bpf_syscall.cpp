#include "bpf_syscall.hpp"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace bpfvm::kernel {

long sys_bpf(int cmd, union bpf_attr* attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

namespace {

uint64_t ptr(const void* p) { return reinterpret_cast<uint64_t>(p); }

}  // namespace

std::optional<std::string> unavailable_reason() {
  static const std::optional<std::string> reason = []() -> std::optional<std::string> {
    if (geteuid() != 0) return "not running as root: BPF_PROG_LOAD needs CAP_BPF";
    const std::vector<isa::RawInsn> trivial = {isa::RawInsn::make(0xb7, 0, 0, 0, 0), isa::RawInsn::make(0x95, 0, 0, 0, 0)};
    LoadResult r = load_program(BPF_PROG_TYPE_SOCKET_FILTER, trivial, 0);
    if (r.fd < 0) return std::string("bpf(BPF_PROG_LOAD) fails: ") + std::strerror(r.error);
    close(r.fd);
    return std::nullopt;
  }();
  return reason;
}

LoadResult load_program(uint32_t prog_type, const std::vector<isa::RawInsn>& insns, uint32_t log_level,
                        const char* license, uint32_t expected_attach_type, uint32_t prog_flags) {
  std::vector<char> log(log_level ? 1 << 20 : 0);
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.prog_type = prog_type;
  attr.insns = ptr(insns.data());
  attr.insn_cnt = static_cast<uint32_t>(insns.size());
  attr.license = ptr(license);
  attr.log_level = log_level;
  attr.expected_attach_type = expected_attach_type;
  attr.prog_flags = prog_flags;
  if (log_level) {
    attr.log_buf = ptr(log.data());
    attr.log_size = static_cast<uint32_t>(log.size());
  }
  LoadResult result;
  const long fd = sys_bpf(BPF_PROG_LOAD, &attr);
  if (fd < 0) result.error = errno;
  result.fd = static_cast<int>(fd);
  if (log_level) result.log = log.data();
  return result;
}

std::optional<ProgInfo> prog_info(int fd) {
  struct bpf_prog_info info;
  std::memset(&info, 0, sizeof(info));
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.info.bpf_fd = static_cast<uint32_t>(fd);
  attr.info.info_len = sizeof(info);
  attr.info.info = ptr(&info);
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) != 0) return std::nullopt;
  ProgInfo out;
  out.id = info.id;
  out.xlated.resize(info.xlated_prog_len / sizeof(isa::RawInsn));
  const uint32_t len = info.xlated_prog_len;
  std::memset(&info, 0, sizeof(info));
  info.xlated_prog_len = len;
  info.xlated_prog_insns = ptr(out.xlated.data());
  std::memset(&attr, 0, sizeof(attr));
  attr.info.bpf_fd = static_cast<uint32_t>(fd);
  attr.info.info_len = sizeof(info);
  attr.info.info = ptr(&info);
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) != 0) return std::nullopt;
  return out;
}

TestRunOutput test_run(int prog_fd, const std::vector<uint8_t>& data_in, const std::vector<uint8_t>& ctx_in,
                       uint32_t repeat, std::size_t ctx_out_size) {
  TestRunOutput out;
  // Types that take no packet (raw_tracepoint) reject a data_out buffer.
  out.data_out.resize(data_in.empty() ? 0 : data_in.size() + 512);
  out.ctx_out.resize(ctx_out_size);
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.test.prog_fd = static_cast<uint32_t>(prog_fd);
  attr.test.data_in = ptr(data_in.data());
  attr.test.data_size_in = static_cast<uint32_t>(data_in.size());
  if (!out.data_out.empty()) {
    attr.test.data_out = ptr(out.data_out.data());
    attr.test.data_size_out = static_cast<uint32_t>(out.data_out.size());
  }
  if (!ctx_in.empty()) {
    attr.test.ctx_in = ptr(ctx_in.data());
    attr.test.ctx_size_in = static_cast<uint32_t>(ctx_in.size());
  }
  if (ctx_out_size) {
    attr.test.ctx_out = ptr(out.ctx_out.data());
    attr.test.ctx_size_out = static_cast<uint32_t>(ctx_out_size);
  }
  attr.test.repeat = repeat;
  if (sys_bpf(BPF_PROG_TEST_RUN, &attr) != 0) {
    out.error = errno;
    return out;
  }
  out.retval = attr.test.retval;
  out.duration = attr.test.duration;
  out.data_out.resize(attr.test.data_size_out);
  out.ctx_out.resize(ctx_out_size ? attr.test.ctx_size_out : 0);
  return out;
}

int create_map(const MapAttributes& a) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.map_type = a.type;
  attr.key_size = a.key_size;
  attr.value_size = a.value_size;
  attr.max_entries = a.max_entries;
  attr.map_flags = a.map_flags;
  attr.map_extra = a.map_extra;
  attr.inner_map_fd = a.inner_map_fd >= 0 ? static_cast<uint32_t>(a.inner_map_fd) : 0;
  std::memcpy(attr.map_name, a.name.data(), std::min(a.name.size(), sizeof(attr.map_name)));
  return static_cast<int>(sys_bpf(BPF_MAP_CREATE, &attr));
}

int create_map(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, uint32_t flags) {
  return create_map(MapAttributes{.type = type, .key_size = key_size, .value_size = value_size,
                                  .max_entries = max_entries, .map_flags = flags});
}

int create_array_map(uint32_t value_size, uint32_t max_entries) {
  return create_map(BPF_MAP_TYPE_ARRAY, 4, value_size, max_entries, 0);
}

}  // namespace bpfvm::kernel
