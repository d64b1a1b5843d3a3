import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { asApiError, type ApiError } from "../api";

export function ErrorBox({ error, onDismiss }: { error: ApiError | { code: string; message: string } | null; onDismiss?: () => void }) {
  if (!error) return null;
  return (
    <div class="error-box" role="alert" data-testid="error">
      <code class="error-code">{error.code}</code>
      <span class="error-message">{error.message || "No message."}</span>
      {onDismiss && (
        <button class="icon-btn" title="Dismiss" aria-label="Dismiss" onClick={onDismiss}>
          ×
        </button>
      )}
    </div>
  );
}

const STATUS_TONE: Record<string, string> = {
  idle: "ok",
  ready: "ok",
  running: "busy",
  awaiting_approval: "ask",
  stopped: "muted",
  unavailable: "bad",
  unreachable: "bad",
  degraded: "warn",
};

// How a status reads (the wire value stays in data-status).
export function statusLabel(status: string): string {
  return status === "awaiting_approval" ? "awaiting approval" : status;
}

export function StatusPill({ status }: { status: string | undefined }) {
  const s = status ?? "unknown";
  return (
    <span class={`pill tone-${STATUS_TONE[s] ?? "warn"}`} data-status={s}>
      <span class="dot" />
      {statusLabel(s)}
    </span>
  );
}

// A worker that waits for a person: a badge that stays visible where the
// status pill is only a dot (the sidebar), with an accessible name.
export function ApprovalBadge({ status }: { status: string | undefined }) {
  if (status !== "awaiting_approval") return null;
  return (
    <span class="badge-approval" role="img" aria-label="Waiting for your approval" title="Waiting for your approval" data-testid="approval-badge">
      !
    </span>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

export function relTime(ms: number | undefined): string {
  if (!ms) return "—";
  const d = Date.now() - ms;
  if (d < 0) return "just now";
  if (d < 60_000) return `${Math.max(1, Math.round(d / 1000))}s ago`;
  if (d < 3_600_000) return `${Math.round(d / 60_000)}m ago`;
  if (d < 86_400_000) return `${Math.round(d / 3_600_000)}h ago`;
  return new Date(ms).toLocaleDateString();
}

// Loads with `fn`, reloads every `pollMs` while mounted (if given) and on
// reload(). Answers that arrive after the inputs changed are dropped.
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[], pollMs?: number) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const gen = useRef(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const reload = useCallback(async () => {
    const g = gen.current;
    try {
      const d = await fnRef.current();
      if (g !== gen.current) return;
      setData(d);
      setError(null);
    } catch (e) {
      if (g === gen.current) setError(asApiError(e));
    } finally {
      if (g === gen.current) setLoading(false);
    }
  }, []);
  useEffect(() => {
    gen.current++;
    setLoading(true);
    reload();
    const t = pollMs ? setInterval(reload, pollMs) : undefined;
    return () => {
      gen.current++;
      if (t) clearInterval(t);
    };
  }, deps);
  return { data, error, loading, reload };
}
