import { describe, expect, it } from "vitest";
import { diagnosticStep, initialState, isBusy, missingWorker, reduce, visibleText, type Action, type ViewState } from "../src/stream/reducer";
import { resultMark } from "../src/transcript";
import type { Frame, TranscriptItem, Worker, WorkerEvent } from "../src/types";

const R = "rt1";
const W = "w1";
const worker = (status = "idle"): Worker => ({ runtime_id: R, worker_id: W, display_name: "Ann", status });

type EventBody = WorkerEvent extends infer E ? (E extends { seq: number } ? Omit<E, "seq"> : never) : never;
const ev = (seq: number, e: EventBody): Frame => ({
  type: "event",
  cursor: `c${seq}`,
  seq,
  runtime_id: R,
  worker_id: W,
  event: { ...e, seq } as WorkerEvent,
});
const snap = (seq: number, over: Partial<Extract<Frame, { type: "snapshot" }>> = {}): Frame => ({
  type: "snapshot",
  cursor: `c${seq}`,
  seq,
  runtime_id: R,
  worker_id: W,
  worker: worker(),
  transcript_tail: [],
  in_flight: null,
  ...over,
});
const f = (frame: Frame): Action => ({ type: "frame", frame });
const run = (s: ViewState, ...as: Action[]) => as.reduce(reduce, s);

// A whole run: input, start, three deltas, done, finish. seq from `from`.
function runFrames(from: number, runId: string, input: string, chunks: string[]): Frame[] {
  let seq = from;
  const out: Frame[] = [
    ev(seq++, { type: "input_accepted", run_id: runId, content: input }),
    ev(seq++, { type: "status", status: "running", previous: "idle" }),
    ev(seq++, { type: "run_started", run_id: runId, profile: "runtime_default" }),
  ];
  for (const c of chunks) out.push(ev(seq++, { type: "text_delta", run_id: runId, delta: c }));
  out.push(ev(seq++, { type: "text_done", run_id: runId, text: chunks.join("") }));
  out.push(ev(seq++, { type: "run_finished", run_id: runId, result: "completed" }));
  out.push(ev(seq++, { type: "status", status: "idle", previous: "running" }));
  return out;
}

describe("reducer", () => {
  it("a first snapshot sets the view and goes live, not resynced", () => {
    const s = run(
      initialState(R, W),
      { type: "connect", reconnect: false },
      f(snap(2, { transcript_tail: [{ role: "user", content: "hi", run_id: "r1", index: 0 }] })),
    );
    expect(s.connection).toBe("live");
    expect(s.seq).toBe(2);
    expect(s.cursor).toBe("c2");
    expect(visibleText(s)).toEqual(["user:hi"]);
  });

  it("streams a reply: deltas append to the in-flight reply, run_finished commits it", () => {
    let s = run(initialState(R, W), f(snap(1)));
    const frames = runFrames(2, "r1", "hello", ["ec", "ho: ", "hello"]);
    s = run(s, ...frames.slice(0, 4).map(f)); // up to the first delta
    expect(s.inFlight).toMatchObject({ run_id: "r1", text: "ec", calls: [] });
    expect(isBusy(s)).toBe(true);
    expect(s.worker?.status).toBe("running");
    s = run(s, ...frames.slice(4).map(f));
    expect(s.inFlight).toBeNull();
    expect(visibleText(s)).toEqual(["user:hello", "assistant:echo: hello"]);
    expect(s.items[1].result).toBe("completed");
    expect(s.worker?.status).toBe("idle");
    expect(isBusy(s)).toBe(false);
    expect(s.seq).toBe(frames.length + 1);
    expect(s.cursor).toBe(`c${frames.length + 1}`);
    expect(s.stats.deltas).toBe(3);
  });

  it("drops re-delivered events by seq (at-least-once across reconnects)", () => {
    const frames = runFrames(2, "r1", "x", ["a", "b", "c"]);
    let s = run(initialState(R, W), f(snap(1)), ...frames.slice(0, 5).map(f));
    // The connection drops and the server replays from an older position.
    s = run(s, { type: "dropped" }, { type: "connect", reconnect: true }, { type: "open" });
    s = run(s, ...frames.slice(2).map(f));
    expect(visibleText(s)).toEqual(["user:x", "assistant:abc"]);
    expect(s.stats.duplicates).toBe(3);
  });

  it("a gap is not applied and asks for a resync", () => {
    const frames = runFrames(2, "r1", "x", ["a", "b", "c"]);
    let s = run(initialState(R, W), f(snap(1)), ...frames.slice(0, 4).map(f));
    const before = visibleText(s);
    s = run(s, f(frames[5])); // skips frames[4]
    expect(s.needsResync).toBe(true);
    expect(visibleText(s)).toEqual(before);
    s = run(s, { type: "resync_local" });
    expect(s.cursor).toBeNull();
    expect(s.awaitingSnapshot).toBe(true);
  });

  it("a snapshot replaces the view (in-flight reply included) and reports resynced", () => {
    let s = run(initialState(R, W), f(snap(1)), ...runFrames(2, "r1", "x", ["a", "b"]).slice(0, 5).map(f));
    s = run(
      s,
      f({ type: "diagnostic", code: "cursor_expired", message: "too old", action: "resync" }),
      // events between the diagnostic and the snapshot are ignored
      f(ev(99, { type: "text_delta", run_id: "r9", delta: "zzz" })),
      f(
        snap(40, {
          worker: worker("running"),
          transcript_tail: [{ role: "user", content: "later", run_id: "r7", index: 12 }],
          in_flight: { run_id: "r7", text: "par" },
        }),
      ),
    );
    expect(s.connection).toBe("resynced");
    expect(visibleText(s)).toEqual(["user:later", "assistant*:par"]);
    expect(s.seq).toBe(40);
    // the stream then continues the in-flight reply
    s = run(s, f(ev(41, { type: "text_delta", run_id: "r7", delta: "tial" })));
    expect(s.inFlight?.text).toBe("partial");
    expect(s.connection).toBe("live");
  });

  it("a snapshot after resuming with a cursor is a resync even without a diagnostic", () => {
    let s: ViewState = { ...initialState(R, W), cursor: "c5", seq: 5 };
    s = run(s, { type: "connect", reconnect: false }, { type: "open" });
    expect(s.connection).toBe("live");
    s = run(s, f(snap(3)));
    expect(s.connection).toBe("resynced");
    expect(s.seq).toBe(3); // new epoch: the snapshot wins even with a lower seq
  });

  it("heartbeats move the cursor only for exactly the applied seq", () => {
    let s = run(initialState(R, W), f(snap(3)));
    s = run(s, f({ type: "heartbeat", cursor: "h3", seq: 3 }));
    expect(s.cursor).toBe("h3");
    s = run(s, f({ type: "heartbeat", cursor: "h2", seq: 2 }));
    expect(s.cursor).toBe("h3");
    s = run(s, f({ type: "heartbeat", cursor: "h9", seq: 9 }));
    expect(s.cursor).toBe("h3");
  });

  it("runtime_unavailable (wait) shows unavailable and the next event brings it back live", () => {
    let s = run(initialState(R, W), f(snap(1)));
    s = run(s, f({ type: "diagnostic", code: "runtime_unavailable", message: "lost it", action: "wait" }));
    expect(s.connection).toBe("unavailable");
    expect(s.diagnostic?.code).toBe("runtime_unavailable");
    s = run(s, f(ev(2, { type: "status", status: "idle" })));
    expect(s.connection).toBe("live");
    expect(s.diagnostic).toBeNull(); // settled by the event
    s = run(s, f({ type: "diagnostic", code: "runtime_unavailable", message: "again", action: "wait" }));
    s = run(s, f({ type: "diagnostic", code: "runtime_recovered", message: "back", action: "wait" }));
    expect(s.connection).toBe("live");
  });

  it("worker_stopped ends the stream; fatal diagnostics fail it", () => {
    let s = run(initialState(R, W), f(snap(1)), f(ev(2, { type: "worker_stopped", reason: "user" })));
    expect(s.worker?.status).toBe("stopped");
    s = run(s, f({ type: "diagnostic", code: "worker_stopped", message: "", action: "fatal" }));
    expect(s.connection).toBe("ended");
    s = run(s, { type: "dropped" });
    expect(s.connection).toBe("ended");
    const g = run(initialState(R, W), f({ type: "diagnostic", code: "worker_not_found", message: "no", action: "fatal" }));
    expect(g.connection).toBe("failed");
  });

  it("a cursor diagnostic without resync drops the cursor for a fresh snapshot", () => {
    let s: ViewState = { ...initialState(R, W), cursor: "bad", seq: 4 };
    s = run(s, f({ type: "diagnostic", code: "cursor_invalid", message: "forged", action: "fatal" }));
    expect(s.cursor).toBeNull();
    expect(s.connection).toBe("reconnecting");
    s = run(s, f(snap(7)));
    expect(s.connection).toBe("resynced");
  });

  it("cancelled and failed runs are committed with their result and error", () => {
    let s = run(initialState(R, W), f(snap(1)));
    s = run(
      s,
      f(ev(2, { type: "input_accepted", run_id: "r1", content: "q" })),
      f(ev(3, { type: "run_started", run_id: "r1" })),
      f(ev(4, { type: "text_delta", run_id: "r1", delta: "part" })),
      f(ev(5, { type: "run_finished", run_id: "r1", result: "cancelled", reason: "user" })),
      f(ev(6, { type: "input_accepted", run_id: "r2", content: "q2" })),
      f(ev(7, { type: "run_finished", run_id: "r2", result: "failed", error: { code: "engine_error", message: "boom" } })),
    );
    // As in the runtime's transcript: a failed run with no text still leaves
    // its reply item, with its error (issue 18).
    expect(s.items.map((i) => [i.role, i.content, i.result ?? ""])).toEqual([
      ["user", "q", ""],
      ["assistant", "part", "cancelled"],
      ["user", "q2", ""],
      ["assistant", "", "failed"],
    ]);
    expect(s.items[3].error).toEqual({ code: "engine_error", message: "boom" });
  });

  // Regression: the console showed a failed run's error twice, on its reply
  // item and again in a "The last run failed" box fed from a second copy in
  // the state. The item is the one place the error is held.
  it("console showed a failed run's error twice: the error is held by its reply item only", () => {
    const s = run(
      initialState(R, W),
      f(snap(1)),
      f(ev(2, { type: "input_accepted", run_id: "r1", content: "q" })),
      f(ev(3, { type: "run_started", run_id: "r1" })),
      f(ev(4, { type: "run_finished", run_id: "r1", result: "failed", error: { code: "provider_error", message: "boom" } })),
    );
    const copies = JSON.stringify(s).split('"boom"').length - 1;
    expect(copies).toBe(1);
    expect(s.items[1].error).toEqual({ code: "provider_error", message: "boom" });
  });

  it("missingWorker: only a final not-there code on a failed stream", () => {
    let s = initialState(R, W);
    expect(missingWorker(s)).toBeNull();
    // a passing condition, or another fatal code, is not "missing"
    s = run(s, f({ type: "diagnostic", code: "runtime_unavailable", message: "down", action: "wait" }));
    expect(missingWorker(s)).toBeNull();
    expect(missingWorker(reduce(s, { type: "failed", code: "unauthorized", message: "no" }))).toBeNull();
    // a failed handshake whose REST probe said 404, or the server's fatal diagnostic
    expect(missingWorker(reduce(s, { type: "failed", code: "worker_not_found", message: "gone" }))?.code).toBe("worker_not_found");
    const fatal = run(s, f({ type: "diagnostic", code: "worker_not_found", message: "gone", action: "fatal" }));
    expect(fatal.connection).toBe("failed");
    expect(missingWorker(fatal)?.code).toBe("worker_not_found");
    expect(missingWorker(reduce(s, { type: "failed", code: "invalid_id", message: "bad" }))?.code).toBe("invalid_id");
    // a stopped worker is there (read-only), not missing
    const stopped = run(s, f(snap(3, { worker: worker("stopped") })), f({ type: "diagnostic", code: "worker_stopped", message: "stopped", action: "fatal" }));
    expect(stopped.connection).toBe("ended");
    expect(missingWorker(stopped)).toBeNull();
  });

  // Issue 18: a run cancelled before any text vanished from the view, and the
  // input looked unanswered; after a reload the snapshot's item must show too.
  it("issue 18: a run cancelled before any text leaves a marked reply, live and after a reload", () => {
    let s = run(
      initialState(R, W),
      f(snap(1)),
      f(ev(2, { type: "input_accepted", run_id: "r1", content: "q" })),
      f(ev(3, { type: "run_started", run_id: "r1" })),
      f(ev(4, { type: "text_done", run_id: "r1", text: "" })),
      f(ev(5, { type: "run_finished", run_id: "r1", result: "cancelled", reason: "user" })),
    );
    expect(s.inFlight).toBeNull();
    expect(s.items.map((i) => [i.role, i.content, i.result ?? ""])).toEqual([
      ["user", "q", ""],
      ["assistant", "", "cancelled"],
    ]);
    expect(s.items.map(resultMark)).toEqual([null, "cancelled"]);
    // A reload: the snapshot carries the runtime's items, the failed one with its error.
    const tail: TranscriptItem[] = [
      { index: 0, seq: 2, role: "user", content: "q", run_id: "r1" },
      { index: 1, seq: 5, role: "assistant", content: "", run_id: "r1", result: "cancelled" },
      { index: 2, seq: 6, role: "user", content: "q2", run_id: "r2" },
      { index: 3, seq: 9, role: "assistant", content: "", run_id: "r2", result: "failed", error: { code: "interrupted", message: "restart" } },
    ];
    s = run(initialState(R, W), f(snap(9, { transcript_tail: tail })));
    expect(s.items).toEqual(tail);
    expect(s.items.map(resultMark)).toEqual([null, "cancelled", null, "failed: interrupted"]);
    expect(resultMark({ role: "assistant", content: "hi", run_id: "r", result: "completed" })).toBeNull();
    expect(resultMark({ role: "assistant", content: "", run_id: "r", result: "failed" })).toBe("failed");
  });

  it("frames for another worker are ignored", () => {
    const s0 = run(initialState(R, W), f(snap(1)));
    const s = run(s0, f({ ...(ev(2, { type: "status", status: "running" }) as object), worker_id: "other" } as Frame));
    expect(s).toBe(s0);
  });

  it("older transcript pages are prepended without overlap", () => {
    let s = run(
      initialState(R, W),
      f(snap(9, { transcript_tail: [2, 3].map((i) => ({ role: "user", content: `m${i}`, run_id: `r${i}`, index: i })) })),
    );
    s = run(s, {
      type: "earlier",
      items: [0, 1, 2].map((i) => ({ role: "user", content: `m${i}`, run_id: `r${i}`, index: i })),
    });
    expect(visibleText(s)).toEqual(["user:m0", "user:m1", "user:m2", "user:m3"]);
    // items appended from events continue the index
    s = run(s, f(ev(10, { type: "input_accepted", run_id: "r4", content: "m4" })));
    expect(s.items[4].index).toBe(4);
  });
});

describe("diagnosticStep", () => {
  it("maps the §5 vocabulary to what the connection does", () => {
    expect(diagnosticStep("cursor_expired", "resync")).toBe("continue");
    expect(diagnosticStep("runtime_unavailable", "wait")).toBe("continue");
    expect(diagnosticStep("subscriber_lagged", "retry")).toBe("reconnect");
    expect(diagnosticStep("cursor_invalid", "fatal")).toBe("reconnect_fresh");
    expect(diagnosticStep("cursor_unknown", "retry")).toBe("reconnect_fresh");
    expect(diagnosticStep("worker_stopped", "fatal")).toBe("close");
    expect(diagnosticStep("worker_not_found", "fatal")).toBe("close");
  });
});
