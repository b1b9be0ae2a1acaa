#include "core/progress_bar.h"

#include <cstdio>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sketch {
namespace {

using ::testing::HasSubstr;

std::string Render(bool enabled, int64_t total) {
  std::FILE* file = std::tmpfile();
  {
    ProgressBar bar("train", total, "img", enabled, file);
    bar.Update(5, "loss 1.23");
    bar.Add(5);
  }
  std::rewind(file);
  std::string text;
  for (int c; (c = std::fgetc(file)) != EOF;) text += static_cast<char>(c);
  std::fclose(file);
  return text;
}

TEST(ProgressBarTest, FinalLineShowsCountsRateAndStatus) {
  const std::string text = Render(true, 20);
  EXPECT_THAT(text, HasSubstr("train"));
  EXPECT_THAT(text, HasSubstr("10/20 img"));
  EXPECT_THAT(text, HasSubstr("50%"));
  EXPECT_THAT(text, HasSubstr("img/s"));
  EXPECT_THAT(text, HasSubstr("loss 1.23"));
}

TEST(ProgressBarTest, UnknownTotalAndDisabled) {
  EXPECT_THAT(Render(true, 0), HasSubstr("10 img"));
  EXPECT_EQ(Render(false, 20), "");
}

TEST(FormatDurationTest, Units) {
  EXPECT_EQ(FormatDuration(12.4), "12s");
  EXPECT_EQ(FormatDuration(185), "3m05s");
  EXPECT_EQ(FormatDuration(3720), "1h02m");
  EXPECT_EQ(FormatDuration(-1), "?");
}

}  // namespace
}  // namespace sketch
