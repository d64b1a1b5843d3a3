import { describe, expect, it } from "vitest";
import { normalizeRuntime } from "../src/runtimes";
import type { RuntimeSummary } from "../src/types";

describe("normalizeRuntime", () => {
  it("reads the flat §6 summary", () => {
    const r = normalizeRuntime({
      runtime_id: "local",
      display_name: "Local",
      source: "embedded",
      status: "ready",
      reachable: true,
      capabilities: ["workers.create"],
      profiles: ["runtime_default"],
      worker_counts: { total: 2 },
      version: "1.0",
    });
    expect(r).toMatchObject({ source: "embedded", status: "ready", version: "1.0", capabilities: ["workers.create"] });
    expect(r.reachability).toEqual({ label: "reachable", tone: "ok" });
    expect(r.worker_counts.total).toBe(2);
  });

  it("reads the registry projection with a nested summary and a diagnostic", () => {
    const raw = {
      runtime_id: "gpu-1",
      display_name: "GPU box",
      kind: "remote",
      health: "unreachable",
      last_seen_ms: 1000,
      summary: { runtime_id: "gpu-1", capabilities: ["workers.list"], version: "0.9", status: "ready" },
      diagnostic: { code: "runtime_unreachable", message: "The runtime did not answer." },
    } as unknown as RuntimeSummary;
    const r = normalizeRuntime(raw);
    expect(r.source).toBe("remote");
    expect(r.reachability).toEqual({ label: "unreachable", tone: "bad" });
    expect(r.status).toBe("unreachable");
    expect(r.capabilities).toEqual(["workers.list"]);
    expect(r.version).toBe("0.9");
    expect(r.problem).toEqual({ code: "runtime_unreachable", message: "The runtime did not answer." });
    expect(r.last_seen_ms).toBe(1000);
  });

  it("reads yoi-server's form: summary fields flat, health name in status, last_seen", () => {
    const raw = {
      runtime_id: "edge",
      display_name: "Edge",
      kind: "remote",
      status: "auth_failed",
      last_seen: 42,
      workers: { total: 3, idle: 2, running: 1 },
      capabilities: ["workers.create"],
      diagnostic: { code: "runtime_auth_failed", message: "The runtime rejected the backend's credential." },
    } as unknown as RuntimeSummary;
    const r = normalizeRuntime(raw);
    expect(r.source).toBe("remote");
    expect(r.reachability).toEqual({ label: "auth failed", tone: "bad" });
    expect(r.last_seen_ms).toBe(42);
    expect(r.worker_counts).toEqual({ total: 3, idle: 2, running: 1 });
    expect(r.problem?.code).toBe("runtime_auth_failed");
    expect(normalizeRuntime({ runtime_id: "l", status: "ready" } as RuntimeSummary).reachability.label).toBe("reachable");
  });

  it("leaves what the server did not say unknown", () => {
    const r = normalizeRuntime({ runtime_id: "x" });
    expect(r.display_name).toBe("x");
    expect(r.source).toBeUndefined();
    expect(r.reachability.label).toBe("—");
    expect(r.capabilities).toEqual([]);
  });
});
