// Tool calls in the console (ARCHITECTURE §12): the reducer and the card model
// built from synthetic frames and transcript pages. The rule under test: the
// live events and a reload (snapshot + transcript) give the same cards.
import { describe, expect, it } from "vitest";
import { MemoryStorage, restore, save } from "../src/stream/persist";
import { initialState, MAX_TOOL_OUTPUT_CHARS, reduce, type Action, type ViewState } from "../src/stream/reducer";
import { diffLines, mainArg, transcriptEntries, type Entry } from "../src/tools";
import type { Frame, TranscriptItem, Worker, WorkerEvent } from "../src/types";
import { parseFrame } from "../src/stream/frames";

const R = "rt1";
const W = "w1";
const worker = (status = "idle"): Worker => ({ runtime_id: R, worker_id: W, display_name: "Ann", status });
type EventBody = WorkerEvent extends infer E ? (E extends { seq: number } ? Omit<E, "seq"> : never) : never;
const ev = (seq: number, e: EventBody): Frame => ({ type: "event", cursor: `c${seq}`, seq, runtime_id: R, worker_id: W, event: { ...e, seq } as WorkerEvent });
const f = (frame: Frame): Action => ({ type: "frame", frame });
const run = (s: ViewState, frames: Frame[]) => frames.map(f).reduce(reduce, s);
const snap = (seq: number, tail: TranscriptItem[], in_flight: Extract<Frame, { type: "snapshot" }>["in_flight"], status = "running"): Frame => ({
  type: "snapshot",
  cursor: `c${seq}`,
  seq,
  runtime_id: R,
  worker_id: W,
  worker: worker(status),
  transcript_tail: tail,
  in_flight,
});

const DIFF = "--- notes.md\n+++ notes.md\n@@ -1 +1 @@\n-hi\n+hello";
const readArgs = { path: "notes.md" };
const editArgs = { path: "notes.md", old_string: "hi", new_string: "hello" };
const writeArgs = { path: "/workspaces/ro/x.md", content: "x" };

// A three-step run: text + two calls (read, edit), then a failing write,
// then the final reply. seq 1..15.
const LIVE: Frame[] = [
  ev(1, { type: "input_accepted", run_id: "r1", content: "fix notes" }),
  ev(2, { type: "status", status: "running", previous: "idle" }),
  ev(3, { type: "run_started", run_id: "r1" }),
  ev(4, { type: "text_delta", run_id: "r1", delta: "Let me look." }),
  ev(5, { type: "text_done", run_id: "r1", text: "Let me look.", step: 1 }),
  ev(6, { type: "tool_call", run_id: "r1", step: 1, call_id: "c1", name: "read", arguments: readArgs }),
  ev(7, { type: "tool_call", run_id: "r1", step: 1, call_id: "c2", name: "edit", arguments: editArgs }),
  ev(8, { type: "tool_result", run_id: "r1", call_id: "c1", name: "read", ok: true, output: "1\thi", truncated: false, duration_ms: 3 }),
  ev(9, { type: "tool_result", run_id: "r1", call_id: "c2", name: "edit", ok: true, output: DIFF, truncated: false, duration_ms: 5 }),
  ev(10, { type: "tool_call", run_id: "r1", step: 2, call_id: "c3", name: "write", arguments: writeArgs }),
  ev(11, {
    type: "tool_result", run_id: "r1", call_id: "c3", name: "write", ok: false, output: "", truncated: false,
    error: { code: "read_only", message: "/workspaces/ro is mounted read-only" }, duration_ms: 1,
  }),
  ev(12, { type: "text_delta", run_id: "r1", delta: "Done." }),
  ev(13, { type: "text_done", run_id: "r1", text: "Done.", step: 3 }),
  ev(14, { type: "run_finished", run_id: "r1", result: "completed", steps: 3 }),
  ev(15, { type: "status", status: "idle", previous: "running" }),
];

// The same run as the runtime's transcript holds it (only the contract's fields).
const T = {
  user: { role: "user", content: "fix notes", run_id: "r1" },
  step1: { role: "assistant", content: "Let me look.", run_id: "r1", tool_calls: [{ call_id: "c1", name: "read", arguments: readArgs }, { call_id: "c2", name: "edit", arguments: editArgs }] },
  c1: { role: "tool", content: "1\thi", run_id: "r1", call_id: "c1", name: "read", ok: true },
  c2: { role: "tool", content: DIFF, run_id: "r1", call_id: "c2", name: "edit", ok: true },
  step2: { role: "assistant", content: "", run_id: "r1", tool_calls: [{ call_id: "c3", name: "write", arguments: writeArgs }] },
  c3: { role: "tool", content: "error: read_only: /workspaces/ro is mounted read-only", run_id: "r1", call_id: "c3", name: "write", ok: false },
  reply: { role: "assistant", content: "Done.", run_id: "r1", result: "completed" },
} satisfies Record<string, TranscriptItem>;

// What the page shows, without the parts only the live events know (durations)
// and the bookkeeping fields (seq, index).
function shown(s: ViewState): unknown {
  const entries = transcriptEntries(s.items, s.inFlight).map((e: Entry) => {
    if (e.kind === "message") {
      const { seq: _s, index: _i, ...item } = e.item;
      return { message: item };
    }
    const { durationMs: _d, ...card } = e.card;
    return { tool: card };
  });
  const inFlight = s.inFlight && { run_id: s.inFlight.run_id, text: s.inFlight.text, calls: s.inFlight.calls.map((c) => [c.call_id, c.state]) };
  return { entries, inFlight };
}

const live = (upto: number) => run(initialState(R, W), LIVE.filter((fr) => (fr as { seq: number }).seq <= upto));

describe("tool calls: live events", () => {
  it("a step's text and its calls become one assistant item, results become tool items", () => {
    const s = live(15);
    expect(s.items.map((i) => [i.role, i.content, i.tool_calls?.map((c) => c.call_id) ?? null])).toEqual([
      ["user", "fix notes", null],
      ["assistant", "Let me look.", ["c1", "c2"]],
      ["tool", "1\thi", null],
      ["tool", DIFF, null],
      ["assistant", "", ["c3"]],
      ["tool", "", null],
      ["assistant", "Done.", null],
    ]);
    expect(s.inFlight).toBeNull();
  });

  it("shows cards with name, main argument, status, error code and duration", () => {
    const cards = transcriptEntries(live(15).items, null).flatMap((e) => (e.kind === "tool" ? [e.card] : []));
    expect(cards.map((c) => [c.name, c.mainArg, c.status, c.errorCode ?? null, c.durationMs ?? null])).toEqual([
      ["read", "notes.md", "ok", null, 3],
      ["edit", "notes.md", "ok", null, 5],
      ["write", "/workspaces/ro/x.md", "failed", "read_only", 1],
    ]);
    expect(cards[2].errorMessage).toBe("/workspaces/ro is mounted read-only");
    expect(cards[1].output).toBe(DIFF);
  });

  it("a call in flight is running until its result arrives", () => {
    const s = live(8); // c1 answered, c2 not
    const cards = transcriptEntries(s.items, s.inFlight).flatMap((e) => (e.kind === "tool" ? [e.card] : []));
    expect(cards.map((c) => [c.call_id, c.status])).toEqual([["c1", "ok"], ["c2", "running"]]);
    expect(s.inFlight?.calls.map((c) => c.call_id)).toEqual(["c2"]);
    expect(s.inFlight?.text).toBe(""); // the step's text moved into its item
  });

  it("a call the run ended without answering has no result (not running forever)", () => {
    const s = run(initialState(R, W), [
      ...LIVE.slice(0, 6),
      ev(7, { type: "run_finished", run_id: "r1", result: "cancelled" }),
    ]);
    const card = transcriptEntries(s.items, s.inFlight).find((e) => e.kind === "tool");
    expect(card?.kind === "tool" && card.card.status).toBe("no_result");
  });

  it("streamed tool_output shows on the running card, bounded, and the result replaces it", () => {
    let s = live(6);
    s = run(s, [
      ev(7, { type: "tool_output", run_id: "r1", call_id: "c1", stream: "stdout", delta: "partial " }),
      ev(8, { type: "tool_output", run_id: "r1", call_id: "c1", stream: "stdout", delta: "x".repeat(MAX_TOOL_OUTPUT_CHARS) }),
    ]);
    const running = transcriptEntries(s.items, s.inFlight).find((e) => e.kind === "tool");
    expect(running?.kind === "tool" && running.card.output.length).toBe(MAX_TOOL_OUTPUT_CHARS);
    expect(running?.kind === "tool" && running.card.output.endsWith("x")).toBe(true);
    s = run(s, [ev(9, { type: "tool_result", run_id: "r1", call_id: "c1", name: "read", ok: true, output: "done", truncated: false, duration_ms: 2 })]);
    const done = transcriptEntries(s.items, s.inFlight).find((e) => e.kind === "tool");
    expect(done?.kind === "tool" && [done.card.status, done.card.output]).toEqual(["ok", "done"]);
    expect(s.inFlight?.output).toEqual({});
  });

  it("a re-delivered tool_call or tool_result (seq already applied) is not applied twice", () => {
    const s = run(live(9), [LIVE[5], LIVE[7], LIVE[8]]);
    expect(s.items.filter((i) => i.role === "tool")).toHaveLength(2);
    expect(s.items[1].tool_calls).toHaveLength(2);
  });

  it("tool frames are decoded from the wire, and a malformed one is refused whole", () => {
    const ok = parseFrame(JSON.stringify(LIVE[10]));
    expect(ok).toMatchObject({ event: { type: "tool_result", ok: false, error: { code: "read_only" } } });
    expect(parseFrame('{"type":"event","cursor":"c","seq":3,"event":{"type":"tool_result","run_id":"r1","call_id":"c1","seq":3}}')).toHaveProperty("error");
    const sn = parseFrame(JSON.stringify(snap(8, [], { run_id: "r1", text: "", step: 1, calls: [{ call_id: "c2", name: "edit", arguments: editArgs, state: "awaiting_approval" }] })));
    expect(sn).toMatchObject({ in_flight: { step: 1, calls: [{ call_id: "c2", state: "awaiting_approval" }] } });
  });
});

describe("tool calls: a reload builds the same view as the live events", () => {
  it("after the run: snapshot with the transcript tail = live", () => {
    const reloaded = run(initialState(R, W), [snap(15, [T.user, T.step1, T.c1, T.c2, T.step2, T.c3, T.reply], null, "idle")]);
    expect(shown(reloaded)).toEqual(shown(live(15)));
  });

  it("mid-run, a call running: snapshot (in-flight step and unresolved calls) = live", () => {
    const reloaded = run(initialState(R, W), [
      snap(8, [T.user, T.step1, T.c1], { run_id: "r1", text: "", step: 1, calls: [{ call_id: "c2", name: "edit", arguments: editArgs, state: "running" }] }),
    ]);
    expect(shown(reloaded)).toEqual(shown(live(8)));
  });

  it("reloaded mid-run then resumed live ends in the same view as never reloading", () => {
    const reloaded = run(initialState(R, W), [
      snap(8, [T.user, T.step1, T.c1], { run_id: "r1", text: "", step: 1, calls: [{ call_id: "c2", name: "edit", arguments: editArgs, state: "running" }] }),
      ...LIVE.slice(8),
    ]);
    expect(shown(reloaded)).toEqual(shown(live(15)));
  });

  it("reloaded in the middle of a later step's text, then resumed", () => {
    const at12 = snap(12, [T.user, T.step1, T.c1, T.c2, T.step2, T.c3], { run_id: "r1", text: "Done.", step: 3, calls: [] });
    expect(shown(run(initialState(R, W), [at12]))).toEqual(shown(live(12)));
    expect(shown(run(initialState(R, W), [at12, ...LIVE.slice(12)]))).toEqual(shown(live(15)));
  });

  it("a page reload restores the saved view (persist) with its running call", () => {
    const st = new MemoryStorage();
    save(st, live(8));
    const back = restore(st, R, W);
    expect(shown(back)).toEqual(shown(live(8)));
    expect(back.cursor).toBe("c8");
  });

  it("an in-flight part with the whole run's text does not show the earlier steps' text twice", () => {
    const at12 = snap(12, [T.user, T.step1, T.c1, T.c2, T.step2, T.c3], { run_id: "r1", text: "Let me look.Done.", step: 3, calls: [] });
    expect(shown(run(initialState(R, W), [at12]))).toEqual(shown(live(12)));
  });

  it("a call awaiting approval in the snapshot shows as such", () => {
    const s = run(initialState(R, W), [
      snap(7, [T.user, T.step1], { run_id: "r1", text: "", step: 1, calls: [{ call_id: "c1", name: "read", arguments: readArgs, state: "awaiting_approval" }, { call_id: "c2", name: "edit", arguments: editArgs, state: "running" }] }),
    ]);
    const st = transcriptEntries(s.items, s.inFlight).flatMap((e) => (e.kind === "tool" ? [e.card.status] : []));
    expect(st).toEqual(["awaiting_approval", "running"]);
  });

  it("a tool item whose call is on an older page is a card of its own", () => {
    const s = run(initialState(R, W), [snap(15, [T.c3, T.reply], null, "idle")]);
    const e = transcriptEntries(s.items, s.inFlight);
    expect(e[0]).toMatchObject({ kind: "tool", card: { call_id: "c3", name: "write", status: "failed", errorCode: "read_only" } });
    expect(e).toHaveLength(2);
    const plain = transcriptEntries([{ ...T.c3, content: "not_found: no such file" }], null)[0];
    expect(plain).toMatchObject({ kind: "tool", card: { errorCode: "not_found", errorMessage: "no such file" } });
    const untyped = transcriptEntries([{ ...T.c3, content: "It broke: badly" }], null)[0];
    expect(untyped).toMatchObject({ kind: "tool", card: { errorCode: "tool_failed", errorMessage: "It broke: badly" } });
  });
});

describe("tool items with their typed error and duration (stored since issue 20's follow-up)", () => {
  // What the runtime's transcript holds now: the model's text as content,
  // plus `error` and `duration_ms` as in the tool_result.
  const stored = { ...T.c3, error: { code: "read_only", message: "/workspaces/ro is mounted read-only" }, duration_ms: 1 };

  it("a reload shows the same cards as the live events, durations included", () => {
    const items = [T.user, T.step1, { ...T.c1, duration_ms: 3 }, { ...T.c2, duration_ms: 5 }, T.step2, stored, T.reply];
    const reloaded = run(initialState(R, W), [snap(15, items, null, "idle")]);
    const cards = (s: ViewState) => transcriptEntries(s.items, s.inFlight).flatMap((e) => (e.kind === "tool" ? [e.card] : []));
    expect(cards(reloaded)).toEqual(cards(live(15)));
  });

  it("the fields are used as they are; the model's error line is not shown as output", () => {
    const card = (item: TranscriptItem) => (transcriptEntries([item], null)[0] as Extract<Entry, { kind: "tool" }>).card;
    expect(card(stored)).toMatchObject({ status: "failed", errorCode: "read_only", errorMessage: "/workspaces/ro is mounted read-only", output: "", durationMs: 1 });
    // The field wins over what the content seems to say.
    expect(card({ ...stored, content: "error: not_found: nope" })).toMatchObject({ errorCode: "read_only", output: "error: not_found: nope" });
    // Output after the error line (bash's, later) is kept.
    expect(card({ ...stored, content: "error: read_only: /workspaces/ro is mounted read-only\npartial" }).output).toBe("partial");
  });
});

describe("tool card pieces", () => {
  it("the main argument is path, pattern or command, from an object or JSON text", () => {
    expect(mainArg("write", { path: "a.md", content: "x" })).toBe("a.md");
    expect(mainArg("grep", { pattern: "TODO", path: "src" })).toBe("TODO");
    expect(mainArg("glob", '{"pattern":"**/*.ts"}')).toBe("**/*.ts");
    expect(mainArg("bash", { command: "ls -la" })).toBe("ls -la");
    expect(mainArg("read", "not json")).toBe("");
  });

  it("an edit's diff is split into added, removed, hunk and header lines", () => {
    expect(diffLines(DIFF).map((l) => l.kind)).toEqual(["meta", "meta", "hunk", "del", "add"]);
    expect(diffLines(" same").map((l) => l.kind)).toEqual(["ctx"]);
    expect(diffLines(`${DIFF}\n`)).toHaveLength(5);
  });
});
