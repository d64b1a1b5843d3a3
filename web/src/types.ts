// Wire shapes of the browser API (ARCHITECTURE §5-7; runtime/include/yoi/runtime/wire.hpp).
// Field names are the contract. Everything the server may add is optional here,
// and the console renders what is present.

export type WorkerStatus = "idle" | "running" | "awaiting_approval" | "stopped";

export interface Intent {
  kind: "assistant" | "task" | "role" | string;
  objective?: string;
  role?: string;
  purpose?: string;
}

export interface Worker {
  runtime_id: string;
  worker_id: string;
  display_name: string;
  status: WorkerStatus | string;
  intent?: Intent;
  profile?: string;
  capabilities?: string[];
  created_at?: number; // ms since the epoch
  updated_at?: number;
  current_run_id?: string; // while a run is in flight
  run_count?: number;
  last_seq?: number;
  transcript_total?: number;
  // Calls parked on a person's decision (§15), while `awaiting_approval`.
  pending_approvals?: PendingApproval[];
  // What a person chose to always allow (approve + remember), §15.
  remembered_rules?: Array<{ tool: string; pattern?: string; action: string }>;
  [extra: string]: unknown;
}

// A tool call waiting for a person (ARCHITECTURE §15): the worker detail's
// `pending_approvals` and the `approval_requested` event carry it.
export interface PendingApproval {
  call_id: string;
  name: string;
  arguments: unknown;
  run_id?: string;
  rule?: { tool: string; pattern?: string; action: string; source?: string }; // the rule that said `ask`
  requested_at?: number;
}

export type ApprovalDecision = "approve" | "deny";
// POST …/approvals/{call_id}
export interface ApprovalBody {
  decision: ApprovalDecision;
  reason?: string;
  remember?: boolean;
}
// What `approval_resolved` says about a call.
export interface ApprovalResolution {
  decision: "approved" | "denied" | string;
  reason?: string;
  remember?: boolean;
}

export interface WorkerList {
  workers: Worker[];
  next?: string;
  // GET /api/workers: one entry per runtime: listed (`ok`), its own page
  // token, or why not (a list never fails because one runtime is down).
  runtimes?: Array<{ runtime_id: string; ok: boolean; next?: string; error?: { code: string; message: string } }>;
}

// A row of GET /api/runtimes: the runtime's summary (absent until it has
// answered once) and the backend's view of it.
export interface RuntimeSummary {
  runtime_id: string;
  display_name?: string;
  kind?: "embedded" | "remote" | string;
  status?: string; // ready | unreachable | timeout | auth_failed | bad_response | unknown
  last_seen?: number; // ms since the epoch
  diagnostic?: { code: string; message: string };
  epoch?: string;
  version?: string;
  store?: string;
  workers?: Record<string, number>; // counts: total, idle, running, awaiting_approval, stopped
  limits?: Record<string, number>;
  capabilities?: string[];
  profiles?: string[];
  bundles?: string[]; // digests of the config bundles it holds
  workspaces?: { name: string; access: string }[]; // what it lends (never a path)
  [extra: string]: unknown;
}

// A tool call as the transcript and the events carry it (ARCHITECTURE §12).
// `arguments` is a JSON object; a server that passes the model's text keeps
// it a string, and the console shows what it can.
export interface ToolCallItem {
  call_id: string;
  name: string;
  arguments: unknown;
}

export interface ToolError {
  code: string;
  message: string;
}

export interface TranscriptItem {
  index?: number;
  seq?: number;
  role: "user" | "assistant" | "tool" | string;
  content: string;
  run_id: string;
  result?: "completed" | "cancelled" | "failed" | string;
  time?: number; // ms since the epoch
  // A failed run's error: from the server's item, or from run_finished live.
  // On a `tool` item: the tool's typed error, when the server (or the live
  // tool_result) says it.
  error?: ToolError;
  // assistant: the calls this step made (§12).
  tool_calls?: ToolCallItem[];
  // tool: the result of one call.
  call_id?: string;
  name?: string;
  ok?: boolean;
  truncated?: boolean;
  exit_code?: number;
  duration_ms?: number;
}

// A call of the in-flight step that has no result yet (snapshot in_flight).
export interface PendingCall extends ToolCallItem {
  state: "running" | "awaiting_approval" | string;
}

export interface InFlightPart {
  run_id: string;
  text: string;
  step?: number;
  calls?: PendingCall[];
}

export interface TranscriptPage {
  items: TranscriptItem[];
  total: number;
  next?: number;
}

export interface InputAccepted {
  accepted: boolean;
  run_id: string;
  seq: number;
  client_message_id?: string;
  duplicate?: boolean;
}

export interface CancelResult {
  cancelled: boolean;
  run_id?: string;
  status: string;
}

export interface CreateWorkerBody {
  worker_id?: string;
  display_name?: string;
  intent?: Intent;
  profile?: string;
  workspace_refs?: { name: string; access: "read" | "write" }[];
}

// One of yoi-server's own profiles (GET /api/profiles).
export interface ServerProfile {
  name: string;
  engine?: string;
  model?: string;
  tools?: string[];
  description?: string;
}

// ---- event objects (inside `event` frames) ----
interface EventBase { seq: number; time?: number }
export type WorkerEvent =
  | (EventBase & { type: "worker_created"; worker: Worker })
  | (EventBase & { type: "status"; status: string; previous?: string })
  | (EventBase & { type: "input_accepted"; run_id: string; content: string; client_message_id?: string })
  | (EventBase & { type: "run_started"; run_id: string; profile?: string })
  | (EventBase & { type: "text_delta"; run_id: string; delta: string })
  | (EventBase & { type: "text_done"; run_id: string; text: string; step?: number })
  | (EventBase & { type: "tool_call"; run_id: string; step?: number; call_id: string; name: string; arguments: unknown })
  | (EventBase & { type: "tool_output"; run_id: string; call_id: string; stream: "stdout" | "stderr" | string; delta: string })
  | (EventBase & {
      type: "tool_result";
      run_id: string;
      call_id: string;
      name: string;
      ok: boolean;
      output: string;
      truncated?: boolean;
      error?: ToolError;
      exit_code?: number;
      duration_ms?: number;
    })
  // arguments: the model's JSON text (as the runtime sends it) or an object.
  | (EventBase & {
      type: "approval_requested";
      run_id: string;
      call_id: string;
      name: string;
      arguments: unknown;
      rule?: { tool: string; pattern?: string; action: string; source?: string };
    })
  | (EventBase & { type: "approval_resolved"; run_id: string; call_id: string } & ApprovalResolution)
  | (EventBase & { type: "usage"; run_id: string; step?: number; input_tokens: number; output_tokens: number })
  | (EventBase & {
      type: "run_finished";
      run_id: string;
      result: "completed" | "cancelled" | "failed" | string;
      error?: { code: string; message: string };
      reason?: string;
      steps?: number;
    })
  | (EventBase & { type: "worker_stopped"; reason?: string })
  // Unknown types are tolerated (the log may grow new ones) and only advance seq.
  | (EventBase & { type: "__unknown"; original: string });

// ---- stream frames ----
export type DiagnosticAction = "resync" | "wait" | "retry" | "fatal";

export interface SnapshotFrame {
  type: "snapshot";
  cursor: string;
  seq: number;
  runtime_id: string;
  worker_id: string;
  worker: Worker;
  transcript_tail: TranscriptItem[];
  in_flight: InFlightPart | null;
}
export interface EventFrame {
  type: "event";
  cursor: string;
  seq: number;
  runtime_id: string;
  worker_id: string;
  event: WorkerEvent;
}
export interface DiagnosticFrame {
  type: "diagnostic";
  code: string;
  message: string;
  action: DiagnosticAction;
}
export interface HeartbeatFrame {
  type: "heartbeat";
  cursor: string;
  seq: number;
}
export type Frame = SnapshotFrame | EventFrame | DiagnosticFrame | HeartbeatFrame;
