// relabel_detail_text (src/relabel.hpp): a worker detail relabelled without
// a DOM, or declined so the slow path decides (issue 22).

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "relabel.hpp"

namespace yoi::backend::detail {
namespace {

TEST(RelabelDetailText, RewritesTheTopLevelRuntimeIdAndNothingElse) {
  const std::string in =
      R"({"runtime_id":"upstream","worker_id":"w1","status":"idle","worker":{"runtime_id":"upstream"},"n":[1,{"runtime_id":"x"}]})";
  auto out = relabel_detail_text(in, "box-1");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out,
            R"({"runtime_id":"box-1","worker_id":"w1","status":"idle","worker":{"runtime_id":"upstream"},"n":[1,{"runtime_id":"x"}]})");
  // What a DOM would make of it: the same value with the one field changed.
  auto want = boost::json::parse(in).as_object();
  want["runtime_id"] = "box-1";
  EXPECT_EQ(boost::json::parse(*out), boost::json::value(want));
}

TEST(RelabelDetailText, CopiesTheBytesWhenTheIdsMatch) {
  const std::string in = R"({ "worker_id" : "w1", "runtime_id" : "rt" , "x": "y\u00e9" })";
  auto out = relabel_detail_text(in, "rt");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, in);
}

TEST(RelabelDetailText, DeclinesWhatItCannotRewriteInPlace) {
  for (std::string bad : {
           std::string(""),
           std::string("[]"),
           std::string(R"( {"runtime_id":"rt"})"),         // leading space: not the runtime's form
           std::string(R"({"worker_id":"w1"})"),           // no runtime_id
           std::string(R"({"runtime_id":"a","runtime_id":"b"})"),  // twice: which one would a browser read?
           std::string(R"({"runtime_id":7})"),             // not a string
           std::string(R"({"runtime_id":{"id":"a"}})"),    // not a string
           std::string(R"({"runtime_id":"a\"b"})"),        // escaped: not a slice of the input
           std::string(R"({"runtime\u005fid":"a"})"),      // escaped key
           std::string(R"({"runtime_id":"a"} trailing)"),  // not one document
           std::string(R"({"runtime_id":"a")"),            // cut short
           std::string("{\"runtime_id\":\"a\",\"d\":") + std::string(40, '[') + std::string(40, ']') + "}",  // too deep
       }) {
    EXPECT_FALSE(relabel_detail_text(bad, "box-1")) << bad;
  }
}

// The relay's per-event check: a worker_created event names the registry's
// runtime id; any other event passes byte for byte.
TEST(RelabelEventJson, OnlyWorkerCreatedEventsAreRelabelled) {
  std::string created = R"({"type":"worker_created","seq":1,"time":2,"worker":{"id":"w","runtime_id":"theirs"}})";
  relabel_event_json(created, "ours");
  auto v = boost::json::parse(created);
  EXPECT_EQ(v.at("worker").at("runtime_id"), "ours");
  const std::string delta = R"({"type":"text_delta","seq":3,"time":4,"run_id":"r","delta":"a worker_created b"})";
  std::string same = delta;
  relabel_event_json(same, "ours");
  EXPECT_EQ(same, delta);
  // A type read at a glance (the runtime's layout) settles it, even with the
  // type's name elsewhere in the event as a string of its own.
  const std::string quoted = R"({"type":"tool_result","seq":5,"time":6,"output":"worker_created"})";
  same = quoted;
  relabel_event_json(same, "ours");
  EXPECT_EQ(same, quoted);
  // Another layout (the type not first) is searched, and relabelled.
  std::string later = R"({"seq":1,"type":"worker_created","worker":{"id":"w","runtime_id":"theirs"}})";
  relabel_event_json(later, "ours");
  EXPECT_EQ(boost::json::parse(later).at("worker").at("runtime_id"), "ours");
}

}  // namespace
}  // namespace yoi::backend::detail
