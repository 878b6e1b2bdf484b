// The conformance suite's files (../shared/conformance), for tests parameterised over them.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

namespace bpfvm::test {

inline const std::filesystem::path kConformanceDir = BPFVM_CONFORMANCE_DIR;

// The stems of the .data files in `dir`, sorted; empty when the directory is missing.
inline std::vector<std::string> data_files(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  if (!std::filesystem::is_directory(dir)) return names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".data") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A test name from a file stem ("lock_add32", "rfc9669_add64").
inline std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return name;
}

}  // namespace bpfvm::test
