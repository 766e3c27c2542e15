// The finding log: bounded, counting what it drops, errors never lost.
#include <ukikit/diagnostics.hpp>

#include <gtest/gtest.h>

namespace {

using namespace ukikit;

TEST(FindingLog, KeepsTheFirstLimitAndCountsTheRest) {
  finding_log log(2);
  log.add(severity::warning, "test.a", "one", 1);
  log.add(severity::note, "test.b", "two", 2);
  log.add(severity::error, "test.c", "three", 3);
  log.add(severity::warning, "test.d", "four", 4);
  ASSERT_EQ(log.kept().size(), 2U);
  EXPECT_EQ(log.kept()[0].code, "test.a");
  EXPECT_EQ(log.kept()[1].offset, 2U);
  EXPECT_EQ(log.dropped(), 2U);
  EXPECT_EQ(log.total(), 4U);
  // The error was dropped from the list but still counts.
  EXPECT_TRUE(log.has_errors());
}

TEST(FindingLog, AppendKeepsOrderAndCarriesDroppedCounts) {
  finding_log a(3);
  a.add(severity::warning, "test.a", "a");
  finding_log b(1);
  b.add(severity::warning, "test.b", "b");
  b.add(severity::error, "test.c", "c"); // dropped in b
  a.append(std::move(b));
  ASSERT_EQ(a.kept().size(), 2U);
  EXPECT_EQ(a.kept()[1].code, "test.b");
  EXPECT_EQ(a.dropped(), 1U);
  EXPECT_TRUE(a.has_errors());
  EXPECT_TRUE(b.empty()); // NOLINT(bugprone-use-after-move): append leaves it empty
}

TEST(FindingLog, TakeLeavesOnlyTheDroppedCount) {
  finding_log log(1);
  log.add(severity::error, "test.a", "a");
  log.add(severity::warning, "test.b", "b");
  auto kept = log.take();
  ASSERT_EQ(kept.size(), 1U);
  EXPECT_TRUE(kept[0].is_error());
  EXPECT_TRUE(log.kept().empty());
  EXPECT_EQ(log.dropped(), 1U);
  EXPECT_FALSE(log.has_errors());
}

TEST(Finding, TextAndJsonCarryOffsetLengthAndMismatch) {
  finding f;
  f.level = severity::error;
  f.code = "test.mismatch";
  f.message = "digest mismatch";
  f.offset = 0x40;
  f.length = 8;
  f.claimed = "ab";
  f.computed = "cd";
  EXPECT_EQ(f.text(), "digest mismatch at offset 0x40 (8 bytes): claimed ab, computed cd");
  const auto j = to_json(f);
  EXPECT_EQ(j["code"], "test.mismatch");
  EXPECT_EQ(j["severity"], "error");
  EXPECT_EQ(j["offset"], 0x40);
  EXPECT_EQ(j["claimed"], "ab");
  EXPECT_EQ(j["computed"], "cd");
  EXPECT_FALSE(j.contains("subject"));

  finding g;
  g.code = "test.plain";
  g.message = "m";
  g.subject = "a/b";
  const auto k = to_json(g);
  EXPECT_TRUE(k["offset"].is_null());
  EXPECT_EQ(k["subject"], "a/b");
  EXPECT_FALSE(k.contains("claimed"));
}

} // namespace
