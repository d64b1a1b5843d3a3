// One tool call as a compact card (ARCHITECTURE §12): name, main argument,
// status, duration; expands to the arguments and the output (edit: its diff).
// A running call shows its streamed output (bash's tool_output) live; a call
// awaiting a person (§15) shows what it would do and the answers.
import { useState } from "preact/hooks";
import { asApiError, type ApiError } from "../api";
import { approvalDiff, diffLines, formatDuration, prettyArgs, type ToolCardModel } from "../tools";
import type { ApprovalBody } from "../types";
import { ErrorBox } from "./common";

export type AnswerApproval = (callId: string, body: ApprovalBody) => Promise<unknown>;

const STATUS_LABEL: Record<ToolCardModel["status"], string> = {
  running: "running",
  awaiting_approval: "awaiting approval",
  ok: "ok",
  failed: "failed",
  no_result: "no result",
};

function Diff({ text, testid }: { text: string; testid: string }) {
  return (
    <pre class="tool-output tool-diff" data-testid={testid}>
      {diffLines(text).map((l, i) => (
        <span key={i} class={`diff-${l.kind}`}>
          {l.text}
          {"\n"}
        </span>
      ))}
    </pre>
  );
}

function Output({ card }: { card: ToolCardModel }) {
  if (card.output === "") return <div class="muted tool-none">(no output)</div>;
  if (card.name === "edit" && card.status === "ok") return <Diff text={card.output} testid="tool-diff" />;
  return (
    <pre class="tool-output" data-testid="tool-output">
      {card.output}
    </pre>
  );
}

const DECISION_LABEL: Record<string, string> = { approved: "Approved", denied: "Denied" };

// The decision on a call, once resolved: by whom it is not known, what it was is.
function Resolution({ card }: { card: ToolCardModel }) {
  const r = card.resolution;
  if (!r) return null;
  return (
    <div class={`approval-decision decision-${r.decision}`} data-testid="approval-decision" data-decision={r.decision}>
      {DECISION_LABEL[r.decision] ?? r.decision}
      {r.remember ? " · always allowed from now on" : ""}
      {r.reason ? <span class="muted"> — {r.reason}</span> : null}
    </div>
  );
}

// The question to a person: what the call would do, and the three answers.
// Deny takes an optional reason, which the model is told.
export function ApprovalPanel({ card, onAnswer }: { card: ToolCardModel; onAnswer?: AnswerApproval }) {
  const [reason, setReason] = useState("");
  const [denying, setDenying] = useState(false);
  const [sending, setSending] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const diff = approvalDiff(card.name, card.args);
  const send = async (label: string, body: ApprovalBody) => {
    if (!onAnswer || sending) return;
    setSending(label);
    setError(null);
    try {
      await onAnswer(card.call_id, body);
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setSending(null);
    }
  };
  const what = card.name === "bash" ? "Command" : card.mainArg && card.name !== "glob" && card.name !== "grep" ? "Path" : "Argument";
  return (
    <div class="approval" role="group" aria-label={`Approve ${card.name} call`} data-testid="approval">
      <div class="approval-ask">
        The worker wants to run <code>{card.name}</code>. Nothing happens until you answer.
      </div>
      {card.mainArg && (
        <div class="approval-what">
          <span class="tool-section">{what}</span>
          <pre class="tool-args" data-testid="approval-main">
            {card.mainArg}
          </pre>
        </div>
      )}
      {diff !== null ? (
        <div class="approval-what">
          <span class="tool-section">Change</span>
          <Diff text={diff} testid="approval-diff" />
        </div>
      ) : (
        !card.mainArg && (
          <pre class="tool-args" data-testid="approval-args">
            {prettyArgs(card.args)}
          </pre>
        )
      )}
      {denying && (
        <label class="approval-reason">
          Reason (optional, the model is told)
          <input
            type="text"
            maxLength={2000}
            autoFocus
            value={reason}
            data-testid="approval-reason"
            onInput={(e) => setReason((e.currentTarget as HTMLInputElement).value)}
            onKeyDown={(e) => {
              if (e.key === "Enter") {
                e.preventDefault();
                send("deny", reason.trim() ? { decision: "deny", reason: reason.trim() } : { decision: "deny" });
              }
            }}
          />
        </label>
      )}
      <div class="approval-actions">
        <button class="btn btn-primary" disabled={!!sending || !onAnswer} data-testid="approve" onClick={() => send("approve", { decision: "approve" })}>
          {sending === "approve" ? "Approving…" : "Approve"}
        </button>
        {denying ? (
          <button
            class="btn btn-danger"
            disabled={!!sending || !onAnswer}
            data-testid="deny-confirm"
            onClick={() => send("deny", reason.trim() ? { decision: "deny", reason: reason.trim() } : { decision: "deny" })}
          >
            {sending === "deny" ? "Denying…" : "Deny"}
          </button>
        ) : (
          <button class="btn btn-ghost-danger" disabled={!!sending || !onAnswer} data-testid="deny" onClick={() => setDenying(true)}>
            Deny…
          </button>
        )}
        <button
          class="btn"
          disabled={!!sending || !onAnswer}
          data-testid="always-allow"
          title={`Approve, and allow ${card.name}${card.mainArg ? ` on ${card.mainArg}` : ""} for this worker from now on`}
          onClick={() => send("always", { decision: "approve", remember: true })}
        >
          {sending === "always" ? "Allowing…" : "Always allow"}
        </button>
      </div>
      <ErrorBox error={error} onDismiss={() => setError(null)} />
    </div>
  );
}

export function ToolCard({ card, onAnswer }: { card: ToolCardModel; onAnswer?: AnswerApproval }) {
  const [open, setOpen] = useState(false);
  const status = card.status === "failed" && card.errorCode ? `failed: ${card.errorCode}` : STATUS_LABEL[card.status];
  return (
    <article
      class={`tool-card tool-${card.status}`}
      data-testid="tool-card"
      data-tool={card.name}
      data-call={card.call_id}
      data-status={card.status}
      data-run={card.run_id}
    >
      <button class="tool-head" aria-expanded={open} onClick={() => setOpen(!open)} data-testid="tool-toggle">
        <span class="tool-caret" aria-hidden="true">
          {open ? "▾" : "▸"}
        </span>
        <span class="tool-name">{card.name}</span>
        {card.mainArg && (
          <span class="tool-arg" title={card.mainArg}>
            {card.mainArg}
          </span>
        )}
        <span class={`tag tool-status tag-${card.status}`} data-testid="tool-status">
          {status}
        </span>
        {card.exitCode !== undefined && (
          <span class={`tag tool-exit ${card.exitCode === 0 ? "tag-ok" : "tag-failed"}`} data-testid="tool-exit">
            exit {card.exitCode}
          </span>
        )}
        {card.durationMs !== undefined && <span class="tool-duration muted">{formatDuration(card.durationMs)}</span>}
      </button>
      {card.status === "awaiting_approval" && <ApprovalPanel card={card} onAnswer={onAnswer} />}
      <Resolution card={card} />
      {card.status === "running" && card.output !== "" && !open && (
        <pre class="tool-output tool-live" data-testid="tool-live-output" aria-live="off">
          {card.output}
        </pre>
      )}
      {card.status === "failed" && card.errorMessage && (
        <div class="tool-error" data-testid="tool-error">
          {card.errorMessage}
        </div>
      )}
      {open && (
        <div class="tool-body">
          <div class="tool-section">Arguments</div>
          <pre class="tool-args" data-testid="tool-args">
            {prettyArgs(card.args)}
          </pre>
          {card.status !== "failed" && (
            <>
              <div class="tool-section">
                Output
                {card.exitCode !== undefined && <span class="muted"> · exit {card.exitCode}</span>}
                {card.truncated && <span class="muted"> · truncated</span>}
              </div>
              <Output card={card} />
            </>
          )}
        </div>
      )}
    </article>
  );
}
