#include <ukikit/result.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace ukikit {
namespace {

result<int> parse_positive(int v) {
  if (v <= 0)
    return error(errc::malformed, "value must be positive (" + std::to_string(v) + ")", 0x1f0);
  return v;
}

result<int> doubled(int v) {
  UKIKIT_TRY_ASSIGN(int x, parse_positive(v));
  return 2 * x;
}

result<void> check(int v) {
  UKIKIT_TRY(parse_positive(v));
  return {};
}

TEST(result, holds_value) {
  auto r = doubled(21);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);
}

TEST(result, propagates_error_with_code_offset_and_context) {
  auto r = doubled(-3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::malformed);
  EXPECT_EQ(r.error().offset(), 0x1f0u);
  EXPECT_EQ(r.error().message(), "value must be positive (-3) at offset 0x1f0");
}

TEST(result, void_result_propagates) {
  EXPECT_TRUE(check(1).ok());
  auto r = check(0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().context(), "value must be positive (0)");
}

TEST(result, error_without_offset_prints_context_only) {
  error e(errc::io, "cannot open x (No such file or directory)");
  EXPECT_FALSE(e.has_offset());
  EXPECT_EQ(e.message(), "cannot open x (No such file or directory)");
}

TEST(result, rebased_error_has_absolute_offset) {
  error e(errc::truncated, "name is truncated", 0x10);
  EXPECT_EQ(e.rebased(0x4a000).message(), "name is truncated at offset 0x4a010");
  EXPECT_EQ(e.prefixed("in .initrd").message(), "in .initrd: name is truncated at offset 0x10");
  error none(errc::io, "x");
  EXPECT_FALSE(none.rebased(5).has_offset());
}

TEST(result, holds_move_only_values) {
  result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(result, offset_zero_is_printed) {
  EXPECT_EQ(error(errc::malformed, "bad magic", 0).message(), "bad magic at offset 0x0");
}

} // namespace
} // namespace ukikit
