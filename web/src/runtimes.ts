// One row per runtime of GET /api/runtimes, as yoi-server sends it
// (docs/golden/runtime_*.json): the runtime summary's fields flat, plus
// `kind`, the health name in `status`, `last_seen` and `diagnostic`. Summary
// fields are absent until the runtime has answered once and render as "—".

import type { RuntimeSummary } from "./types";

export interface RuntimeRow {
  runtime_id: string;
  display_name: string;
  kind?: string; // "embedded" | "remote"
  status?: string;
  reachability: { label: string; tone: "ok" | "bad" | "warn" | "muted" };
  version?: string;
  store?: string;
  capabilities: string[];
  profiles: string[];
  bundles: string[];
  workspaces: { name: string; access: string }[];
  worker_counts: Record<string, number>;
  last_seen_ms?: number;
  problem?: { code: string; message: string };
}

// The backend's health names (`status` of a runtime row).
const HEALTH: Record<string, RuntimeRow["reachability"]> = {
  ready: { label: "reachable", tone: "ok" },
  unreachable: { label: "unreachable", tone: "bad" },
  timeout: { label: "timing out", tone: "bad" },
  auth_failed: { label: "auth failed", tone: "bad" },
  bad_response: { label: "bad response", tone: "warn" },
  unknown: { label: "not contacted yet", tone: "muted" },
};

const str = (v: unknown): string | undefined => (typeof v === "string" && v ? v : undefined);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

function counts(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (v && typeof v === "object" && !Array.isArray(v)) for (const [k, n] of Object.entries(v)) if (typeof n === "number") out[k] = n;
  return out;
}

export function normalizeRuntime(r: RuntimeSummary): RuntimeRow {
  const status = str(r.status);
  const d = r.diagnostic;
  return {
    runtime_id: r.runtime_id,
    display_name: str(r.display_name) ?? r.runtime_id,
    kind: str(r.kind),
    status,
    reachability: (status && HEALTH[status]) || (status ? { label: status, tone: "warn" } : { label: "—", tone: "muted" }),
    version: str(r.version),
    store: str(r.store),
    capabilities: strs(r.capabilities),
    profiles: strs(r.profiles),
    bundles: strs(r.bundles),
    workspaces: Array.isArray(r.workspaces)
      ? r.workspaces.filter((w) => w && typeof w.name === "string").map((w) => ({ name: w.name, access: String(w.access ?? "read") }))
      : [],
    worker_counts: counts(r.workers),
    last_seen_ms: typeof r.last_seen === "number" ? r.last_seen : undefined,
    problem: d && typeof d.code === "string" ? { code: d.code, message: String(d.message ?? "") } : undefined,
  };
}
