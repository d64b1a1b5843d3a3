// Decoding of stream frames (ARCHITECTURE §5). A frame that does not have the
// shape of the contract is reported as a ParseFailure, never half-applied:
// applying a malformed event would corrupt the view and the cursor with it.

import type { DiagnosticAction, Frame, InFlightPart, PendingCall, TranscriptItem, Worker, WorkerEvent } from "../types";

export interface ParseFailure {
  error: string;
}

const ACTIONS: ReadonlySet<string> = new Set(["resync", "wait", "retry", "fatal"]);
// The event types the console applies (docs/golden/event_*.json has one of each).
export const EVENT_TYPES = [
  "worker_created",
  "status",
  "input_accepted",
  "run_started",
  "text_delta",
  "text_done",
  "usage",
  "run_finished",
  "worker_stopped",
  "tool_call",
  "tool_result",
  "tool_output",
  "approval_requested",
  "approval_resolved",
] as const;
const KNOWN_EVENTS: ReadonlySet<string> = new Set(EVENT_TYPES);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === "string";
const isSeq = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

function isWorker(v: unknown): v is Worker {
  return isObj(v) && isStr(v.runtime_id) && isStr(v.worker_id) && isStr(v.status);
}

function isItem(v: unknown): v is TranscriptItem {
  return isObj(v) && isStr(v.role) && isStr(v.content);
}

// Checks the fields each event type needs; returns null when they are missing.
function decodeEvent(v: unknown): WorkerEvent | null {
  if (!isObj(v) || !isStr(v.type)) return null;
  const e = v as Obj & { type: string };
  const runOk = isStr(e.run_id);
  switch (e.type) {
    case "worker_created":
      return isWorker(e.worker) ? (e as unknown as WorkerEvent) : null;
    case "status":
      return isStr(e.status) ? (e as unknown as WorkerEvent) : null;
    case "input_accepted":
      return runOk && isStr(e.content) ? (e as unknown as WorkerEvent) : null;
    case "run_started":
      return runOk ? (e as unknown as WorkerEvent) : null;
    case "text_delta":
      return runOk && isStr(e.delta) ? (e as unknown as WorkerEvent) : null;
    case "text_done":
      return runOk && isStr(e.text) ? (e as unknown as WorkerEvent) : null;
    case "usage":
      return runOk ? (e as unknown as WorkerEvent) : null;
    case "run_finished":
      return runOk && isStr(e.result) ? (e as unknown as WorkerEvent) : null;
    case "worker_stopped":
      return e as unknown as WorkerEvent;
    case "tool_call":
      return runOk && isStr(e.call_id) && isStr(e.name) ? (e as unknown as WorkerEvent) : null;
    case "tool_output":
      return runOk && isStr(e.call_id) && isStr(e.delta) ? (e as unknown as WorkerEvent) : null;
    case "tool_result":
      return runOk && isStr(e.call_id) && isStr(e.name) && typeof e.ok === "boolean"
        ? ({ ...e, output: isStr(e.output) ? e.output : "" } as unknown as WorkerEvent)
        : null;
    case "approval_requested":
      return runOk && isStr(e.call_id) && isStr(e.name) && isObj(e.rule) ? (e as unknown as WorkerEvent) : null;
    case "approval_resolved":
      return runOk && isStr(e.call_id) && isStr(e.decision) ? (e as unknown as WorkerEvent) : null;
    default:
      return { type: "__unknown", original: e.type, seq: isSeq(e.seq) ? e.seq : 0 };
  }
}

// The snapshot's in-flight part: the run, its step, the reply so far and the
// calls without a result yet (§12). Calls without an id or a name are not shown.
function decodeInFlight(inf: unknown): InFlightPart | null {
  if (!isObj(inf) || !isStr(inf.run_id)) return null;
  const out: InFlightPart = { run_id: inf.run_id, text: isStr(inf.text) ? inf.text : "" };
  if (isSeq(inf.step)) out.step = inf.step;
  const calls = Array.isArray(inf.calls) ? inf.calls : Array.isArray(inf.tool_calls) ? inf.tool_calls : null;
  if (calls) {
    out.calls = calls
      .filter((c): c is Obj => isObj(c) && isStr(c.call_id) && isStr(c.name))
      .map((c) => ({ call_id: c.call_id, name: c.name, arguments: c.arguments, state: isStr(c.state) ? c.state : "running" }) as PendingCall);
  }
  return out;
}

export function isKnownEventType(t: string): boolean {
  return KNOWN_EVENTS.has(t);
}

export function parseFrame(text: string): Frame | ParseFailure {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { error: "frame is not JSON" };
  }
  if (!isObj(v) || !isStr(v.type)) return { error: "frame has no type" };
  switch (v.type) {
    case "snapshot": {
      if (!isStr(v.cursor) || !isSeq(v.seq) || !isWorker(v.worker)) return { error: "snapshot frame is malformed" };
      const tail = Array.isArray(v.transcript_tail) ? v.transcript_tail : [];
      if (!tail.every(isItem)) return { error: "snapshot transcript_tail is malformed" };
      const inFlight = decodeInFlight(v.in_flight);
      return {
        type: "snapshot",
        cursor: v.cursor,
        seq: v.seq,
        runtime_id: isStr(v.runtime_id) ? v.runtime_id : v.worker.runtime_id,
        worker_id: isStr(v.worker_id) ? v.worker_id : v.worker.worker_id,
        worker: v.worker,
        transcript_tail: tail as TranscriptItem[],
        in_flight: inFlight,
      };
    }
    case "event": {
      if (!isStr(v.cursor) || !isSeq(v.seq)) return { error: "event frame is malformed" };
      const event = decodeEvent(v.event);
      if (!event) return { error: "event frame carries a malformed event" };
      return {
        type: "event",
        cursor: v.cursor,
        seq: v.seq,
        runtime_id: isStr(v.runtime_id) ? v.runtime_id : "",
        worker_id: isStr(v.worker_id) ? v.worker_id : "",
        event,
      };
    }
    case "diagnostic": {
      if (!isStr(v.code)) return { error: "diagnostic frame is malformed" };
      const action = isStr(v.action) && ACTIONS.has(v.action) ? (v.action as DiagnosticAction) : "fatal";
      return { type: "diagnostic", code: v.code, message: isStr(v.message) ? v.message : "", action };
    }
    case "heartbeat": {
      if (!isStr(v.cursor) || !isSeq(v.seq)) return { error: "heartbeat frame is malformed" };
      return { type: "heartbeat", cursor: v.cursor, seq: v.seq };
    }
    default:
      return { error: `unknown frame type` };
  }
}

export function isParseFailure(v: Frame | ParseFailure): v is ParseFailure {
  return (v as ParseFailure).error !== undefined;
}
