// One shape for a runtime row, whatever form the server sends: the §6
// summary fields flat on the object, or the backend registry's projection
// (`kind`, `health` or a health name in `status`, `last_seen`, `diagnostic`,
// and the last `summary` nested). Fields the server did not send stay undefined and render as "—".

import type { RuntimeSummary } from "./types";

export interface RuntimeRow {
  runtime_id: string;
  display_name: string;
  source?: string; // "embedded" | "remote"
  status?: string;
  reachability: { label: string; tone: "ok" | "bad" | "warn" | "muted" };
  version?: string;
  store?: string;
  capabilities: string[];
  profiles: string[];
  worker_counts: Record<string, number>;
  last_seen_ms?: number;
  problem?: { code: string; message: string };
}

const HEALTH: Record<string, RuntimeRow["reachability"]> = {
  ready: { label: "reachable", tone: "ok" },
  reachable: { label: "reachable", tone: "ok" },
  unreachable: { label: "unreachable", tone: "bad" },
  unavailable: { label: "unreachable", tone: "bad" },
  timeout: { label: "timing out", tone: "bad" },
  auth_failed: { label: "auth failed", tone: "bad" },
  bad_response: { label: "bad response", tone: "warn" },
  unknown: { label: "not contacted yet", tone: "muted" },
};

type Loose = RuntimeSummary & {
  kind?: string;
  health?: string;
  last_seen_ms?: number;
  last_seen?: number; // yoi-server's name (wall-clock ms)
  workers?: unknown; // the runtime's name for worker_counts
  summary?: Partial<RuntimeSummary>;
};

const str = (v: unknown): string | undefined => (typeof v === "string" && v ? v : undefined);
const strs = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined);

// Worker counts by status: `worker_counts` or, as the runtime encodes them, `workers`.
function counts(v: unknown): Record<string, number> | undefined {
  if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(v)) if (typeof n === "number") out[k] = n;
  return out;
}

export function normalizeRuntime(raw: RuntimeSummary): RuntimeRow {
  const r = raw as Loose;
  const s = (r.summary && typeof r.summary === "object" ? r.summary : {}) as Partial<RuntimeSummary>;
  const health = str(r.health);
  let reachability: RuntimeRow["reachability"];
  if (typeof r.reachable === "boolean") reachability = r.reachable ? HEALTH.reachable : HEALTH.unreachable;
  else if (health) reachability = HEALTH[health] ?? { label: health, tone: "warn" };
  else if (str(r.reachability)) reachability = HEALTH[r.reachability!] ?? { label: r.reachability!, tone: "warn" };
  else {
    const st = str(r.status) ?? str(s.status);
    reachability = st && HEALTH[st] ? HEALTH[st] : { label: "—", tone: "muted" };
  }
  const problem = r.diagnostic ?? r.error;
  return {
    runtime_id: r.runtime_id,
    display_name: str(r.display_name) ?? str(s.display_name) ?? r.runtime_id,
    source: str(r.source) ?? str(r.kind),
    status: str(r.status) ?? health ?? str(s.status),
    reachability,
    version: str(r.version) ?? str(s.version),
    store: str(r.store) ?? str(s.store),
    capabilities: strs(r.capabilities) ?? strs(s.capabilities) ?? [],
    profiles: strs(r.profiles) ?? strs(s.profiles) ?? [],
    worker_counts: counts(r.worker_counts) ?? counts(r.workers) ?? counts(s.worker_counts) ?? counts((s as Loose).workers) ?? {},
    last_seen_ms: typeof r.last_seen_ms === "number" ? r.last_seen_ms : typeof r.last_seen === "number" ? r.last_seen : undefined,
    problem: problem && typeof problem.code === "string" ? { code: problem.code, message: String(problem.message ?? "") } : undefined,
  };
}
