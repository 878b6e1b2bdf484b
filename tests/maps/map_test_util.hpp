// Small helpers for map tests: typed keys/values as byte vectors.
#pragma once

#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstring>
#include <vector>

#include "maps/map.hpp"

namespace bpfvm::maps::test {

template <typename T>
std::vector<uint8_t> bytes(const T& v) {
  std::vector<uint8_t> out(sizeof(T));
  std::memcpy(out.data(), &v, sizeof(T));
  return out;
}

template <typename T>
T as(const std::vector<uint8_t>& b) {
  T v{};
  EXPECT_GE(b.size(), sizeof(T));
  std::memcpy(&v, b.data(), std::min(sizeof(T), b.size()));
  return v;
}

inline MapPtr make(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, uint32_t flags = 0,
                   uint64_t extra = 0) {
  MapDef def;
  def.type = type;
  def.key_size = key_size;
  def.value_size = value_size;
  def.max_entries = max_entries;
  def.map_flags = flags;
  def.map_extra = extra;
  def.name = "test";
  auto m = create_map(def);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().to_string());
  return m.ok() ? *m : nullptr;
}

inline int errnum(const Status& s) { return s.ok() ? 0 : s.error().errnum; }
template <typename T>
int errnum(const Result<T>& r) {
  return r.ok() ? 0 : r.error().errnum;
}

}  // namespace bpfvm::maps::test
