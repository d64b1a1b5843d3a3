#pragma once
// Two network namespaces joined by veth pairs, for network-fault tests
// between real hosts:
//
//   test process (root ns) ── vC 10.A.B.1/30 ═ vS 10.A.B.2/30 ── ns "server"
//   ns "server"            ── vA 10.A.B.5/30 ═ vB 10.A.B.6/30 ── ns "runtime"
//
// yoi-server runs in "server" (reachable by the test at server_ip()),
// yoi-runtime in "runtime" (reachable from yoi-server at runtime_ip()).
// Faults act on the server↔runtime link only.
//
// Names are unique per process and lab (yoirel-<pid>-<n>-{s,r}); the
// destructor deletes both namespaces (which destroys the veths), so declare
// the lab before the processes that run inside it. Namespaces left behind by
// a killed test run (its pid gone) are removed when a new lab is made.

#include <string>
#include <vector>

namespace yoi::reliability {

class NetLab {
 public:
  NetLab();
  ~NetLab();
  NetLab(const NetLab&) = delete;
  NetLab& operator=(const NetLab&) = delete;

  // Empty when the lab is up; else why not (EPERM / not root → skip_reason
  // is set and the caller should GTEST_SKIP; other failures are errors).
  const std::string& error() const { return error_; }
  bool forbidden() const { return forbidden_; }

  const std::string& server_ns() const { return ns_s_; }
  const std::string& runtime_ns() const { return ns_r_; }
  std::string server_ip() const { return net_ + ".2"; }
  std::string runtime_ip() const { return net_ + ".6"; }
  std::string server_side_ip() const { return net_ + ".5"; }  // yoi-server's address towards the runtime

  // argv prefixed to run a program inside a namespace.
  std::vector<std::string> in_server(std::vector<std::string> argv) const;
  std::vector<std::string> in_runtime(std::vector<std::string> argv) const;

  // Static neighbour entries on both ends of the server↔runtime link (as
  // hosts with static ARP, or a cut beyond the first hop): then a cut is
  // only silence. Without them the kernel's ARP gives up ~3 s after a cut
  // next to it and connects fail with EHOSTUNREACH (yoi-server: 502
  // runtime_unreachable) — see docs/RELIABILITY.md.
  bool pin_neighbours();
  // Link cut: the runtime's end of the server↔runtime veth goes down. The
  // server's end loses carrier; its packets are dropped, nothing answers.
  bool link_down();
  bool link_up();
  // Blackhole: both ends get a permanent neighbour entry with a MAC nobody
  // has, so frames in both directions leave and are dropped by the peer
  // (wrong destination MAC) — no local error, no ICMP, no RST. Links stay up.
  bool blackhole_on();
  bool blackhole_off();

  // Runs `ip args...`; false (and the reason in last_error()) on failure.
  bool ip(std::vector<std::string> args);
  const std::string& last_error() const { return last_error_; }

 private:
  std::string ns_s_, ns_r_, vc_, vs_, va_, vb_, net_, mac_a_, mac_b_;
  std::string error_, last_error_;
  bool forbidden_ = false;
  bool created_s_ = false, created_r_ = false, created_vc_ = false;
};

}  // namespace yoi::reliability
