// The worker view as a pure function of the stream: (state, action) -> state.
//
// Rules (ARCHITECTURE §5):
// - A snapshot replaces the whole view (transcript tail, in-flight reply,
//   seq, cursor). Nothing from before it is kept except older transcript pages
//   the user loaded, and only when they are older than the snapshot's tail.
// - Events apply in seq order exactly once: an event with seq <= the last
//   applied seq is a re-delivery (at-least-once across reconnects) and is
//   dropped; an event that skips a seq is a gap, which the contract says never
//   happens silently, so the view does not apply it and asks for a resync.
// - The cursor only ever moves together with the seq it names (from an applied
//   event, a snapshot, or a heartbeat for exactly the applied seq). A saved
//   cursor therefore always matches the saved view: resuming from it neither
//   repeats nor skips text.

import { CURSOR_CODES, NO_WORKER_CODES } from "../codes";
import type {
  ApprovalResolution,
  DiagnosticAction,
  Frame,
  InFlightPart,
  PendingApproval,
  PendingCall,
  TranscriptItem,
  Worker,
  WorkerEvent,
} from "../types";

export type Connection =
  | "connecting" // first connection of this page to this worker
  | "live" // stream open and current
  | "reconnecting" // the socket dropped (or the server asked us to retry); backing off
  | "unavailable" // runtime_unavailable: the server keeps the stream and resumes it
  | "resynced" // a snapshot replaced a view that had history (cursor not honoured)
  | "ended" // the worker stopped; the stream is over
  | "failed"; // a fatal diagnostic; no automatic reconnect

export interface Diagnostic {
  code: string;
  message: string;
  action: DiagnosticAction | "local";
}

// The run being generated (ARCHITECTURE §12): the current step's text so far
// and the calls that have no result yet. The step's assistant item (its text
// and tool calls) is already in `items` once the step called a tool, exactly
// as the runtime's transcript has it, so a snapshot and the live events build
// the same view.
export interface InFlight {
  run_id: string;
  text: string;
  step?: number;
  calls: PendingCall[];
  // The step whose assistant item holds the calls (further tool_call events of
  // that step join it); null once the next step's text starts.
  callStep: number | null;
  // Streamed output of running calls (tool_output), bounded per call.
  output: Record<string, string>;
}

// Bound on the streamed output kept per running call (the result replaces it).
export const MAX_TOOL_OUTPUT_CHARS = 64 * 1024;

export interface ViewState {
  runtimeId: string;
  workerId: string;
  worker: Worker | null;
  items: TranscriptItem[];
  inFlight: InFlight | null;
  seq: number; // last applied seq; 0 = nothing applied yet
  cursor: string | null; // position of `seq`; null = connect for a snapshot
  connection: Connection;
  diagnostic: Diagnostic | null; // the last thing the stream said about itself
  awaitingSnapshot: boolean; // a resync was announced or a cursor was dropped
  resumedWithCursor: boolean; // this socket was opened with a cursor
  needsResync: boolean; // a gap was seen: reconnect without a cursor
  usage: { run_id: string; input_tokens: number; output_tokens: number } | null;
  // How this page saw approvals resolved (approval_resolved), by call id, so
  // an answered card says what was decided. The pending ones live in
  // worker.pending_approvals (the detail carries them: a reload keeps them).
  resolutions: Record<string, ApprovalResolution>;
  transport: "ws" | "poll"; // poll: the REST events fallback
  stats: { duplicates: number; deltas: number; snapshots: number; gaps: number; badFrames: number };
}

// Bound on transcript items held in memory; older ones are reloadable by page.
export const MAX_ITEMS = 2000;

export type Action =
  | { type: "connect"; reconnect: boolean } // opening a socket (with state.cursor if any)
  | { type: "open" } // the socket is open
  | { type: "dropped" } // the socket closed without us asking
  | { type: "frame"; frame: Frame }
  | { type: "bad_frame"; error: string }
  | { type: "earlier"; items: TranscriptItem[] } // an older transcript page
  | { type: "resync_local" } // a gap was seen: forget the cursor, reconnect for a snapshot
  | { type: "failed"; code: string; message: string } // the stream cannot continue (e.g. worker gone)
  | { type: "transport"; transport: "ws" | "poll" }
  // The worker's detail fetched apart from the stream: only the fields no
  // event carries are taken from it (what was always allowed, §15).
  | { type: "detail"; worker: Worker };

export function initialState(runtimeId: string, workerId: string): ViewState {
  return {
    runtimeId,
    workerId,
    worker: null,
    items: [],
    inFlight: null,
    seq: 0,
    cursor: null,
    connection: "connecting",
    diagnostic: null,
    awaitingSnapshot: false,
    resumedWithCursor: false,
    needsResync: false,
    usage: null,
    resolutions: {},
    transport: "ws",
    stats: { duplicates: 0, deltas: 0, snapshots: 0, gaps: 0, badFrames: 0 },
  };
}

// What the connection should do after a diagnostic (kept here so it is tested
// with the reducer). `reconnect_fresh`: drop the cursor, reconnect for a snapshot.
export type Step = "continue" | "reconnect" | "reconnect_fresh" | "close";

export function diagnosticStep(code: string, action: DiagnosticAction): Step {
  if (code === "worker_stopped") return "close";
  if (action === "resync" || action === "wait") return "continue";
  if (CURSOR_CODES.has(code)) return "reconnect_fresh"; // our cursor is useless: start over
  if (action === "retry") return "reconnect";
  return "close";
}

export function reduce(s: ViewState, a: Action): ViewState {
  switch (a.type) {
    case "connect":
      return {
        ...s,
        connection: a.reconnect ? "reconnecting" : "connecting",
        resumedWithCursor: s.cursor !== null,
        needsResync: false,
      };
    case "open":
      // With a cursor the stream continues where we were: live. Without, the
      // snapshot that follows decides.
      return s.cursor !== null && (s.connection === "connecting" || s.connection === "reconnecting")
        ? { ...s, connection: "live" }
        : s;
    case "dropped":
      return s.connection === "ended" || s.connection === "failed" ? s : { ...s, connection: "reconnecting" };
    case "bad_frame":
      return {
        ...s,
        diagnostic: { code: "bad_frame", message: a.error, action: "local" },
        stats: { ...s.stats, badFrames: s.stats.badFrames + 1 },
      };
    case "earlier":
      return prependEarlier(s, a.items);
    case "resync_local":
      return { ...s, cursor: null, awaitingSnapshot: true, needsResync: false, connection: "reconnecting" };
    case "transport":
      return { ...s, transport: a.transport };
    case "failed":
      return { ...s, connection: "failed", diagnostic: { code: a.code, message: a.message, action: "local" } };
    case "frame":
      return applyFrame(s, a.frame);
    case "detail":
      if (!s.worker || a.worker.worker_id !== s.workerId) return s;
      return { ...s, worker: { ...s.worker, remembered_rules: a.worker.remembered_rules ?? [] } };
  }
}

function applyFrame(s: ViewState, f: Frame): ViewState {
  switch (f.type) {
    case "snapshot": {
      if (f.runtime_id !== s.runtimeId || f.worker_id !== s.workerId) return s;
      const resync = s.awaitingSnapshot || s.resumedWithCursor || s.seq > 0;
      const tail = f.transcript_tail.slice(-MAX_ITEMS);
      return {
        ...s,
        worker: f.worker,
        items: tail,
        inFlight: f.in_flight ? fromSnapshot(f.in_flight, tail) : null,
        seq: f.seq,
        cursor: f.cursor,
        connection: f.worker.status === "stopped" && s.connection === "ended" ? "ended" : resync ? "resynced" : "live",
        awaitingSnapshot: false,
        needsResync: false,
        stats: { ...s.stats, snapshots: s.stats.snapshots + 1 },
      };
    }
    case "event": {
      if ((f.runtime_id && f.runtime_id !== s.runtimeId) || (f.worker_id && f.worker_id !== s.workerId)) return s;
      if (s.awaitingSnapshot) return s; // a snapshot is coming and will replace everything
      if (f.seq <= s.seq) return { ...s, stats: { ...s.stats, duplicates: s.stats.duplicates + 1 } };
      if (s.seq > 0 && f.seq !== s.seq + 1) {
        return { ...s, needsResync: true, stats: { ...s.stats, gaps: s.stats.gaps + 1 } };
      }
      const next = applyEvent(s, f.event);
      // Events flowing again settle a passing condition (runtime back, resync
      // done); typed failures stay until something replaces them.
      const settled = s.diagnostic && (s.diagnostic.action === "wait" || s.diagnostic.action === "resync");
      return {
        ...next,
        diagnostic: settled ? null : next.diagnostic,
        seq: f.seq,
        cursor: f.cursor,
        connection: next.connection === "ended" || next.connection === "failed" ? next.connection : "live",
      };
    }
    case "heartbeat": {
      const connection = s.connection === "connecting" || s.connection === "reconnecting" ? "live" : s.connection;
      // Adopt the cursor only for exactly the seq we hold: an older one would
      // replay text, a newer one would skip it.
      if (f.seq === s.seq && !s.awaitingSnapshot) return { ...s, cursor: f.cursor, connection };
      return connection === s.connection ? s : { ...s, connection };
    }
    case "diagnostic": {
      const diagnostic: Diagnostic = { code: f.code, message: f.message, action: f.action };
      const step = diagnosticStep(f.code, f.action);
      if (step === "close" && f.code === "worker_stopped") {
        return {
          ...s,
          diagnostic,
          connection: "ended",
          worker: s.worker ? { ...s.worker, status: "stopped" } : s.worker,
        };
      }
      if (f.code === "runtime_recovered") return { ...s, diagnostic, connection: "live" };
      switch (step) {
        case "continue":
          return {
            ...s,
            diagnostic,
            awaitingSnapshot: f.action === "resync" ? true : s.awaitingSnapshot,
            connection: f.code === "runtime_unavailable" ? "unavailable" : s.connection,
          };
        case "reconnect":
          return { ...s, diagnostic, connection: "reconnecting" };
        case "reconnect_fresh":
          return { ...s, diagnostic, connection: "reconnecting", cursor: null, awaitingSnapshot: true };
        case "close":
          return { ...s, diagnostic, connection: "failed" };
      }
    }
  }
}

function newInFlight(run_id: string): InFlight {
  return { run_id, text: "", calls: [], callStep: null, output: {} };
}

// An in-flight part saved by an older page (persist.ts) may lack the tool fields.
export function normalizeInFlight(v: Pick<InFlight, "run_id" | "text"> & Partial<InFlight>): InFlight {
  return { ...newInFlight(v.run_id), ...v, calls: v.calls ?? [], callStep: v.callStep ?? null, output: v.output ?? {} };
}

function fromSnapshot(p: InFlightPart, tail: TranscriptItem[]): InFlight {
  const calls = p.calls ?? [];
  // Unresolved calls mean the step's assistant item is in the tail already.
  return { ...newInFlight(p.run_id), text: stepText(p, tail), step: p.step, calls, callStep: calls.length > 0 ? (p.step ?? 0) : null };
}

// The current step's text. The in-flight part carries the reply so far; if a
// runtime gives the whole run's text there, the earlier steps' texts (already
// in the tail as their items) are not shown twice.
export function stepText(p: InFlightPart, tail: TranscriptItem[]): string {
  const before = tail
    .filter((i) => i.run_id === p.run_id && i.role === "assistant" && i.tool_calls && i.tool_calls.length > 0)
    .map((i) => i.content)
    .join("");
  return before !== "" && p.text.startsWith(before) ? p.text.slice(before.length) : p.text;
}

// The in-flight part of `run_id`: the current one, or a fresh one when the
// events of this run arrive without a run_started we saw.
function runOf(s: ViewState, run_id: string): InFlight {
  return s.inFlight && s.inFlight.run_id === run_id ? s.inFlight : newInFlight(run_id);
}

// A step ends with tool calls: its text and calls become one assistant item
// (like the runtime's transcript); later calls of the same step join it.
function applyToolCall(s: ViewState, e: Extract<WorkerEvent, { type: "tool_call" }>): ViewState {
  const cur = runOf(s, e.run_id);
  const step = e.step ?? cur.step ?? 0;
  const call = { call_id: e.call_id, name: e.name, arguments: e.arguments };
  const pending: PendingCall = { ...call, state: "running" };
  let items = s.items;
  const last = items.length - 1;
  const open = cur.callStep === step && last >= 0 && items[last].run_id === e.run_id;
  // The step's item is the last assistant item of this run (tool items may follow it).
  let at = -1;
  if (open) {
    for (let i = last; i >= 0 && items[i].run_id === e.run_id; i--) {
      if (items[i].role === "assistant" && items[i].tool_calls) {
        at = i;
        break;
      }
    }
  }
  if (at >= 0) {
    items = items.slice();
    items[at] = { ...items[at], tool_calls: [...(items[at].tool_calls ?? []), call] };
  } else {
    items = appendItem(items, { role: "assistant", content: cur.text, run_id: e.run_id, seq: e.seq, tool_calls: [call] }, s.worker);
  }
  return { ...s, items, inFlight: { ...cur, text: "", step, callStep: step, calls: [...cur.calls, pending] } };
}

function appendItem(items: TranscriptItem[], item: TranscriptItem, worker: Worker | null): TranscriptItem[] {
  const prev = items[items.length - 1];
  let index: number | undefined;
  if (prev && typeof prev.index === "number") index = prev.index + 1;
  else if (!prev && worker && typeof worker.transcript_total === "number") index = worker.transcript_total;
  const out = items.concat(index === undefined ? item : { ...item, index });
  return out.length > MAX_ITEMS ? out.slice(out.length - MAX_ITEMS) : out;
}

function applyEvent(s: ViewState, e: WorkerEvent): ViewState {
  switch (e.type) {
    case "worker_created":
      // The route's runtime id is the authority (a remote runtime's own id may differ).
      return { ...s, worker: { ...s.worker, ...e.worker, runtime_id: s.runtimeId } };
    case "status":
      return s.worker ? { ...s, worker: { ...s.worker, status: e.status } } : s;
    case "input_accepted":
      return { ...s, items: appendItem(s.items, { role: "user", content: e.content, run_id: e.run_id, seq: e.seq }, s.worker) };
    case "run_started":
      return { ...s, inFlight: newInFlight(e.run_id) };
    case "text_delta": {
      const cur = runOf(s, e.run_id);
      // Text after a step's calls is the next step's.
      return { ...s, inFlight: { ...cur, text: cur.text + e.delta, callStep: null }, stats: { ...s.stats, deltas: s.stats.deltas + 1 } };
    }
    case "text_done": {
      const cur = runOf(s, e.run_id);
      const sameStep = cur.callStep !== null && e.step !== undefined && e.step === cur.callStep;
      return { ...s, inFlight: { ...cur, text: e.text, step: e.step ?? cur.step, callStep: sameStep ? cur.callStep : null } };
    }
    case "tool_call":
      return applyToolCall(s, e);
    case "tool_output": {
      const cur = s.inFlight;
      if (!cur || cur.run_id !== e.run_id) return s;
      const text = ((cur.output[e.call_id] ?? "") + e.delta).slice(-MAX_TOOL_OUTPUT_CHARS);
      return { ...s, inFlight: { ...cur, output: { ...cur.output, [e.call_id]: text } } };
    }
    case "tool_result": {
      const item: TranscriptItem = { role: "tool", content: e.output, run_id: e.run_id, seq: e.seq, call_id: e.call_id, name: e.name, ok: e.ok };
      if (e.truncated !== undefined) item.truncated = e.truncated;
      if (e.error) item.error = e.error;
      if (e.exit_code !== undefined) item.exit_code = e.exit_code;
      if (e.duration_ms !== undefined) item.duration_ms = e.duration_ms;
      let inFlight = s.inFlight;
      if (inFlight && inFlight.run_id === e.run_id) {
        const { [e.call_id]: _done, ...output } = inFlight.output;
        inFlight = { ...inFlight, calls: inFlight.calls.filter((c) => c.call_id !== e.call_id), output };
      }
      return { ...s, inFlight, items: appendItem(s.items, item, s.worker) };
    }
    case "approval_requested":
      return applyApprovalRequested(s, e);
    case "approval_resolved":
      return applyApprovalResolved(s, e);
    case "usage":
      return { ...s, usage: { run_id: e.run_id, input_tokens: e.input_tokens ?? 0, output_tokens: e.output_tokens ?? 0 } };
    case "run_finished": {
      const text = s.inFlight && s.inFlight.run_id === e.run_id ? s.inFlight.text : "";
      // Like the runtime's transcript: every run that ends leaves a reply
      // item, even without text, marked with its result (issue 18), so the
      // view matches a later snapshot. A failed run's error lives on that
      // item only, so the view shows it once.
      const item: TranscriptItem = { role: "assistant", content: text, run_id: e.run_id, result: e.result, seq: e.seq };
      if (e.error) item.error = e.error;
      // A run that ends leaves nothing to approve (cancel and stop deny every pending call).
      return { ...s, inFlight: null, worker: withoutPending(s.worker, e.run_id), items: appendItem(s.items, item, s.worker) };
    }
    case "worker_stopped":
      return { ...s, inFlight: null, worker: s.worker ? { ...withoutPending(s.worker, null)!, status: "stopped" } : s.worker };
    case "__unknown":
      return s;
  }
}

// Bound on pending approvals and remembered resolutions held per view.
export const MAX_APPROVALS = 256;

// The worker's pending approvals: the well-formed entries of its detail.
export function pendingApprovals(w: Worker | null): PendingApproval[] {
  const list = w?.pending_approvals;
  if (!Array.isArray(list)) return [];
  return list.filter((p): p is PendingApproval => typeof p === "object" && p !== null && typeof p.call_id === "string" && typeof p.name === "string");
}

// Pending approvals of every run but `run_id` (null: of none).
function withoutPending(w: Worker | null, run_id: string | null): Worker | null {
  if (!w || pendingApprovals(w).length === 0) return w;
  return { ...w, pending_approvals: run_id === null ? [] : pendingApprovals(w).filter((p) => p.run_id !== undefined && p.run_id !== run_id) };
}

function setCallState(cur: InFlight | null, call_id: string, state: PendingCall["state"]): InFlight | null {
  if (!cur || !cur.calls.some((c) => c.call_id === call_id)) return cur;
  return { ...cur, calls: cur.calls.map((c) => (c.call_id === call_id ? { ...c, state } : c)) };
}

function applyApprovalRequested(s: ViewState, e: Extract<WorkerEvent, { type: "approval_requested" }>): ViewState {
  const p: PendingApproval = { call_id: e.call_id, name: e.name, arguments: e.arguments, run_id: e.run_id };
  if (e.rule !== undefined) p.rule = e.rule;
  if (e.time !== undefined) p.requested_at = e.time;
  const list = pendingApprovals(s.worker).filter((x) => x.call_id !== e.call_id);
  const worker = s.worker ? { ...s.worker, pending_approvals: list.concat(p).slice(-MAX_APPROVALS) } : s.worker;
  const { [e.call_id]: _old, ...resolutions } = s.resolutions;
  return { ...s, worker, resolutions, inFlight: setCallState(s.inFlight, e.call_id, "awaiting_approval") };
}

function applyApprovalResolved(s: ViewState, e: Extract<WorkerEvent, { type: "approval_resolved" }>): ViewState {
  const r: ApprovalResolution = { decision: e.decision, remember: e.remember === true };
  if (typeof e.reason === "string" && e.reason !== "") r.reason = e.reason;
  const worker = s.worker ? { ...s.worker, pending_approvals: pendingApprovals(s.worker).filter((x) => x.call_id !== e.call_id) } : s.worker;
  const keys = Object.keys(s.resolutions);
  const kept = keys.length >= MAX_APPROVALS ? Object.fromEntries(keys.slice(1 - MAX_APPROVALS).map((k) => [k, s.resolutions[k]])) : s.resolutions;
  // Approved: the tool runs now; denied: its `denied` result follows.
  return { ...s, worker, resolutions: { ...kept, [e.call_id]: r }, inFlight: setCallState(s.inFlight, e.call_id, "running") };
}

// Older transcript items (from GET …/transcript) go before the first item we
// hold; anything overlapping by index is already there and is skipped.
function prependEarlier(s: ViewState, older: TranscriptItem[]): ViewState {
  const first = s.items[0]?.index;
  if (typeof first !== "number") return s;
  const add = older.filter((i) => typeof i.index === "number" && i.index < first).sort((a, b) => a.index! - b.index!);
  if (add.length === 0) return s;
  const items = add.concat(s.items);
  return { ...s, items: items.length > MAX_ITEMS ? items.slice(0, MAX_ITEMS) : items };
}

// The text shown for the view, in order: every transcript item, then the reply
// being generated. Used by tests to check "no duplicated and no missing text".
export function visibleText(s: ViewState): string[] {
  const out = s.items.map((i) => `${i.role}:${i.content}`);
  if (s.inFlight) out.push(`assistant*:${s.inFlight.text}`);
  return out;
}

// The typed error saying the worker is not there to show (unknown, deleted,
// or addressed with a malformed id), once the stream has given up on it for
// good; null while it may still be there. The view then offers nothing to act on.
export function missingWorker(s: ViewState): Diagnostic | null {
  const d = s.diagnostic;
  return s.connection === "failed" && d !== null && NO_WORKER_CODES.has(d.code) ? d : null;
}

export function isBusy(s: ViewState): boolean {
  return s.inFlight !== null || s.worker?.status === "running" || isAwaitingApproval(s);
}

// The run is parked on a person's decision: input would be 409 worker_busy
// (new input is never consent, §15); only the approval cards answer.
export function isAwaitingApproval(s: ViewState): boolean {
  return s.worker?.status === "awaiting_approval" || pendingApprovals(s.worker).length > 0;
}
