#!/usr/bin/env python3
"""A relay's own time per relayed event, from its system calls (issue 22).

    perf script -F time,event,trace | bench/relay_time.py PATH

reads one process's raw_syscalls:sys_enter / sys_exit tracepoints (perf
record -e raw_syscalls:sys_enter -e raw_syscalls:sys_exit -p PID) and
measures, for every event relayed, the time from the return of the epoll_wait
that woke the process, through a recvfrom that returned the runtime's frame,
to the entry of the sendto that passes it on: the part of the end-to-end
latency the relay itself spends. yoi-server, nginx and yoi-asio-relay all
relay with exactly these calls. Prints one JSON line (name relay_time) for
yoi-load report and one line for people.
"""

import json
import sys

EPOLL_WAIT, RECVFROM, SENDTO = 232, 45, 44  # x86-64
MIN_FRAME = 100  # bytes: a frame of the stream, not a control frame or EAGAIN


def spans(lines):
    woke = None  # time of the last epoll_wait that reported readiness
    got_frame = False
    for line in lines:
        parts = line.split()
        if len(parts) < 4 or not parts[1].startswith("raw_syscalls:"):
            continue
        t = float(parts[0].rstrip(":"))
        nr = int(parts[3])
        if parts[1] == "raw_syscalls:sys_exit:" and len(parts) >= 6:
            ret = int(parts[5])
            if nr == EPOLL_WAIT and ret > 0:
                woke, got_frame = t, False
            elif nr == RECVFROM and ret >= MIN_FRAME and woke is not None:
                got_frame = True
        elif parts[1] == "raw_syscalls:sys_enter:" and nr == SENDTO and got_frame:
            yield (t - woke) * 1e6
            woke, got_frame = None, False


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "?"
    d = sorted(spans(sys.stdin))
    if not d:
        print(f"# relay_time {path:7s} no relayed event found in the trace")
        return 1

    def pct(f):
        return d[min(len(d) - 1, int(len(d) * f))]

    print(json.dumps({"kind": "relay_time", "name": "relay_time", "path": path, "events": len(d),
                      "p50_us": round(pct(0.5), 2), "p90_us": round(pct(0.9), 2), "p99_us": round(pct(0.99), 2)},
                     separators=(",", ":")))
    print(f"# relay_time {path:7s} {len(d):6d} events  wake to send p50 {pct(0.5):5.1f} us  "
          f"p90 {pct(0.9):5.1f} us  p99 {pct(0.99):5.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
