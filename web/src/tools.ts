// Tool calls as the console shows them (ARCHITECTURE §12): a pure function
// of the transcript items and the in-flight run, so the live view and a
// reloaded one (snapshot + transcript page) render the same cards.
//
// An assistant item with `tool_calls` shows its text, then one card per call;
// a card's result is the `tool` item with the same call_id. A `tool` item
// whose call is not loaded (an older page) is a card of its own.

import type { InFlight } from "./stream/reducer";
import type { ApprovalResolution, PendingApproval, ToolCallItem, TranscriptItem } from "./types";

export type ToolStatus = "running" | "awaiting_approval" | "ok" | "failed" | "no_result";

export interface ToolCardModel {
  call_id: string;
  name: string;
  run_id: string;
  args: unknown; // the arguments, parsed when they came as JSON text
  mainArg: string; // path / pattern / command; "" when none
  status: ToolStatus;
  errorCode?: string;
  errorMessage?: string;
  output: string; // the result's bounded output, or the streamed output while running
  truncated: boolean;
  exitCode?: number;
  durationMs?: number;
  // Awaiting a person (§15): the pending approval, answered from the card.
  approval?: PendingApproval;
  // How the approval of this call was resolved, when this page saw it.
  resolution?: ApprovalResolution;
}

// What the view knows about approvals: the worker's pending ones (detail /
// approval_requested) and the resolutions it saw (approval_resolved).
export interface Approvals {
  pending: PendingApproval[];
  resolutions: Record<string, ApprovalResolution>;
}
const NO_APPROVALS: Approvals = { pending: [], resolutions: {} };

export type Entry =
  | { kind: "message"; item: TranscriptItem }
  | { kind: "tool"; card: ToolCardModel };

export function parseArgs(args: unknown): unknown {
  if (typeof args !== "string") return args;
  try {
    return JSON.parse(args);
  } catch {
    return args; // the model's text as it was: shown, never guessed at
  }
}

// The argument that says what a call is about: glob's and grep's pattern,
// bash's command, otherwise the path.
export function mainArg(name: string, args: unknown): string {
  const a = parseArgs(args);
  if (typeof a !== "object" || a === null || Array.isArray(a)) return "";
  const o = a as Record<string, unknown>;
  const keys = name === "glob" || name === "grep" ? ["pattern", "path"] : ["path", "command", "pattern"];
  for (const key of keys) {
    if (typeof o[key] === "string") return o[key] as string;
  }
  return "";
}

export function prettyArgs(args: unknown): string {
  const a = parseArgs(args);
  return typeof a === "string" ? a : JSON.stringify(a ?? {}, null, 2);
}

// A failed result's typed error: the item's `error`, or, when the transcript
// carries only the content (what the model read), its leading
// `error: code: message` (or `code: message`).
export function toolError(item: TranscriptItem): { code: string; message: string } | undefined {
  if (item.ok !== false) return undefined;
  if (item.error) return item.error;
  const m = /^(?:error: )?([a-z][a-z0-9_]{0,63}): ([\s\S]*)$/.exec(item.content);
  return m ? { code: m[1], message: m[2] } : { code: "tool_failed", message: item.content };
}

// What the tool printed, without the error the card shows apart. A stored
// failed item's content is what the model read: `error: code: message`, then
// the output (if any) on the following lines; a live item's is the output.
function resultOutput(item: TranscriptItem, err: { code: string; message: string } | undefined): string {
  if (item.ok !== false || !err) return item.content;
  if (!item.error) return ""; // only the model's text: it was all the error
  const head = `error: ${err.code}: ${err.message}`;
  if (item.content === head) return "";
  return item.content.startsWith(head + "\n") ? item.content.slice(head.length + 1) : item.content;
}

function card(call: ToolCallItem, run_id: string, result: TranscriptItem | undefined, inFlight: InFlight | null, approvals: Approvals): ToolCardModel {
  const c: ToolCardModel = {
    call_id: call.call_id,
    name: call.name,
    run_id,
    args: parseArgs(call.arguments),
    mainArg: mainArg(call.name, call.arguments),
    status: "no_result",
    output: "",
    truncated: false,
  };
  if (result) {
    c.status = result.ok === false ? "failed" : "ok";
    const err = toolError(result);
    if (err) {
      c.errorCode = err.code;
      c.errorMessage = err.message;
    }
    c.output = resultOutput(result, err);
    c.truncated = result.truncated === true;
    if (result.exit_code !== undefined) c.exitCode = result.exit_code;
    if (result.duration_ms !== undefined) c.durationMs = result.duration_ms;
  } else if (inFlight && inFlight.run_id === run_id) {
    const pending = inFlight.calls.find((p) => p.call_id === call.call_id);
    c.status = pending?.state === "awaiting_approval" ? "awaiting_approval" : "running";
    c.output = inFlight.output[call.call_id] ?? "";
  }
  const resolution = approvals.resolutions[call.call_id];
  if (resolution) c.resolution = resolution;
  const approval = result ? undefined : approvals.pending.find((p) => p.call_id === call.call_id);
  if (approval) {
    c.status = "awaiting_approval";
    c.approval = approval;
  }
  return c;
}

export function transcriptEntries(items: TranscriptItem[], inFlight: InFlight | null, approvals: Approvals = NO_APPROVALS): Entry[] {
  const results = new Map<string, TranscriptItem>();
  const calls = new Set<string>();
  for (const it of items) {
    if (it.role === "tool" && it.call_id) results.set(it.call_id, it);
    for (const c of it.tool_calls ?? []) calls.add(c.call_id);
  }
  const out: Entry[] = [];
  for (const it of items) {
    if (it.role === "tool") {
      if (it.call_id && calls.has(it.call_id)) continue; // shown on its call's card
      const call = { call_id: it.call_id ?? "", name: it.name ?? "tool", arguments: undefined };
      out.push({ kind: "tool", card: card(call, it.run_id, it, inFlight, approvals) });
      continue;
    }
    if (it.role !== "assistant" || !it.tool_calls || it.content !== "" || it.result) out.push({ kind: "message", item: it });
    for (const c of it.tool_calls ?? []) out.push({ kind: "tool", card: card(c, it.run_id, results.get(c.call_id), inFlight, approvals) });
  }
  // A pending approval whose call is not among the items held (its step is on
  // an older page): its card still asks, at the end where the run waits.
  for (const p of approvals.pending) {
    if (calls.has(p.call_id) || results.has(p.call_id)) continue;
    out.push({ kind: "tool", card: card(p, p.run_id ?? inFlight?.run_id ?? "", undefined, inFlight, approvals) });
  }
  return out;
}

// Bounds of an approval's diff preview: the person sees the change, and a huge
// content is cut with a marker (the arguments stay available in full).
export const MAX_PREVIEW_LINES = 400;
export const MAX_PREVIEW_CHARS = 64 * 1024;

function lines(text: string): string[] {
  const body = text.endsWith("\n") ? text.slice(0, -1) : text;
  return body === "" ? [] : body.split("\n");
}

// The change a pending write or edit would make, as a small unified-style
// diff computed from its arguments (the file itself is not read): write's
// content against a file the console cannot see; edit's old_string against
// its new_string. null for other tools or arguments without the fields.
export function approvalDiff(name: string, args: unknown): string | null {
  const a = parseArgs(args);
  if (typeof a !== "object" || a === null || Array.isArray(a)) return null;
  const o = a as Record<string, unknown>;
  const path = typeof o.path === "string" ? o.path : "";
  let out: string[];
  if (name === "write" && typeof o.content === "string") {
    const add = lines(o.content);
    out = [`--- ${path} (current contents not shown: created or replaced)`, `+++ ${path}`, `@@ -0,0 +1,${add.length} @@`, ...add.map((l) => `+${l}`)];
  } else if (name === "edit" && typeof o.old_string === "string" && typeof o.new_string === "string") {
    const del = lines(o.old_string);
    const add = lines(o.new_string);
    const all = o.replace_all === true ? " (every occurrence)" : "";
    out = [`--- ${path}`, `+++ ${path}`, `@@ -${del.length} +${add.length} @@${all}`, ...del.map((l) => `-${l}`), ...add.map((l) => `+${l}`)];
  } else {
    return null;
  }
  let cut = out.length > MAX_PREVIEW_LINES ? out.length - MAX_PREVIEW_LINES : 0;
  let text = out.slice(0, MAX_PREVIEW_LINES).join("\n");
  if (text.length > MAX_PREVIEW_CHARS) {
    text = text.slice(0, MAX_PREVIEW_CHARS);
    cut = Math.max(cut, 1);
  }
  return cut > 0 ? `${text}\n… preview cut (${cut > 1 ? `${cut} more lines` : "too long"}); the arguments hold all of it` : text;
}

export type DiffLineKind = "add" | "del" | "hunk" | "meta" | "ctx";

// A unified diff (edit's output) line by line, for styling.
export function diffLines(text: string): Array<{ kind: DiffLineKind; text: string }> {
  const body = text.endsWith("\n") ? text.slice(0, -1) : text; // no empty line after the last
  return body.split("\n").map((line) => {
    const kind: DiffLineKind =
      line.startsWith("+++") || line.startsWith("---")
        ? "meta"
        : line.startsWith("@@")
          ? "hunk"
          : line.startsWith("+")
            ? "add"
            : line.startsWith("-")
              ? "del"
              : "ctx";
    return { kind, text: line };
  });
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
