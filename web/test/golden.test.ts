// docs/golden/*.json — the bodies and frames yoi-server sends, checked against
// the real server by backend_golden_test — through the console's decoders:
// frames.ts, the reducer, the polling fallback, normalizeRuntime and the
// REST client. A field renamed on the server changes a golden file, and then
// these tests say which part of the console stops understanding it.

import { describe, expect, it } from "vitest";
import { Api, ApiError, listAllWorkers } from "../src/api";
import { TokenStore } from "../src/auth";
import { CURSOR_CODES, FINAL_CODES, HTTP_STATUS, NO_WORKER_CODES, RUNTIME_DOWN_CODES } from "../src/codes";
import { normalizeRuntime } from "../src/runtimes";
import { EVENT_TYPES, isKnownEventType, isParseFailure, parseFrame } from "../src/stream/frames";
import { MemoryStorage } from "../src/stream/persist";
import { PollingSocket, type EventsPage } from "../src/stream/poll";
import { diagnosticStep, initialState, reduce, visibleText, type ViewState } from "../src/stream/reducer";
import { transcriptEntries } from "../src/tools";
import type { Frame, RuntimeSummary, TranscriptItem, WorkerList } from "../src/types";

type Json = any; // golden files are read as plain JSON
const files = import.meta.glob("../../docs/golden/*.json", { eager: true, import: "default" }) as Record<string, Json>;
const names = Object.keys(files).map((p) => p.slice(p.lastIndexOf("/") + 1));

function golden(name: string): Json {
  const v = files[`../../docs/golden/${name}`];
  if (v === undefined) throw new Error(`docs/golden/${name} is missing`);
  return structuredClone(v);
}

// A golden with its placeholders filled: "<string>" → `str`, "<cursor>" →
// "cursor", "<number>" → 1 (tests set the seqs that matter themselves).
function concrete(v: Json, str = "x"): Json {
  if (v === "<string>") return str;
  if (v === "<cursor>") return "cursor";
  if (v === "<number>") return 1;
  if (Array.isArray(v)) return v.map((x) => concrete(x, str));
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, concrete(x, str)]));
  return v;
}

function decode(v: Json): Frame {
  const f = parseFrame(JSON.stringify(v));
  if (isParseFailure(f)) throw new Error(`${f.error}: ${JSON.stringify(v)}`);
  return f;
}

// An event frame golden, filled, at `seq`, in run `run`.
function eventAt(name: string, seq: number, run = "run-1"): Frame {
  const g = concrete(golden(name), run);
  return decode({ ...g, seq, cursor: `c${seq}`, event: { ...g.event, seq } });
}

const frameFiles = names.filter((n) => n.startsWith("frame_") || n.startsWith("event_"));

describe("docs/golden", () => {
  it("uses only the three placeholders", () => {
    const bad: string[] = [];
    const walk = (v: Json, where: string) => {
      if (typeof v === "string" && /^<.*>$/.test(v) && !["<string>", "<number>", "<cursor>"].includes(v)) bad.push(`${where}: ${v}`);
      else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, `${where}.${k}`);
    };
    for (const n of names) walk(files[`../../docs/golden/${n}`], n);
    expect(names.length).toBeGreaterThan(20);
    expect(bad).toEqual([]);
  });
});

describe("golden frames through frames.ts", () => {
  it.each(frameFiles)("%s decodes with every field it carries", (name) => {
    const g = concrete(golden(name));
    const f = decode(g);
    expect(f.type).toBe(g.type);
    switch (f.type) {
      case "event":
        expect(f.event.type).toBe(g.event.type);
        expect([f.runtime_id, f.worker_id, f.cursor, f.seq]).toEqual([g.runtime_id, g.worker_id, g.cursor, g.seq]);
        break;
      case "snapshot":
        expect([f.runtime_id, f.worker_id, f.worker.status]).toEqual([g.runtime_id, g.worker_id, g.worker.status]);
        expect(f.transcript_tail).toEqual(g.transcript_tail);
        expect(f.in_flight).toEqual(g.in_flight);
        break;
      case "diagnostic":
        expect([f.code, f.message, f.action]).toEqual([g.code, g.message, g.action]);
        break;
      case "heartbeat":
        expect([f.cursor, f.seq]).toEqual([g.cursor, g.seq]);
        break;
    }
  });

  it("has one event golden per event type the console applies, and no other", () => {
    const goldenTypes = new Set(names.filter((n) => n.startsWith("event_")).map((n) => golden(n).event.type as string));
    for (const t of goldenTypes) expect(isKnownEventType(t), t).toBe(true);
    expect([...goldenTypes].sort()).toEqual([...EVENT_TYPES].sort());
  });
});

describe("golden frames through the reducer", () => {
  const R = "local";
  const W = "golden";
  const run = (s: ViewState, ...frames: Frame[]) => frames.reduce((st, frame) => reduce(st, { type: "frame", frame }), s);

  it("a worker's life: created, a completed run, idle, a cancelled run, stopped", () => {
    const life = [
      "event_worker_created.json",
      "event_input_accepted.json",
      "event_status.json",
      "event_run_started.json",
      "event_text_delta.json",
      "event_usage.json",
      "event_text_done.json",
      "event_run_finished_completed.json",
    ];
    let s = run(initialState(R, W), ...life.map((n, i) => eventAt(n, i + 1)));
    const created = golden("event_worker_created.json").event.worker;
    const input = golden("event_input_accepted.json").event.content;
    const reply = golden("event_text_done.json").event.text;
    expect(s.worker).toMatchObject({ runtime_id: R, worker_id: created.worker_id, display_name: created.display_name });
    expect(s.worker?.status).toBe(golden("event_status.json").event.status);
    expect(visibleText(s)).toEqual([`user:${input}`, `assistant:${reply}`]);
    expect(s.items[1]).toMatchObject({ run_id: "run-1", result: "completed" });
    expect(s.usage).toEqual({ run_id: "run-1", input_tokens: 1, output_tokens: 1 });
    expect([s.seq, s.cursor, s.stats.gaps, s.stats.badFrames]).toEqual([8, "c8", 0, 0]);

    const hb = decode({ ...concrete(golden("frame_heartbeat.json")), seq: 8, cursor: "hb8" });
    s = run(s, hb);
    expect(s.cursor).toBe("hb8");

    const delta = golden("event_text_delta.json").event.delta;
    s = run(
      s,
      eventAt("event_run_started.json", 9, "run-2"),
      eventAt("event_text_delta.json", 10, "run-2"),
      eventAt("event_run_finished_cancelled.json", 11, "run-2"),
    );
    expect(visibleText(s)).toEqual([`user:${input}`, `assistant:${reply}`, `assistant:${delta}`]);
    expect(s.items[2]).toMatchObject({ run_id: "run-2", result: "cancelled" });

    s = run(s, eventAt("event_worker_stopped.json", 12), decode(concrete(golden("frame_diagnostic_fatal.json"))));
    expect(s.worker?.status).toBe("stopped");
    expect(s.connection).toBe("ended");
  });

  it("a cursor diagnostic, then the snapshot replaces the view", () => {
    const diag = decode(concrete(golden("frame_diagnostic_resync.json")));
    const snap = concrete(golden("frame_snapshot.json"));
    if (diag.type !== "diagnostic") throw new Error("not a diagnostic");
    expect(CURSOR_CODES.has(diag.code)).toBe(true);
    expect(diagnosticStep(diag.code, diag.action)).toBe("continue");
    let s = run(initialState(R, W), eventAt("event_worker_created.json", 1), diag);
    expect(s.awaitingSnapshot).toBe(true);
    s = run(s, decode({ ...snap, seq: 7, cursor: "c7" }));
    expect([s.seq, s.cursor, s.connection, s.awaitingSnapshot]).toEqual([7, "c7", "resynced", false]);
    expect(visibleText(s)).toEqual(snap.transcript_tail.map((i: Json) => `${i.role}:${i.content}`));
    expect(s.worker?.status).toBe(snap.worker.status);
  });

  it("the polling fallback turns the golden events page into the same view", async () => {
    const page = concrete(golden("events_page.json")) as EventsPage;
    const pending: Array<() => void> = [];
    const sock = new PollingSocket(R, W, null, {
      fetchEvents: async () => page,
      fetchWorker: async () => concrete(golden("worker_detail.json")),
      asError: (e) => ({ message: String(e) }),
      setTimeout: (fn) => pending.push(fn),
      clearTimeout: () => {},
    });
    let s = initialState(R, W);
    sock.onmessage = (m) => (s = reduce(s, { type: "frame", frame: decode(JSON.parse(String(m.data))) }));
    pending.shift()!(); // begin: detail (an empty snapshot), then the first page
    for (let i = 0; i < 5; i++) await Promise.resolve();
    sock.close();
    expect(s.seq).toBe(page.events[0].seq);
    expect(s.cursor).toBe(page.events[0].cursor);
    expect(s.worker?.worker_id).toBe(golden("event_worker_created.json").event.worker.worker_id);
  });
});

describe("golden transcript pages through the tool cards", () => {
  it("a failed call's tool item: its typed error and duration, not parsed out of its content", () => {
    const page = concrete(golden("transcript_tool_page.json")) as { items: TranscriptItem[] };
    const entries = transcriptEntries(page.items, null);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      kind: "tool",
      card: { name: "read", mainArg: "/etc/passwd", status: "failed", errorCode: "path_outside_scope", output: "", durationMs: 1 },
    });
  });
});

describe("golden bodies through the REST client", () => {
  function api(status: number, body: unknown) {
    const sent: Array<string | undefined> = [];
    const reply = (async (_url: string, init: RequestInit) => {
      sent.push(init.body as string | undefined);
      return new Response(JSON.stringify(body), { status });
    }) as unknown as typeof fetch;
    return { api: new Api({ tokens: new TokenStore(new MemoryStorage()), fetch: reply }), sent };
  }

  it("the error body becomes a typed ApiError with the table's status", async () => {
    const body = golden("error_body.json");
    const status = HTTP_STATUS[body.error.code as keyof typeof HTTP_STATUS];
    expect(status).toBeGreaterThanOrEqual(400);
    const e = await api(status, body).api.input("local", "golden", "x", "m").catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect([e.code, e.message, e.status, e.runtimeId, e.workerId]).toEqual([
      body.error.code,
      body.error.message,
      status,
      body.error.runtime_id,
      body.error.worker_id,
    ]);
  });

  it("input sends exactly the golden input body", async () => {
    const body = golden("input_body.json");
    const { api: a, sent } = api(202, concrete(golden("input_accepted.json")));
    const accepted = await a.input("local", "golden", body.content, body.client_message_id);
    expect(JSON.parse(sent[0]!)).toEqual(body);
    expect(typeof accepted.seq).toBe("number"); // the composer waits for this seq
  });

  it("the worker list across runtimes shows the runtime that failed", async () => {
    const g = concrete(golden("workers_all.json")) as WorkerList;
    const all = await listAllWorkers(api(200, g).api);
    expect(all.workers.map((w) => w.worker_id)).toEqual(g.workers.map((w) => w.worker_id));
    const failed = all.runtimes!.filter((r) => !r.ok);
    expect(failed.map((r) => [r.runtime_id, r.error?.code])).toEqual([["gone", "runtime_unreachable"]]);
  });

  it("workers carry the fields the views read (types.ts Worker)", () => {
    const read = ["runtime_id", "worker_id", "display_name", "status", "intent", "profile", "created_at", "updated_at", "last_seq", "transcript_total"];
    for (const w of [golden("worker_detail.json"), ...golden("worker_page.json").workers, golden("stop_answer.json")])
      for (const k of read) expect(w, k).toHaveProperty(k);
  });
});

describe("golden runtime rows through normalizeRuntime", () => {
  it("a ready embedded runtime", () => {
    const g = concrete(golden("runtime_detail.json"));
    const r = normalizeRuntime(g as RuntimeSummary);
    expect(r).toMatchObject({ runtime_id: "local", display_name: g.display_name, kind: "embedded", status: "ready", store: g.store });
    expect(r.reachability).toEqual({ label: "reachable", tone: "ok" });
    expect(r.worker_counts).toEqual(g.workers);
    expect(Object.keys(r.worker_counts).sort()).toEqual(["awaiting_approval", "idle", "running", "stopped", "total"]);
    expect(r.capabilities).toEqual(g.capabilities);
    expect(r.profiles).toEqual(g.profiles);
    expect(r.version).toBe(g.version);
    expect(r.last_seen_ms).toBe(g.last_seen);
    expect(r.problem).toBeUndefined();
  });

  it("a remote runtime that never answered", () => {
    const g = concrete(golden("runtime_unreachable.json"), "refused");
    const r = normalizeRuntime(g as RuntimeSummary);
    expect(r).toMatchObject({ runtime_id: "gone", kind: "remote", status: "unreachable", capabilities: [], worker_counts: {} });
    expect(r.reachability).toEqual({ label: "unreachable", tone: "bad" });
    expect(r.problem).toEqual({ code: "runtime_unreachable", message: "refused" });
    expect(r.last_seen_ms).toBeUndefined();
  });

  it("the list holds the same rows", () => {
    const list = golden("runtime_list.json").runtimes;
    expect(list).toEqual([golden("runtime_detail.json"), golden("runtime_unreachable.json")]);
  });
});

describe("codes.ts against docs/golden/errors.json", () => {
  it("every code the console acts on is in the table", () => {
    const table = golden("errors.json");
    for (const set of [CURSOR_CODES, RUNTIME_DOWN_CODES, NO_WORKER_CODES, FINAL_CODES])
      for (const code of set) expect(table[code], code).toBeTypeOf("number");
    expect(HTTP_STATUS).toEqual(table);
    expect("invalid_cursor" in table).toBe(false);
  });
});
