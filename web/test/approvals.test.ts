// Approvals in the console (ARCHITECTURE §15) and bash's streamed output
// (§12): the reducer, the card model and the diff preview, from synthetic
// frames. The rules under test: a pending approval comes from the worker
// detail (so a reload keeps the card) and from approval_requested live; an
// answered card says what was decided; input is refused while awaiting.
import { describe, expect, it } from "vitest";
import { parseFrame } from "../src/stream/frames";
import { MemoryStorage, restore, save } from "../src/stream/persist";
import {
  initialState,
  isAwaitingApproval,
  isBusy,
  MAX_APPROVALS,
  MAX_TOOL_OUTPUT_CHARS,
  pendingApprovals,
  reduce,
  type Action,
  type ViewState,
} from "../src/stream/reducer";
import { approvalDiff, diffLines, MAX_PREVIEW_LINES, transcriptEntries, type ToolCardModel } from "../src/tools";
import type { Frame, PendingApproval, TranscriptItem, Worker, WorkerEvent } from "../src/types";

const R = "rt1";
const W = "w1";
type EventBody = WorkerEvent extends infer E ? (E extends { seq: number } ? Omit<E, "seq"> : never) : never;
const ev = (seq: number, e: EventBody): Frame => ({ type: "event", cursor: `c${seq}`, seq, runtime_id: R, worker_id: W, event: { ...e, seq } as WorkerEvent });
const f = (frame: Frame): Action => ({ type: "frame", frame });
const run = (s: ViewState, frames: Frame[]) => frames.map(f).reduce(reduce, s);
const worker = (status: string, pending?: PendingApproval[]): Worker => ({
  runtime_id: R,
  worker_id: W,
  display_name: "Ann",
  status,
  ...(pending ? { pending_approvals: pending } : {}),
});

const writeArgs = { path: "a.txt", content: "x" };
const bashArgs = { command: "make test" };

// Up to the write call parked on a person.
const ASKING: Frame[] = [
  ev(1, { type: "input_accepted", run_id: "r1", content: '/write {"path":"a.txt","content":"x"}' }),
  ev(2, { type: "status", status: "running", previous: "idle" }),
  ev(3, { type: "run_started", run_id: "r1" }),
  ev(4, { type: "tool_call", run_id: "r1", step: 1, call_id: "c1", name: "write", arguments: writeArgs }),
  ev(5, { type: "approval_requested", run_id: "r1", call_id: "c1", name: "write", arguments: writeArgs, rule: { tool: "write", action: "ask" } }),
  ev(6, { type: "status", status: "awaiting_approval", previous: "running" }),
];
const start = (): ViewState => run(initialState(R, W), [{ type: "snapshot", cursor: "c0", seq: 0, runtime_id: R, worker_id: W, worker: worker("idle"), transcript_tail: [], in_flight: null }]);

const cards = (s: ViewState): ToolCardModel[] =>
  transcriptEntries(s.items, s.inFlight, { pending: pendingApprovals(s.worker), resolutions: s.resolutions })
    .filter((e) => e.kind === "tool")
    .map((e) => (e as { card: ToolCardModel }).card);

describe("approvals in the view", () => {
  it("approval_requested parks the call: a card awaiting approval, the worker waiting, input refused", () => {
    const s = run(start(), ASKING);
    expect(s.worker?.status).toBe("awaiting_approval");
    expect(pendingApprovals(s.worker).map((p) => p.call_id)).toEqual(["c1"]);
    expect(s.inFlight?.calls).toMatchObject([{ call_id: "c1", state: "awaiting_approval" }]);
    const [c] = cards(s);
    expect(c).toMatchObject({ call_id: "c1", name: "write", mainArg: "a.txt", status: "awaiting_approval" });
    expect(c.approval).toMatchObject({ call_id: "c1", run_id: "r1" });
    expect(isAwaitingApproval(s)).toBe(true);
    expect(isBusy(s)).toBe(true);
  });

  it("the card survives a reload: a snapshot whose detail lists pending_approvals shows it", () => {
    const live = run(start(), ASKING);
    const tail: TranscriptItem[] = [
      { role: "user", content: '/write {"path":"a.txt","content":"x"}', run_id: "r1" },
      { role: "assistant", content: "", run_id: "r1", tool_calls: [{ call_id: "c1", name: "write", arguments: writeArgs }] },
    ];
    const frame = parseFrame(
      JSON.stringify({
        type: "snapshot",
        cursor: "c6",
        seq: 6,
        runtime_id: R,
        worker_id: W,
        worker: worker("awaiting_approval", [{ call_id: "c1", name: "write", arguments: writeArgs, run_id: "r1", rule: { tool: "write", action: "ask" } }]),
        transcript_tail: tail,
        in_flight: { run_id: "r1", text: "", step: 1, calls: [{ call_id: "c1", name: "write", arguments: writeArgs, state: "awaiting_approval" }] },
      }),
    ) as Frame;
    const reloaded = run(initialState(R, W), [frame]);
    const strip = (c: ToolCardModel) => ({ ...c, approval: { ...c.approval, rule: undefined, requested_at: undefined } });
    expect(cards(reloaded).map(strip)).toEqual(cards(live).map(strip));
    expect(isAwaitingApproval(reloaded)).toBe(true);
  });

  it("a pending approval in the detail asks even when the snapshot's in-flight part says running", () => {
    const s = run(initialState(R, W), [
      {
        type: "snapshot", cursor: "c6", seq: 6, runtime_id: R, worker_id: W,
        worker: worker("awaiting_approval", [{ call_id: "c1", name: "write", arguments: writeArgs, run_id: "r1" }]),
        transcript_tail: [{ role: "assistant", content: "", run_id: "r1", tool_calls: [{ call_id: "c1", name: "write", arguments: writeArgs }] }],
        in_flight: { run_id: "r1", text: "", step: 1, calls: [{ call_id: "c1", name: "write", arguments: writeArgs, state: "running" }] },
      },
    ]);
    expect(cards(s).map((c) => c.status)).toEqual(["awaiting_approval"]);
  });

  it("a pending approval whose call is on an older page still gets its card", () => {
    const s = run(initialState(R, W), [
      {
        type: "snapshot", cursor: "c9", seq: 9, runtime_id: R, worker_id: W,
        worker: worker("awaiting_approval", [{ call_id: "c7", name: "bash", arguments: bashArgs, run_id: "r2" }]),
        transcript_tail: [], in_flight: null,
      },
    ]);
    expect(cards(s)).toMatchObject([{ call_id: "c7", name: "bash", mainArg: "make test", status: "awaiting_approval", run_id: "r2" }]);
  });

  it("approval_resolved approved: the call runs, the card says Approved, the worker no longer waits", () => {
    const s = run(start(), [
      ...ASKING,
      ev(7, { type: "approval_resolved", run_id: "r1", call_id: "c1", decision: "approved", remember: false }),
      ev(8, { type: "status", status: "running", previous: "awaiting_approval" }),
    ]);
    expect(pendingApprovals(s.worker)).toEqual([]);
    expect(isAwaitingApproval(s)).toBe(false);
    const [c] = cards(s);
    expect(c.status).toBe("running");
    expect(c.approval).toBeUndefined();
    expect(c.resolution).toEqual({ decision: "approved", remember: false });
  });

  it("approval_resolved denied with a reason: the card keeps the decision and the reason next to the denied result", () => {
    const s = run(start(), [
      ...ASKING,
      ev(7, { type: "approval_resolved", run_id: "r1", call_id: "c1", decision: "denied", reason: "not that file", remember: false }),
      ev(8, { type: "status", status: "running", previous: "awaiting_approval" }),
      ev(9, {
        type: "tool_result", run_id: "r1", call_id: "c1", name: "write", ok: false, output: "",
        error: { code: "denied", message: "denied by a person: not that file" },
      }),
    ]);
    const [c] = cards(s);
    expect(c).toMatchObject({ status: "failed", errorCode: "denied", resolution: { decision: "denied", reason: "not that file" } });
  });

  it("remember is shown on the decision", () => {
    const s = run(start(), [...ASKING, ev(7, { type: "approval_resolved", run_id: "r1", call_id: "c1", decision: "approved", remember: true })]);
    expect(cards(s)[0].resolution).toEqual({ decision: "approved", remember: true });
  });

  it("a run that ends (cancel, stop) leaves nothing pending", () => {
    const cancelled = run(start(), [...ASKING, ev(7, { type: "run_finished", run_id: "r1", result: "cancelled" }), ev(8, { type: "status", status: "idle" })]);
    expect(pendingApprovals(cancelled.worker)).toEqual([]);
    expect(isAwaitingApproval(cancelled)).toBe(false);
    const stopped = run(start(), [...ASKING, ev(7, { type: "worker_stopped" })]);
    expect(pendingApprovals(stopped.worker)).toEqual([]);
  });

  it("a re-delivered approval_requested does not duplicate the card; pending stays bounded", () => {
    let s = run(start(), ASKING);
    s = run(s, [ev(7, { type: "approval_requested", run_id: "r1", call_id: "c1", name: "write", arguments: writeArgs })]);
    expect(pendingApprovals(s.worker)).toHaveLength(1);
    for (let i = 0; i < MAX_APPROVALS + 10; i++) {
      s = run(s, [ev(8 + i, { type: "approval_requested", run_id: "r1", call_id: `x${i}`, name: "bash", arguments: bashArgs })]);
    }
    expect(pendingApprovals(s.worker).length).toBe(MAX_APPROVALS);
  });

  it("malformed pending_approvals entries in a detail are ignored, not rendered", () => {
    const w = { ...worker("awaiting_approval"), pending_approvals: [null, 3, { name: "bash" }, { call_id: "ok", name: "bash", arguments: bashArgs }] } as unknown as Worker;
    expect(pendingApprovals(w).map((p) => p.call_id)).toEqual(["ok"]);
    expect(pendingApprovals({ ...worker("idle"), pending_approvals: "nope" } as unknown as Worker)).toEqual([]);
  });

  it("approval events with missing fields are malformed frames, never half-applied", () => {
    for (const e of [{ type: "approval_requested", run_id: "r1", name: "write" }, { type: "approval_resolved", run_id: "r1", call_id: "c1" }]) {
      expect(parseFrame(JSON.stringify({ type: "event", cursor: "c", seq: 3, event: { ...e, seq: 3 } }))).toHaveProperty("error");
    }
  });

  it("the pending approvals are saved with the view, so a reload resumed from the cursor keeps the card", () => {
    const s = run(start(), ASKING);
    const st = new MemoryStorage();
    save(st, s);
    const back = restore(st, R, W)!;
    expect(cards(back).map((c) => [c.call_id, c.status])).toEqual([["c1", "awaiting_approval"]]);
  });
});

describe("bash output", () => {
  const BASH: Frame[] = [
    ev(1, { type: "input_accepted", run_id: "r1", content: "run it" }),
    ev(2, { type: "run_started", run_id: "r1" }),
    ev(3, { type: "tool_call", run_id: "r1", step: 1, call_id: "b1", name: "bash", arguments: bashArgs }),
    ev(4, { type: "tool_output", run_id: "r1", call_id: "b1", stream: "stdout", delta: "ok 1\n" }),
    ev(5, { type: "tool_output", run_id: "r1", call_id: "b1", stream: "stderr", delta: "warn\n" }),
  ];

  it("tool_output streams under the running card, and the result's exit code replaces it", () => {
    const s = run(start(), BASH);
    expect(cards(s)).toMatchObject([{ name: "bash", mainArg: "make test", status: "running", output: "ok 1\nwarn\n" }]);
    const done = run(s, [ev(6, { type: "tool_result", run_id: "r1", call_id: "b1", name: "bash", ok: true, output: "ok 1\nwarn\n", exit_code: 2, duration_ms: 40 })]);
    expect(cards(done)).toMatchObject([{ status: "ok", exitCode: 2, output: "ok 1\nwarn\n" }]);
    expect(done.inFlight?.output).toEqual({});
  });

  it("streamed output is bounded per call (the newest kept)", () => {
    let s = run(start(), BASH.slice(0, 3));
    const chunk = "y".repeat(16 * 1024);
    for (let i = 0; i < 10; i++) s = run(s, [ev(4 + i, { type: "tool_output", run_id: "r1", call_id: "b1", stream: "stdout", delta: chunk + i })]);
    const out = s.inFlight!.output.b1;
    expect(out.length).toBe(MAX_TOOL_OUTPUT_CHARS);
    expect(out.endsWith("9")).toBe(true);
  });
});

describe("diff preview of a pending write or edit", () => {
  it("write: the new content against a file the console cannot see", () => {
    const d = approvalDiff("write", { path: "a.txt", content: "one\ntwo\n" })!;
    expect(diffLines(d).map((l) => [l.kind, l.text])).toEqual([
      ["meta", "--- a.txt (current contents not shown: created or replaced)"],
      ["meta", "+++ a.txt"],
      ["hunk", "@@ -0,0 +1,2 @@"],
      ["add", "+one"],
      ["add", "+two"],
    ]);
  });

  it("edit: old_string -> new_string, computed from arguments sent as JSON text too", () => {
    const d = approvalDiff("edit", JSON.stringify({ path: "n.md", old_string: "hi\nthere", new_string: "hello", replace_all: true }))!;
    expect(d.split("\n")).toEqual(["--- n.md", "+++ n.md", "@@ -2 +1 @@ (every occurrence)", "-hi", "-there", "+hello"]);
  });

  it("other tools and arguments without the fields have no preview", () => {
    expect(approvalDiff("bash", bashArgs)).toBeNull();
    expect(approvalDiff("edit", { path: "n.md", old_string: "a" })).toBeNull();
    expect(approvalDiff("write", "not json")).toBeNull();
  });

  it("a huge content is cut with a marker", () => {
    const d = approvalDiff("write", { path: "big", content: "z\n".repeat(10_000) })!;
    const lines = d.split("\n");
    expect(lines.length).toBe(MAX_PREVIEW_LINES + 1);
    expect(lines[lines.length - 1]).toMatch(/preview cut \(\d+ more lines\)/);
  });
});

describe("remembered rules", () => {
  it("a fetched detail brings what was always allowed and nothing else", () => {
    const s = run(start(), ASKING);
    const next = reduce(s, { type: "detail", worker: { ...worker("idle"), remembered_rules: [{ tool: "write", pattern: "a.txt", action: "allow" }] } });
    expect(next.worker?.remembered_rules).toEqual([{ tool: "write", pattern: "a.txt", action: "allow" }]);
    expect(next.worker?.status).toBe("awaiting_approval"); // the stream owns the status
    expect(pendingApprovals(next.worker).map((p) => p.call_id)).toEqual(["c1"]);
    expect(reduce(s, { type: "detail", worker: { ...worker("idle"), worker_id: "other", remembered_rules: [] } })).toBe(s);
  });
});
