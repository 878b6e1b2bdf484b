// An application that embeds bpfvm: it loads extension code compiled with clang, configures
// it, gives it a helper of its own, runs it on its data and reads the map it keeps.
//   build/default/examples/embed/bpfvm-embed-example build/default/examples/embed/scorer.bpf.o hello world
#include <bpfvm/bpfvm.hpp>

#include <cstdio>
#include <string>

namespace {

// The helper the extension calls as app_log(message, size, value).
uint64_t app_log(uint64_t message, uint64_t size, uint64_t value, uint64_t, uint64_t, bpfvm::HelperContext& ctx) {
  const uint8_t* text = ctx.access(message, size, false);  // only memory the program may read
  if (text == nullptr || size == 0) return static_cast<uint64_t>(-14);  // -EFAULT
  std::printf("[extension] %.*s %llu\n", static_cast<int>(size - 1), reinterpret_cast<const char*>(text),
              static_cast<unsigned long long>(value));
  return 0;
}

int fail(const bpfvm::Error& e) {
  std::fprintf(stderr, "embed: %s\n", e.to_string().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s scorer.bpf.o WORD...\n", argv[0]);
    return 2;
  }
  auto object = bpfvm::Object::open(argv[1]);
  if (!object) return fail(object.error());
  if (auto st = object->set_global("scorer.rodata", "vowel_weight", uint32_t{3}); !st) return fail(st.error());
  if (auto st = object->add_helper({1000, "app_log", app_log}); !st) return fail(st.error());
  if (auto st = object->load(); !st) return fail(st.error());

  auto score = object->program("score");
  if (!score) {
    std::fprintf(stderr, "embed: the object has no program 'score'\n");
    return 1;
  }
  for (int i = 2; i < argc; ++i) {
    std::string word = argv[i];
    auto r0 = score->run_on({reinterpret_cast<uint8_t*>(word.data()), word.size()});
    if (!r0) return fail(r0.error());
    std::printf("%s: %llu\n", word.c_str(), static_cast<unsigned long long>(*r0));
  }
  const uint32_t zero = 0;
  auto calls = object->map("calls")->lookup({reinterpret_cast<const uint8_t*>(&zero), 4});
  if (!calls) return fail(calls.error());
  uint64_t count = 0;
  std::memcpy(&count, calls->data(), sizeof(count));
  std::printf("calls: %llu\n", static_cast<unsigned long long>(count));
  return 0;
}
