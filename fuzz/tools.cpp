// Fuzz target: the built-in file tools (tools/) over a real temporary tree,
// with model-chosen arguments. Byte 0 picks the tool (read, write, edit,
// glob, grep, or the resolver alone); the rest is the arguments object, or,
// when it is not JSON, the path (the pattern for glob/grep). Checks: no
// crash; a typed result (ok xor error); output valid UTF-8 within the bound;
// no host path and no outside secret in any output or message; the files
// outside the view and in the read-only mount never change.

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>

#include <boost/json/parse.hpp>

#include "fuzz_check.hpp"
#include "yoi/tools/output.hpp"
#include "yoi/tools/tools.hpp"

namespace {

namespace fs = std::filesystem;
using namespace yoi::tools;

// The host path and the secret are looked for by hash, never by string
// comparison: libFuzzer learns the operands of memcmp/strstr, and would then
// write the secret into a file of the view and "find" it there.
struct Needle {
  std::size_t size = 0, hash = 0;
};
Needle needle(std::string_view s) { return {s.size(), std::hash<std::string_view>{}(s)}; }
bool contains(std::string_view text, const Needle& n) {
  for (std::size_t i = 0; i + n.size <= text.size(); ++i)
    if (std::hash<std::string_view>{}(text.substr(i, n.size)) == n.hash) return true;
  return false;
}

void put(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << s;
}
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct Tree {
  fs::path base;
  Scope scope;
  Needle host_path, secret, secret_file, readme;
};

fs::path g_base;  // removed at exit
void remove_tree() {
  std::error_code ec;
  fs::remove_all(g_base, ec);
}

Tree make_tree() {
  std::string tmpl = (fs::temp_directory_path() / "yoi-fuzz-tools-XXXXXX").string();
  FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr);
  fs::path base = tmpl;
  g_base = base;
  std::atexit(remove_tree);
  std::string secret = "SECRET-" + std::to_string(std::random_device{}()) + std::to_string(std::random_device{}());
  put(base / "outside/secret.txt", secret + "\n");
  put(base / "home/notes.md", "alpha\nbeta\ngamma\n");
  put(base / "home/src/a.cpp", "int main() { return 0; }\n");
  put(base / "home/.gitignore", "*.log\n!keep.log\n/build/\n");
  put(base / "ro/readme.md", "read only\n");
  fs::create_directories(base / "rw");
  fs::create_symlink(base / "outside", base / "home/out");
  fs::create_symlink("../outside/secret.txt", base / "rw/secret-link");
  auto s = Scope::open(ViewSpec{(base / "home").string(), {MountSpec{"rw", (base / "rw").string(), Access::write},
                                                           MountSpec{"ro", (base / "ro").string(), Access::read}}});
  FUZZ_CHECK(s.has_value());
  return Tree{base, std::move(*s), needle(base.string()), needle(secret), needle(secret + "\n"),
              needle("read only\n")};
}

Tree& tree() {
  static Tree t = make_tree();
  return t;
}

void check_text(std::string_view text, const Tree& t) {
  FUZZ_CHECK(!contains(text, t.host_path));
  FUZZ_CHECK(!contains(text, t.secret));
}

bool same(const fs::path& p, const Needle& n) {
  std::string s = slurp(p);
  return s.size() == n.size && contains(s, n);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Tree& t = tree();
  static const char* kTools[] = {"read", "write", "edit", "glob", "grep", "resolve"};
  std::string tool = kTools[data[0] % 6];
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);

  boost::json::object args;
  boost::system::error_code ec;
  auto v = boost::json::parse(rest, ec);
  if (!ec && v.is_object()) {
    args = v.as_object();
  } else {
    args[tool == "glob" || tool == "grep" ? "pattern" : "path"] = rest;
  }

  if (tool == "resolve") {
    auto r = t.scope.resolve(rest, (data[0] & 0x80) ? Access::write : Access::read);
    if (r) {
      FUZZ_CHECK(r->view_path == "/work" || r->view_path.rfind("/work/", 0) == 0 ||
                 r->view_path.rfind("/workspaces/rw", 0) == 0 || r->view_path.rfind("/workspaces/ro", 0) == 0);
      const std::string rel = "/" + r->rel + "/";
      FUZZ_CHECK(rel.find("/../") == std::string::npos && rel.find("/./") == std::string::npos);
    } else {
      check_text(r.error().message, t);
    }
    return 0;
  }

  Limits limits;
  limits.max_output_bytes = 2048;
  limits.max_file_bytes = 4096;
  limits.walk_time_budget = std::chrono::milliseconds(2000);
  ToolResult r = run(tool, t.scope, args, limits);
  FUZZ_CHECK(r.ok != r.error.has_value());
  FUZZ_CHECK(valid_utf8(r.output));
  FUZZ_CHECK(r.output.size() <= limits.max_output_bytes + 64);
  check_text(r.output, t);
  if (r.error) check_text(r.error->message, t);
  FUZZ_CHECK(same(t.base / "outside/secret.txt", t.secret_file));
  FUZZ_CHECK(same(t.base / "ro/readme.md", t.readme));
  FUZZ_CHECK(std::distance(fs::directory_iterator(t.base / "outside"), fs::directory_iterator()) == 1);
  FUZZ_CHECK(std::distance(fs::directory_iterator(t.base / "ro"), fs::directory_iterator()) == 1);
  return 0;
}
