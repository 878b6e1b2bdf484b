// Errors are values: every stage returns either its result or an Error that says what was
// wrong and where. Input errors (bad bytecode, bad assembly, bad memory access by a program)
// are distinct from internal errors (a bug in bpfvm).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace bpfvm {

enum class ErrorKind {
  kInput,     // the caller's input is malformed (bytecode, assembly, file contents)
  kRuntime,   // a program did something it may not (bad memory access, call depth)
  kInternal,  // a bug in bpfvm
};

struct Error {
  ErrorKind kind = ErrorKind::kInput;
  std::string message;                // the reason, in the kernel's words where it has some
  std::optional<std::size_t> insn;    // instruction index, when the error is about one
  std::optional<std::size_t> line;    // source line (assembly), 1-based
  int errnum = 0;                     // the errno the kernel returns for this (maps, syscalls), or 0

  // One line for a human: "insn 3: unknown opcode 8d" or "line 2: Invalid register".
  [[nodiscard]] std::string to_string() const {
    std::string where;
    if (line) where = "line " + std::to_string(*line) + ": ";
    else if (insn) where = "insn " + std::to_string(*insn) + ": ";
    return where + message;
  }
};

inline Error input_error(std::string message, std::optional<std::size_t> insn = std::nullopt) {
  return Error{ErrorKind::kInput, std::move(message), insn, std::nullopt};
}

// Result<T>: a T or an Error. Small on purpose; C++23's std::expected would replace it.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}      // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  [[nodiscard]] const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Unit {};
using Status = Result<Unit>;
inline Status ok_status() { return Unit{}; }

}  // namespace bpfvm
