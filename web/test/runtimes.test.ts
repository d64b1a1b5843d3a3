import { describe, expect, it } from "vitest";
import { normalizeRuntime } from "../src/runtimes";
import type { RuntimeSummary } from "../src/types";

// yoi-server's own rows are in test/golden.test.ts (docs/golden/runtime_*.json).
describe("normalizeRuntime", () => {
  it("labels every health name the backend sends in status", () => {
    const label = (status: string) => normalizeRuntime({ runtime_id: "r", status }).reachability;
    expect(label("ready")).toEqual({ label: "reachable", tone: "ok" });
    expect(label("unreachable")).toEqual({ label: "unreachable", tone: "bad" });
    expect(label("timeout")).toEqual({ label: "timing out", tone: "bad" });
    expect(label("auth_failed")).toEqual({ label: "auth failed", tone: "bad" });
    expect(label("bad_response")).toEqual({ label: "bad response", tone: "warn" });
    expect(label("unknown")).toEqual({ label: "not contacted yet", tone: "muted" });
    expect(label("sleepy")).toEqual({ label: "sleepy", tone: "warn" });
  });

  it("reads last_seen, the diagnostic and the counts in workers", () => {
    const r = normalizeRuntime({
      runtime_id: "edge",
      kind: "remote",
      status: "auth_failed",
      last_seen: 42,
      workers: { total: 3, idle: 2, running: 1 },
      diagnostic: { code: "runtime_auth_failed", message: "The runtime rejected the backend's credential." },
    });
    expect(r.kind).toBe("remote");
    expect(r.last_seen_ms).toBe(42);
    expect(r.worker_counts).toEqual({ total: 3, idle: 2, running: 1 });
    expect(r.problem?.code).toBe("runtime_auth_failed");
  });

  it("reads no other names for the same things", () => {
    const raw = { runtime_id: "x", source: "remote", health: "ready", worker_counts: { total: 2 }, summary: { version: "1" } };
    const r = normalizeRuntime(raw as unknown as RuntimeSummary);
    expect([r.kind, r.status, r.version, r.reachability.label]).toEqual([undefined, undefined, undefined, "—"]);
    expect(r.worker_counts).toEqual({});
  });

  it("leaves what the server did not say unknown", () => {
    const r = normalizeRuntime({ runtime_id: "x" });
    expect(r.display_name).toBe("x");
    expect(r.kind).toBeUndefined();
    expect(r.reachability.label).toBe("—");
    expect(r.capabilities).toEqual([]);
  });
});
