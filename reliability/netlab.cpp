#include "netlab.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "yoi/testing/process.hpp"

namespace yoi::reliability {

namespace {

const std::string kIp = "/usr/sbin/ip";
const std::string kPrefix = "yoirel-";
constexpr const char* kDeadMac = "02:de:ad:00:be:ef";

std::atomic<int> g_labs{0};

// Namespaces of earlier runs whose process is gone (killed by a timeout).
void remove_stale() {
  auto r = testing::run({kIp, "netns", "list"}, {}, std::nullopt, std::chrono::seconds(10));
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    auto name = line.substr(0, line.find(' '));
    if (name.rfind(kPrefix, 0) != 0) continue;
    auto rest = name.substr(kPrefix.size());
    int pid = std::atoi(rest.c_str());
    if (pid <= 0 || pid == ::getpid() || (::kill(pid, 0) == 0 || errno == EPERM)) continue;
    testing::run({kIp, "netns", "del", name}, {}, std::nullopt, std::chrono::seconds(10));
  }
}

}  // namespace

NetLab::NetLab() {
  if (::geteuid() != 0) {
    forbidden_ = true;
    error_ = "network namespaces need root (euid " + std::to_string(::geteuid()) + ")";
    return;
  }
  remove_stale();
  const int pid = ::getpid();
  const int n = ++g_labs;
  const std::string tag = std::to_string(pid) + "-" + std::to_string(n);
  ns_s_ = kPrefix + tag + "-s";
  ns_r_ = kPrefix + tag + "-r";
  // Interface names: at most 15 characters, unique per pid and lab.
  const std::string short_tag = "y" + std::to_string(pid % 1000000) + "n" + std::to_string(n % 100);
  vc_ = short_tag + "c";
  vs_ = short_tag + "s";
  va_ = short_tag + "a";
  vb_ = short_tag + "b";
  // 10.A.B.0/29: A from the pid, B from the pid and the lab number.
  net_ = "10." + std::to_string(100 + (pid >> 8) % 150) + "." + std::to_string((pid + n * 37) % 256);
  // Fixed, locally administered MACs for the server↔runtime pair (pin_neighbours).
  char mac[32];
  std::snprintf(mac, sizeof mac, "02:79:%02x:%02x:%02x:0a", (pid >> 16) & 0xff, (pid >> 8) & 0xff, (pid + n) & 0xff);
  mac_a_ = mac;
  std::snprintf(mac, sizeof mac, "02:79:%02x:%02x:%02x:0b", (pid >> 16) & 0xff, (pid >> 8) & 0xff, (pid + n) & 0xff);
  mac_b_ = mac;

  if (!ip({"netns", "add", ns_s_})) {
    if (last_error_.find("Permission denied") != std::string::npos ||
        last_error_.find("Operation not permitted") != std::string::npos)
      forbidden_ = true;
    error_ = "ip netns add failed: " + last_error_;
    return;
  }
  created_s_ = true;
  if (!ip({"netns", "add", ns_r_})) {
    error_ = "ip netns add failed: " + last_error_;
    return;
  }
  created_r_ = true;
  const std::string s = server_ip(), r = runtime_ip(), a = server_side_ip();
  std::vector<std::vector<std::string>> steps = {
      {"link", "add", vc_, "type", "veth", "peer", "name", vs_, "netns", ns_s_},
      {"addr", "add", net_ + ".1/30", "dev", vc_},
      {"link", "set", vc_, "up"},
      {"-n", ns_s_, "link", "set", "lo", "up"},
      {"-n", ns_s_, "addr", "add", s + "/30", "dev", vs_},
      {"-n", ns_s_, "link", "set", vs_, "up"},
      {"link", "add", va_, "address", mac_a_, "netns", ns_s_, "type", "veth", "peer", "name", vb_, "address", mac_b_,
       "netns", ns_r_},
      {"-n", ns_s_, "addr", "add", a + "/30", "dev", va_},
      {"-n", ns_s_, "link", "set", va_, "up"},
      {"-n", ns_r_, "link", "set", "lo", "up"},
      {"-n", ns_r_, "addr", "add", r + "/30", "dev", vb_},
      {"-n", ns_r_, "link", "set", vb_, "up"},
  };
  for (auto& step : steps) {
    if (!ip(step)) {
      error_ = "network setup failed: " + last_error_;
      return;
    }
    if (step[1] == "add" && step[2] == vc_) created_vc_ = true;
  }
}

NetLab::~NetLab() {
  // Deleting a namespace destroys the veths in it (and their peers).
  if (created_s_) ip({"netns", "del", ns_s_});
  if (created_r_) ip({"netns", "del", ns_r_});
  if (created_vc_) {
    std::string saved = last_error_;
    ip({"link", "del", vc_});  // normally gone with its peer already
    last_error_ = saved;
  }
}

bool NetLab::ip(std::vector<std::string> args) {
  args.insert(args.begin(), kIp);
  auto r = testing::run(args, {}, std::nullopt, std::chrono::seconds(15));
  if (r.exit_code == 0) return true;
  std::string cmd;
  for (auto& a : args) cmd += (cmd.empty() ? "" : " ") + a;
  last_error_ = cmd + ": " + (r.timed_out ? std::string("timed out") : r.err);
  return false;
}

std::vector<std::string> NetLab::in_server(std::vector<std::string> argv) const {
  argv.insert(argv.begin(), {kIp, "netns", "exec", ns_s_});
  return argv;
}
std::vector<std::string> NetLab::in_runtime(std::vector<std::string> argv) const {
  argv.insert(argv.begin(), {kIp, "netns", "exec", ns_r_});
  return argv;
}

bool NetLab::link_down() { return ip({"-n", ns_r_, "link", "set", vb_, "down"}); }
bool NetLab::link_up() { return ip({"-n", ns_r_, "link", "set", vb_, "up"}); }

bool NetLab::pin_neighbours() {
  return ip({"-n", ns_s_, "neigh", "replace", runtime_ip(), "lladdr", mac_b_, "dev", va_, "nud", "permanent"}) &&
         ip({"-n", ns_r_, "neigh", "replace", server_side_ip(), "lladdr", mac_a_, "dev", vb_, "nud", "permanent"});
}

bool NetLab::blackhole_on() {
  return ip({"-n", ns_s_, "neigh", "replace", runtime_ip(), "lladdr", kDeadMac, "dev", va_, "nud", "permanent"}) &&
         ip({"-n", ns_r_, "neigh", "replace", server_side_ip(), "lladdr", kDeadMac, "dev", vb_, "nud", "permanent"});
}
bool NetLab::blackhole_off() {
  // Back to ARP: the next packet resolves the real address.
  return ip({"-n", ns_s_, "neigh", "del", runtime_ip(), "dev", va_}) &&
         ip({"-n", ns_r_, "neigh", "del", server_side_ip(), "dev", vb_});
}

}  // namespace yoi::reliability
