// yoi/usage.hpp: the command-line conventions of yoi-server and yoi-runtime.
// The binaries' own tests (backend app_test, runtime_server process_test)
// check the exit codes end to end; these pin the helpers themselves.
#include "yoi/usage.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace yoi::usage {
namespace {

std::optional<int> parse(CLI::App& app, std::vector<std::string> args) {
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_args(app, static_cast<int>(argv.size()), argv.data());
}

struct Flags {
  CLI::App app{"test"};
  std::string level = "info";
  Flags() { app.add_option("--log-level", level)->transform(log_level_validator()); }
};

TEST(Usage, GoodFlagsGoOn) {
  Flags f;
  EXPECT_EQ(parse(f.app, {"--log-level", "debug"}), std::nullopt);
  EXPECT_EQ(f.level, "debug");
}

TEST(Usage, ALevelInAnyCaseIsLowerCased) {
  Flags f;
  EXPECT_EQ(parse(f.app, {"--log-level", "WaRn"}), std::nullopt);
  EXPECT_EQ(f.level, "warn");
}

// Regression (issue 18, items 4 and 11): an unknown level was read as "off"
// by spdlog, and an unknown flag exited with CLI11's 109, not 2.
TEST(Usage, AnUnknownLevelIsAUsageErrorExiting2) {
  Flags f;
  EXPECT_EQ(parse(f.app, {"--log-level", "loud"}), 2);
  EXPECT_EQ(f.level, "info") << "a refused value changes nothing";
}

TEST(Usage, AnUnknownFlagIsAUsageErrorExiting2) {
  Flags f;
  EXPECT_EQ(parse(f.app, {"--frobnicate"}), 2);
}

TEST(Usage, HelpExits0) {
  Flags f;
  EXPECT_EQ(parse(f.app, {"--help"}), 0);
}

TEST(Usage, TheValidatorNamesTheLevels) {
  std::string bad = "loud";
  auto msg = log_level_validator()(bad);
  EXPECT_NE(msg.find("loud"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::string(yoi::log::kLevelNames)), std::string::npos) << msg;
}

}  // namespace
}  // namespace yoi::usage
