// Backend cursors (src/cursor.cpp): round trip, tampering, the MAC.

#include <gtest/gtest.h>

#include "support.hpp"
#include "yoi/backend/cursor.hpp"

namespace yoi::backend::test {
namespace {

TEST(Cursor, RoundTripsAndRejectsTamperingAndForeignWorkers) {
  CursorCodec codec(Secret("k1"));
  auto c = codec.encode("rt", "w1", Position{"ab12", 42});
  auto p = codec.decode("rt", "w1", c);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->epoch, "ab12");
  EXPECT_EQ(p->seq, 42u);
  EXPECT_EQ(codec.decode("rt", "w2", c).error().code, Code::cursor_invalid);
  EXPECT_EQ(codec.decode("rt2", "w1", c).error().code, Code::cursor_invalid);
  EXPECT_FALSE(CursorCodec(Secret("k2")).decode("rt", "w1", c));
  auto forged = c;
  forged.replace(forged.find(".42."), 4, ".43.");
  EXPECT_EQ(codec.decode("rt", "w1", forged).error().code, Code::cursor_invalid);
  for (std::string bad : std::vector<std::string>{"", "b1.", "b1...", "r1.ab.cd.1", "b1.!!.1.x", std::string(300, 'a')})
    EXPECT_EQ(codec.decode("rt", "w1", bad).error().code, Code::cursor_invalid) << bad;
  // The same key in another process resumes the same cursor.
  EXPECT_TRUE(CursorCodec(Secret("k1")).decode("rt", "w1", c));
}

// Cursors handed out before the pre-keyed HMAC must keep resuming: golden
// values from an independent HMAC-SHA256 (Python's hmac), short and long key.
TEST(Cursor, MacIsStandardHmacSha256) {
  Position want{"e1", 42};
  auto p = CursorCodec(Secret("k1")).decode("rt", "w1", "b1.ZTE.42.c9jpe_7zTqpaPo-YCnzJyw");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->epoch, want.epoch);
  EXPECT_EQ(p->seq, want.seq);
  EXPECT_EQ(CursorCodec(Secret("k1")).encode("rt", "w1", want), "b1.ZTE.42.c9jpe_7zTqpaPo-YCnzJyw");
  EXPECT_EQ(CursorCodec(Secret(std::string(100, 'x'))).encode("rt", "w1", Position{"e1", 7}),
            "b1.ZTE.7.LSG4WAZiGWl2Zt4tyd2TKA");
}

// The relay's minter (issue 22) absorbs the MAC's prefix once: its cursors
// must be encode()'s, byte for byte, for every seq, and still the golden
// HMAC's, with a long epoch whose prefix spans SHA-256 blocks.
TEST(Cursor, MinterMintsExactlyWhatEncodeDoes) {
  CursorCodec codec(Secret("k1"));
  EXPECT_EQ(codec.minter("rt", "w1", "e1")(42), "b1.ZTE.42.c9jpe_7zTqpaPo-YCnzJyw");
  const std::string long_epoch(150, 'e');
  for (const std::string& epoch : {std::string("ab12"), long_epoch, std::string()}) {
    auto mint = codec.minter("box-1", "w-0123456789ab", epoch);
    EXPECT_EQ(mint.epoch(), epoch);
    for (std::uint64_t seq : {0ull, 1ull, 9ull, 10ull, 12345ull, 18446744073709551615ull}) {
      auto c = mint(seq);
      EXPECT_EQ(c, codec.encode("box-1", "w-0123456789ab", Position{epoch, seq})) << seq;
      // append_to: the same text after what the buffer holds, which stays.
      std::string buf = "frame:";
      mint.append_to(buf, seq);
      EXPECT_EQ(buf, "frame:" + c) << seq;
      auto back = codec.decode("box-1", "w-0123456789ab", c);
      ASSERT_TRUE(back) << c;
      EXPECT_EQ(back->seq, seq);
    }
  }
}

// The minter's MAC without EVP (issue 22): for a fixed key of exactly one
// SHA-256 block and an epoch whose prefix crosses a block boundary, the
// cursors are the bytes an independent HMAC-SHA256 (Python's hmac) gives,
// through both the minter and encode().
TEST(Cursor, FixedKeyCursorBytesAreUnchanged) {
  std::string key;
  for (int i = 0; i < 64; ++i) key += static_cast<char>(i);
  CursorCodec codec{Secret(key)};
  const std::string epoch(70, 'x');
  const std::string e64 =
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eA";
  const std::pair<std::uint64_t, const char*> want[] = {
      {0, "zihXaoPhLFiU49OfCP3xHQ"},
      {1, "RU-I-ydlVu20cFnmEYz6LQ"},
      {64, "jztJVTutIAIF6Cezpeuj_w"},
      {18446744073709551615ull, "6arAtbid2MpxEUpEA0SMvQ"},
  };
  auto mint = codec.minter("box-1", "w-0123456789ab", epoch);
  for (const auto& w : want) {
    const std::string c = "b1." + e64 + "." + std::to_string(w.first) + "." + w.second;
    EXPECT_EQ(mint(w.first), c);
    EXPECT_EQ(codec.encode("box-1", "w-0123456789ab", Position{epoch, w.first}), c);
    EXPECT_TRUE(codec.decode("box-1", "w-0123456789ab", c)) << c;
  }
}

// ---- configuration ----

}  // namespace
}  // namespace yoi::backend::test
