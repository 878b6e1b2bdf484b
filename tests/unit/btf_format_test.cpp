// Values formatted by their BTF types as bpftool's map dump prints them (btf/value_format.hpp),
// on types built with libbpf's BTF writer. tests/kernel/btf_dump_kernel_test.cpp compares the
// same formatting with the real bpftool.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "btf/value_format.hpp"

namespace bpfvm::btf {
namespace {

struct BtfDeleter {
  void operator()(struct ::btf* b) const { btf__free(b); }
};

class BtfFormat : public ::testing::Test {
 protected:
  std::unique_ptr<struct ::btf, BtfDeleter> types{btf__new_empty()};
  struct ::btf* b() { return types.get(); }

  // Both of bpftool's styles: plain mode's pretty text, and -j's compact JSON.
  std::string plain(uint32_t id, const std::vector<uint8_t>& data) {
    JsonText out(true);
    auto st = format_value(b(), id, data, Style::kPlainText, out);
    EXPECT_TRUE(st.ok()) << st.error().message;
    return out.text();
  }
  std::string json(uint32_t id, const std::vector<uint8_t>& data) {
    JsonText out(false);
    auto st = format_value(b(), id, data, Style::kJson, out);
    EXPECT_TRUE(st.ok()) << st.error().message;
    return out.text();
  }
  std::string error(uint32_t id, const std::vector<uint8_t>& data) {
    JsonText out(false);
    auto st = format_value(b(), id, data, Style::kJson, out);
    EXPECT_FALSE(st.ok()) << out.text();
    return st.ok() ? "" : st.error().message;
  }
};

template <typename T>
std::vector<uint8_t> bytes(T v) {
  std::vector<uint8_t> out(sizeof(T));
  std::memcpy(out.data(), &v, sizeof(T));
  return out;
}

TEST_F(BtfFormat, IntegersBySizeAndSign) {
  const int u8 = btf__add_int(b(), "unsigned char", 1, 0), s8 = btf__add_int(b(), "signed char", 1, BTF_INT_SIGNED);
  const int u16 = btf__add_int(b(), "unsigned short", 2, 0), s16 = btf__add_int(b(), "short", 2, BTF_INT_SIGNED);
  const int u32 = btf__add_int(b(), "unsigned int", 4, 0), s32 = btf__add_int(b(), "int", 4, BTF_INT_SIGNED);
  const int u64 = btf__add_int(b(), "unsigned long long", 8, 0), s64 = btf__add_int(b(), "long long", 8, BTF_INT_SIGNED);
  EXPECT_EQ(plain(u8, {0xff}), "255");
  EXPECT_EQ(plain(s8, {0xff}), "-1");
  EXPECT_EQ(plain(u16, bytes<uint16_t>(65535)), "65535");
  EXPECT_EQ(plain(s16, bytes<int16_t>(-2)), "-2");
  EXPECT_EQ(plain(u32, bytes<uint32_t>(4000000000u)), "4000000000");
  EXPECT_EQ(json(s32, bytes<int32_t>(-5)), "-5");
  EXPECT_EQ(json(u64, bytes<uint64_t>(UINT64_MAX)), "18446744073709551615");
  EXPECT_EQ(json(s64, bytes<int64_t>(INT64_MIN)), "-9223372036854775808");
}

TEST_F(BtfFormat, CharsBoolsAndWideIntegers) {
  const int c = btf__add_int(b(), "char", 1, BTF_INT_CHAR);
  const int boolean = btf__add_int(b(), "_Bool", 1, BTF_INT_BOOL);
  const int wide = btf__add_int(b(), "unsigned __int128", 16, 0);
  EXPECT_EQ(plain(c, {'A'}), "\"A\"");
  EXPECT_EQ(plain(c, {7}), "0x7");             // plain mode: not JSON, as bpftool prints it
  EXPECT_EQ(json(c, {7}), "\"\\u0007\"");
  EXPECT_EQ(json(c, {0xe9}), "\"\\u00e9\"");
  EXPECT_EQ(plain(boolean, {0}), "false");
  EXPECT_EQ(json(boolean, {1}), "true");
  std::vector<uint8_t> v(16, 0);
  v[0] = 5;
  v[8] = 1;  // 2^64 + 5
  EXPECT_EQ(plain(wide, v), "0x10000000000000005");
  EXPECT_EQ(json(wide, v), "\"0x10000000000000005\"");
  v[8] = 0;
  EXPECT_EQ(plain(wide, v), "0x5");
}

TEST_F(BtfFormat, StructsWithBitfieldsInHex) {
  const int u32 = btf__add_int(b(), "unsigned int", 4, 0), s32 = btf__add_int(b(), "int", 4, BTF_INT_SIGNED);
  const int flags = btf__add_struct(b(), "flags", 4);
  ASSERT_EQ(btf__add_field(b(), "low", u32, 0, 3), 0);
  ASSERT_EQ(btf__add_field(b(), "mid", u32, 3, 5), 0);
  ASSERT_EQ(btf__add_field(b(), "negative", s32, 8, 7), 0);
  ASSERT_EQ(btf__add_field(b(), "wide", u32, 15, 17), 0);
  const uint32_t word = 5u | 17u << 3 | 0x7fu << 8 | 0x1abcdu << 15;
  EXPECT_EQ(plain(flags, bytes(word)),
            "{\n    \"low\": 0x5,\n    \"mid\": 0x11,\n    \"negative\": 0x7f,\n    \"wide\": 0x1abcd\n}");
  EXPECT_EQ(json(flags, bytes(word)), R"({"low":"0x5","mid":"0x11","negative":"0x7f","wide":"0x1abcd"})");
}

TEST_F(BtfFormat, UnionsArraysAndStrings) {
  const int u32 = btf__add_int(b(), "unsigned int", 4, 0), s16 = btf__add_int(b(), "short", 2, BTF_INT_SIGNED);
  const int chr = btf__add_int(b(), "char", 1, BTF_INT_SIGNED);  // how clang describes char
  const int halves = btf__add_array(b(), u32, s16, 2);
  const int number = btf__add_union(b(), "number", 4);
  ASSERT_EQ(btf__add_field(b(), "word", u32, 0, 0), 0);
  ASSERT_EQ(btf__add_field(b(), "halves", halves, 0, 0), 0);
  EXPECT_EQ(plain(number, bytes<uint32_t>(0x10001)), "{\n    \"word\": 65537,\n    \"halves\": [1,1\n    ]\n}");
  EXPECT_EQ(json(number, bytes<uint32_t>(0x10001)), R"({"word":65537,"halves":[1,1]})");

  const int name = btf__add_array(b(), u32, chr, 6);
  EXPECT_EQ(plain(name, {'h', 'i', 0, 'x', 0, 0}), "\"hi\"");
  // Not a string: no NUL, or an unprintable byte before it. Then an array of chars (numbers).
  EXPECT_EQ(json(name, {'a', 'b', 'c', 'd', 'e', 'f'}), "[97,98,99,100,101,102]");
  EXPECT_EQ(json(name, {'a', 1, 0, 0, 0, 0}), "[97,1,0,0,0,0]");
  // Through a typedef, a char array is not a string (bpftool follows only const/volatile).
  const int typedef_char = btf__add_typedef(b(), "letter", chr);
  const int letters = btf__add_array(b(), u32, typedef_char, 2);
  EXPECT_EQ(json(letters, {'o', 0}), "[111,0]");
  const int const_char = btf__add_const(b(), chr);
  const int const_letters = btf__add_array(b(), u32, const_char, 2);
  EXPECT_EQ(json(const_letters, {'o', 0}), "\"o\"");
}

TEST_F(BtfFormat, EnumsByNameElseNumber) {
  const int color = btf__add_enum(b(), "color", 4);
  ASSERT_EQ(btf__add_enum_value(b(), "RED", 0), 0);
  ASSERT_EQ(btf__add_enum_value(b(), "GREEN", 5), 0);
  ASSERT_EQ(btf__add_enum_value(b(), "BLUE", -1), 0);
  EXPECT_EQ(json(color, bytes<int32_t>(5)), "\"GREEN\"");
  EXPECT_EQ(json(color, bytes<uint32_t>(0xffffffff)), "\"BLUE\"");
  EXPECT_EQ(plain(color, bytes<int32_t>(7)), "7");
  const int big = btf__add_enum64(b(), "big", 8, false);
  ASSERT_EQ(btf__add_enum64_value(b(), "HUGE", uint64_t{1} << 40), 0);
  EXPECT_EQ(json(big, bytes<uint64_t>(uint64_t{1} << 40)), "\"HUGE\"");
  EXPECT_EQ(json(big, bytes<uint64_t>(3)), "3");
}

TEST_F(BtfFormat, ModifiersTypedefsAndPointers) {
  const int s32 = btf__add_int(b(), "int", 4, BTF_INT_SIGNED);
  const int chain = btf__add_typedef(b(), "count_t", btf__add_const(b(), btf__add_volatile(b(), s32)));
  EXPECT_EQ(json(chain, bytes<int32_t>(-3)), "-3");
  const int ptr = btf__add_ptr(b(), s32);
  EXPECT_EQ(plain(ptr, bytes<uint64_t>(0)), "(nil)");  // %p, as bpftool prints pointers
  EXPECT_EQ(plain(ptr, bytes<uint64_t>(0x1234)), "0x1234");
  EXPECT_EQ(json(ptr, bytes<uint64_t>(0x1234)), "4660");
}

TEST_F(BtfFormat, GlobalDataSections) {
  const int s32 = btf__add_int(b(), "int", 4, BTF_INT_SIGNED);
  const int chr = btf__add_int(b(), "char", 1, BTF_INT_SIGNED);
  const int greeting_type = btf__add_array(b(), s32, chr, 4);
  const int total = btf__add_var(b(), "total", BTF_VAR_GLOBAL_ALLOCATED, s32);
  const int greeting = btf__add_var(b(), "greeting", BTF_VAR_GLOBAL_ALLOCATED, greeting_type);
  const int data = btf__add_datasec(b(), ".data", 8);
  ASSERT_EQ(btf__add_datasec_var_info(b(), total, 0, 4), 0);
  ASSERT_EQ(btf__add_datasec_var_info(b(), greeting, 4, 4), 0);
  const std::vector<uint8_t> value{7, 0, 0, 0, 'h', 'i', 0, 0};
  EXPECT_EQ(plain(data, value),
            "{\n    \".data\": [{\n            \"total\": 7\n        },{\n            \"greeting\": \"hi\"\n        }\n    ]\n}");
  EXPECT_EQ(json(data, value), R"({".data":[{"total":7},{"greeting":"hi"}]})");
}

TEST_F(BtfFormat, MapEntriesWithAndWithoutKeysAndPerCpu) {
  const int u32 = btf__add_int(b(), "unsigned int", 4, 0), s32 = btf__add_int(b(), "int", 4, BTF_INT_SIGNED);
  const int pair = btf__add_struct(b(), "pair", 8);
  ASSERT_EQ(btf__add_field(b(), "a", u32, 0, 0), 0);
  ASSERT_EQ(btf__add_field(b(), "b", s32, 32, 0), 0);
  JsonText out(false);
  const std::vector<uint8_t> two_cpus{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff};
  ASSERT_TRUE(format_map_entry(b(), MapEntryTypes{static_cast<uint32_t>(u32), static_cast<uint32_t>(pair), true, 8},
                               bytes<uint32_t>(3), two_cpus, Style::kJson, out)
                  .ok());
  EXPECT_EQ(out.text(), R"({"key":3,"values":[{"cpu":0,"value":{"a":1,"b":-1}},{"cpu":1,"value":{"a":2,"b":-2}}]})");

  JsonText text(true);
  text.start_array();
  for (uint32_t k : {0u, 1u}) {
    ASSERT_TRUE(format_map_entry(b(), MapEntryTypes{0, static_cast<uint32_t>(u32), false, 4}, bytes(k), bytes(k + 10),
                                 Style::kPlainText, text)
                    .ok());
  }
  text.end_array();
  // No key type (global data): no "key"; bpftool's `},{` between entries.
  EXPECT_EQ(text.text(), "[{\n        \"value\": 10\n    },{\n        \"value\": 11\n    }\n]");
}

TEST_F(BtfFormat, EmptyContainersAndEscapes) {
  JsonText text(true);
  text.start_array();
  text.end_array();
  EXPECT_EQ(text.text(), "[]");
  JsonText s(false);
  s.string("a\"b\\c\n");
  EXPECT_EQ(s.text(), R"("a\"b\\c\n")");
}

TEST_F(BtfFormat, TypesAValueCannotHaveAreErrorsNotCrashes) {
  const int f = btf__add_float(b(), "double", 8);
  EXPECT_NE(error(f, bytes<double>(1.5)).find("cannot print a value of kind float"), std::string::npos);
  const int fwd = btf__add_fwd(b(), "opaque", BTF_FWD_STRUCT);
  EXPECT_NE(error(fwd, {0}).find("kind fwd"), std::string::npos);
  EXPECT_NE(error(0, {0}).find("void"), std::string::npos);
  EXPECT_NE(error(999, {0}).find("BTF type [999]"), std::string::npos);
  const int s32 = btf__add_int(b(), "int", 4, BTF_INT_SIGNED);
  EXPECT_EQ(error(s32, {1, 2}), "BTF type [" + std::to_string(s32) + "]: needs 4 bytes, the value has 2");
  const int arr = btf__add_array(b(), s32, s32, 1000);
  EXPECT_NE(error(arr, std::vector<uint8_t>(16)).find("needs 4000 bytes"), std::string::npos);
  const int empty = btf__add_struct(b(), "empty", 0);
  EXPECT_NE(error(btf__add_array(b(), s32, empty, 4000000000u), {0}).find("elements of size 0"), std::string::npos);
  JsonText out(false);
  EXPECT_FALSE(format_value(nullptr, 1, {}, Style::kJson, out).ok());
}

}  // namespace
}  // namespace bpfvm::btf
