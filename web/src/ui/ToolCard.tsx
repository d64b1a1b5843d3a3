// One tool call as a compact card (ARCHITECTURE §12): name, main argument,
// status, duration; expands to the arguments and the output (edit: its diff).
import { useState } from "preact/hooks";
import { diffLines, formatDuration, prettyArgs, type ToolCardModel } from "../tools";

const STATUS_LABEL: Record<ToolCardModel["status"], string> = {
  running: "running",
  awaiting_approval: "awaiting approval",
  ok: "ok",
  failed: "failed",
  no_result: "no result",
};

function Output({ card }: { card: ToolCardModel }) {
  if (card.output === "") return <div class="muted tool-none">(no output)</div>;
  if (card.name === "edit" && card.status === "ok") {
    return (
      <pre class="tool-output tool-diff" data-testid="tool-diff">
        {diffLines(card.output).map((l, i) => (
          <span key={i} class={`diff-${l.kind}`}>
            {l.text}
            {"\n"}
          </span>
        ))}
      </pre>
    );
  }
  return (
    <pre class="tool-output" data-testid="tool-output">
      {card.output}
    </pre>
  );
}

export function ToolCard({ card }: { card: ToolCardModel }) {
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
        {card.durationMs !== undefined && <span class="tool-duration muted">{formatDuration(card.durationMs)}</span>}
      </button>
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
