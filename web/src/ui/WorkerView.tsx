import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { asApiError, type ApiError } from "../api";
import { NO_WORKER_CODES } from "../codes";
import { workersHref } from "../router";
import { api, newClientMessageId, streamEnv } from "../services";
import { WorkerStream } from "../stream/connection";
import { isAwaitingApproval, isBusy, missingWorker, pendingApprovals, type Connection, type Diagnostic, type ViewState } from "../stream/reducer";
import { transcriptEntries } from "../tools";
import { resultMark } from "../transcript";
import type { TranscriptItem } from "../types";
import { ErrorBox, StatusPill } from "./common";
import { DeleteWorkerButton } from "./DeleteWorker";
import { ToolCard, type AnswerApproval } from "./ToolCard";

const CONN_LABEL: Record<Connection, string> = {
  connecting: "connecting",
  live: "live",
  reconnecting: "reconnecting",
  unavailable: "runtime unavailable",
  resynced: "resynced",
  ended: "stream ended",
  failed: "disconnected",
};

const CONN_HINT: Record<Connection, string> = {
  connecting: "Opening the event stream.",
  live: "Receiving events as they happen.",
  reconnecting: "The connection dropped; reconnecting from the last position.",
  unavailable: "The backend lost this worker's runtime and keeps retrying; the stream resumes when it is back.",
  resynced: "The stream could not continue from the last position; the view was reloaded from a snapshot.",
  ended: "The worker is stopped; no more events will come.",
  failed: "The stream cannot continue. Use Reconnect to try again.",
};

export function ConnectionIndicator({ connection, transport }: { connection: Connection; transport: "ws" | "poll" }) {
  const poll = transport === "poll";
  const hint = CONN_HINT[connection] + (poll ? " The event WebSocket is not available here; polling the events API instead." : "");
  return (
    <span class={`conn conn-${connection}`} title={hint} data-testid="connection" data-connection={connection} data-transport={transport}>
      <span class="dot" />
      {CONN_LABEL[connection]}
      {poll && <span class="muted"> · polling</span>}
    </span>
  );
}

// Long messages are folded so a pasted document does not bury the conversation.
const FOLD_CHARS = 1500;

function Message({ item }: { item: TranscriptItem }) {
  const user = item.role === "user";
  const [open, setOpen] = useState(false);
  const long = item.content.length > FOLD_CHARS;
  const mark = resultMark(item);
  return (
    <article class={`msg ${user ? "msg-user" : "msg-assistant"}`} data-role={item.role} data-run={item.run_id}>
      <header class="msg-head">
        <span class="msg-role">{user ? "You" : item.role === "assistant" ? "Worker" : item.role}</span>
        {mark && (
          <span class={`tag tag-${item.result}`} data-testid="result-mark">
            {mark}
          </span>
        )}
      </header>
      <div class={`msg-body ${long && !open ? "folded" : ""}`} data-testid={user ? "user-text" : "assistant-text"}>
        {item.content || (item.result === "completed" ? "" : <span class="muted">(no text)</span>)}
      </div>
      {long && (
        <button class="link fold" onClick={() => setOpen(!open)}>
          {open ? "Show less" : `Show all (${item.content.length.toLocaleString()} characters)`}
        </button>
      )}
      {item.error && <ErrorBox error={item.error} />}
    </article>
  );
}

export function WorkerView({ runtimeId, workerId }: { runtimeId: string; workerId: string }) {
  const [state, setState] = useState<ViewState | null>(null);
  const streamRef = useRef<WorkerStream | null>(null);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    const s = new WorkerStream(runtimeId, workerId, streamEnv(), setState);
    streamRef.current = s;
    (window as unknown as { __yoiStream?: WorkerStream }).__yoiStream = s;
    setState(s.state);
    setActionError(null);
    setNotice(null);
    s.start();
    const flush = () => s.flush();
    window.addEventListener("pagehide", flush);
    return () => {
      window.removeEventListener("pagehide", flush);
      s.stop();
      streamRef.current = null;
    };
  }, [runtimeId, workerId]);

  // What was always allowed lives in the detail, which no event carries:
  // read it when the view opens and after each "always allow".
  const remembered = state ? Object.values(state.resolutions).filter((r) => r.remember).length : 0;
  const haveWorker = state?.worker != null;
  useEffect(() => {
    if (!haveWorker) return;
    let live = true;
    api.getWorker(runtimeId, workerId).then(
      (w) => live && streamRef.current?.dispatch({ type: "detail", worker: w }),
      () => {}, // the stream reports what is wrong with the worker
    );
    return () => {
      live = false;
    };
  }, [runtimeId, workerId, remembered, haveWorker]);

  const title = state?.worker?.display_name || workerId;
  useEffect(() => {
    document.title = `${title} · yoi`;
    return () => {
      document.title = "yoi console";
    };
  }, [title]);

  if (!state) return null;
  // Unknown or deleted (the stream gave up on it, or an action was told so):
  // nothing to message, stop or cancel.
  const missing = missingWorker(state) ?? (actionError && NO_WORKER_CODES.has(actionError.code) ? actionError : null);
  if (missing) return <WorkerNotFound runtimeId={runtimeId} workerId={workerId} error={missing} />;
  const w = state.worker;
  const stopped = w?.status === "stopped";
  const busy = isBusy(state);
  const awaiting = isAwaitingApproval(state);

  // The card's answer; the stream's approval_resolved then updates the view.
  const answer: AnswerApproval = async (callId, body) => {
    const r = await api.approve(runtimeId, workerId, callId, body);
    streamRef.current?.poke();
    return r;
  };

  const cancel = async () => {
    setActionError(null);
    try {
      const r = await api.cancel(runtimeId, workerId);
      setNotice(r.cancelled ? "Run cancelled." : "Nothing was running.");
    } catch (e) {
      setActionError(asApiError(e));
    }
  };

  const stop = async () => {
    setActionError(null);
    try {
      await api.stop(runtimeId, workerId);
      setNotice("Worker stopped.");
    } catch (e) {
      setActionError(asApiError(e));
    }
  };

  return (
    <section class="worker-view">
      <header class="wv-head">
        <div class="wv-title">
          <a class="back" href={workersHref()}>
            ← Workers
          </a>
          <h1 data-testid="worker-title">{w?.display_name || workerId}</h1>
          <div class="ids mono">
            <span title={`runtime id ${runtimeId}`}>{runtimeId}</span>
            <span class="sep">/</span>
            <span title={`worker id ${workerId}`}>{workerId}</span>
          </div>
        </div>
        <div class="wv-actions">
          <StatusPill status={w?.status} />
          <ConnectionIndicator connection={state.connection} transport={state.transport} />
          {state.connection === "failed" && (
            <button class="btn btn-ghost" onClick={() => streamRef.current?.reconnectNow()}>
              Reconnect
            </button>
          )}
          {!stopped && (
            <button class="btn" onClick={cancel} disabled={!busy} title="Cancel the run in flight (Esc)" data-testid="cancel">
              Cancel run
            </button>
          )}
          {!stopped && <StopButton onStop={stop} />}
          <DeleteWorkerButton runtimeId={runtimeId} workerId={workerId} stopped={stopped} onError={setActionError} />
        </div>
      </header>
      <WorkerMeta state={state} />
      {stopped && (
        <div class="diag diag-stopped" data-testid="stopped-note">
          This worker is stopped: its transcript stays readable, but it takes no more input and has nothing to cancel.
        </div>
      )}
      {state.diagnostic && state.diagnostic.code !== "worker_stopped" && (
        <div class={`diag diag-${state.diagnostic.code === "runtime_recovered" ? "ok" : state.diagnostic.action}`} data-testid="diagnostic">
          <code>{state.diagnostic.code}</code> {state.diagnostic.message}
        </div>
      )}
      <Transcript state={state} stream={streamRef.current} onError={setActionError} onAnswer={answer} />
      <div class="wv-foot">
        <ErrorBox error={actionError} onDismiss={() => setActionError(null)} />
        {notice && !actionError && (
          <div class="notice" onClick={() => setNotice(null)}>
            {notice}
          </div>
        )}
        <Composer
          runtimeId={runtimeId}
          workerId={workerId}
          appliedSeq={state.seq}
          busy={busy}
          awaiting={awaiting}
          stopped={stopped}
          onCancel={cancel}
          onError={setActionError}
          onSent={() => {
            setActionError(null);
            setNotice(null);
            streamRef.current?.poke();
          }}
        />
      </div>
    </section>
  );
}

function WorkerNotFound({ runtimeId, workerId, error }: { runtimeId: string; workerId: string; error: Diagnostic | ApiError }) {
  return (
    <section class="page not-found" data-testid="worker-not-found">
      <h1>Worker not found</h1>
      <p class="sub">
        There is no worker <code>{workerId}</code> on runtime <code>{runtimeId}</code>. It may have been deleted, or the link is wrong.
      </p>
      <ErrorBox error={error} />
      <div>
        <a class="btn" href={workersHref()} data-testid="back-to-workers">
          ← Back to workers
        </a>
      </div>
    </section>
  );
}

function WorkerMeta({ state }: { state: ViewState }) {
  const w = state.worker;
  if (!w) return null;
  const intent = w.intent;
  return (
    <div class="wv-meta">
      {intent && (
        <span>
          <span class="k">intent</span> {intent.kind}
          {intent.objective ? ` — ${intent.objective}` : ""}
          {intent.role ? ` — ${intent.role}` : ""}
        </span>
      )}
      {w.profile && (
        <span>
          <span class="k">profile</span> {w.profile}
        </span>
      )}
      {Array.isArray(w.remembered_rules) && w.remembered_rules.length > 0 && (
        <span data-testid="remembered-rules" title="Calls a person chose to always allow for this worker">
          <span class="k">always allowed</span>{" "}
          {w.remembered_rules
            .slice(0, 5)
            .map((r) => `${r.tool}${r.pattern ? ` ${r.pattern}` : ""}`)
            .join(", ")}
          {w.remembered_rules.length > 5 ? ` and ${w.remembered_rules.length - 5} more` : ""}
        </span>
      )}
      {state.usage && (
        <span title={`run ${state.usage.run_id}`}>
          <span class="k">last run</span> {state.usage.input_tokens} in · {state.usage.output_tokens} out tokens
        </span>
      )}
    </div>
  );
}

function StopButton({ onStop }: { onStop: () => void }) {
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    if (!armed) return;
    const t = setTimeout(() => setArmed(false), 4000);
    return () => clearTimeout(t);
  }, [armed]);
  return (
    <button
      class={`btn ${armed ? "btn-danger" : "btn-ghost-danger"}`}
      data-testid="stop"
      title="End this worker for good"
      onClick={() => {
        if (armed) {
          setArmed(false);
          onStop();
        } else setArmed(true);
      }}
    >
      {armed ? "Confirm stop" : "Stop worker"}
    </button>
  );
}

function Transcript({
  state,
  stream,
  onError,
  onAnswer,
}: {
  state: ViewState;
  stream: WorkerStream | null;
  onError: (e: ApiError) => void;
  onAnswer: AnswerApproval;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const [loadingEarlier, setLoadingEarlier] = useState(false);

  useLayoutEffect(() => {
    const el = ref.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [state.items, state.inFlight]);

  // The pane also shrinks (notices, errors below it): stay at the bottom then too.
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(() => {
      if (stick.current) el.scrollTop = el.scrollHeight;
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const first = state.items[0]?.index;
  const canLoadEarlier = typeof first === "number" && first > 0;
  const loadEarlier = async () => {
    if (!stream || typeof first !== "number") return;
    setLoadingEarlier(true);
    try {
      const start = Math.max(0, first - 50);
      const page = await api.transcript(state.runtimeId, state.workerId, start, first - start);
      const el = ref.current;
      const fromBottom = el ? el.scrollHeight - el.scrollTop : 0;
      stream.dispatch({ type: "earlier", items: page.items });
      // keep the reader's place
      requestAnimationFrame(() => {
        if (el) el.scrollTop = el.scrollHeight - fromBottom;
      });
    } catch (e) {
      onError(asApiError(e));
    } finally {
      setLoadingEarlier(false);
    }
  };

  const empty = state.items.length === 0 && !state.inFlight;
  return (
    <div
      class="transcript"
      role="log"
      aria-live="polite"
      ref={ref}
      data-testid="transcript"
      onScroll={(e) => {
        const el = e.currentTarget as HTMLDivElement;
        stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
      }}
    >
      <div class="transcript-inner">
        {canLoadEarlier && (
          <button class="btn btn-ghost load-earlier" onClick={loadEarlier} disabled={loadingEarlier}>
            {loadingEarlier ? "Loading…" : `Load earlier messages (${first} more)`}
          </button>
        )}
        {empty && (
          <div class="empty">
            {state.connection === "connecting" ? "Loading…" : "No messages yet. Say something to start a run."}
          </div>
        )}
        {transcriptEntries(state.items, state.inFlight, { pending: pendingApprovals(state.worker), resolutions: state.resolutions }).map((e, i) =>
          e.kind === "tool" ? (
            <ToolCard key={`tool-${e.card.call_id || i}`} card={e.card} onAnswer={onAnswer} />
          ) : (
            <Message key={`${e.item.index ?? "x"}-${e.item.seq ?? i}-${e.item.role}-${e.item.run_id}`} item={e.item} />
          ),
        )}
        {state.inFlight && (state.inFlight.text !== "" || state.inFlight.calls.length === 0) && (
          <article class="msg msg-assistant msg-streaming" data-role="assistant" data-testid="in-flight" data-run={state.inFlight.run_id}>
            <header class="msg-head">
              <span class="msg-role">Worker</span>
              <span class="tag tag-running">writing…</span>
            </header>
            <div class="msg-body" data-testid="assistant-text">
              {state.inFlight.text}
              <span class="caret" />
            </div>
          </article>
        )}
      </div>
    </div>
  );
}

function Composer(props: {
  runtimeId: string;
  workerId: string;
  appliedSeq: number;
  busy: boolean;
  awaiting: boolean;
  stopped: boolean;
  onCancel: () => void;
  onError: (e: ApiError) => void;
  onSent: () => void;
}) {
  const { runtimeId, workerId, busy, awaiting, stopped } = props;
  const [text, setText] = useState("");
  const [sending, setSending] = useState(false);
  // A message that failed to send keeps its client_message_id, so sending it
  // again after e.g. a network error can never start a second run.
  const pending = useRef<{ content: string; id: string } | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  // After the server accepted a message, stay busy until the stream has
  // delivered that acceptance (its seq), so the composer does not flicker
  // back on between the POST and the run's first events. Bounded in time in
  // case the stream is elsewhere (reconnecting, resynced to another epoch).
  const [waitSeq, setWaitSeq] = useState<number | null>(null);
  useEffect(() => {
    if (waitSeq === null) return;
    if (props.appliedSeq >= waitSeq) {
      setWaitSeq(null);
      return;
    }
    const t = setTimeout(() => setWaitSeq(null), 5000);
    return () => clearTimeout(t);
  }, [waitSeq, props.appliedSeq]);
  const disabled = busy || stopped || sending || waitSeq !== null;

  // Escape cancels the run wherever the focus is (the textarea is disabled
  // while a run is in flight, so it cannot receive the key itself). Not while
  // the run waits for a person: cancel would deny every pending call, which
  // only the Cancel button (or the card's Deny) may do.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && busy && !awaiting && !stopped) {
        e.preventDefault();
        props.onCancel();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [busy, awaiting, stopped, props.onCancel]);

  useEffect(() => {
    if (!disabled) area.current?.focus();
  }, [disabled]);

  const send = async () => {
    const content = text;
    if (!content.trim() || disabled) return;
    const id = pending.current && pending.current.content === content ? pending.current.id : newClientMessageId();
    pending.current = { content, id };
    setSending(true);
    try {
      const accepted = await api.input(runtimeId, workerId, content, id);
      pending.current = null;
      if (typeof accepted.seq === "number" && accepted.seq > props.appliedSeq) setWaitSeq(accepted.seq);
      setText("");
      props.onSent();
    } catch (e) {
      props.onError(asApiError(e));
    } finally {
      setSending(false);
    }
  };

  const placeholder = stopped
    ? "This worker is stopped."
    : awaiting
      ? "Waiting for your approval — answer the card above"
      : busy
      ? "Worker is busy — Esc cancels the run"
      : "Message the worker — Enter sends, Shift+Enter for a new line";

  return (
    <form
      class={`composer ${busy ? "is-busy" : ""}`}
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <textarea
        ref={area}
        data-testid="composer"
        rows={3}
        value={text}
        disabled={disabled}
        placeholder={placeholder}
        onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            send();
          }
        }}
      />
      <div class="composer-bar">
        <span class="hint">
          {awaiting ? (
            <span class="awaiting" data-testid="composer-awaiting">
              A tool call waits for your approval: answer it on its card. Input is refused until then (new input is never consent).
            </span>
          ) : busy ? (
            <span class="busy">
              <span class="spinner" /> Running — <kbd>Esc</kbd> cancels
            </span>
          ) : stopped ? (
            "Stopped workers take no input."
          ) : (
            <>
              <kbd>Enter</kbd> send · <kbd>Shift</kbd>+<kbd>Enter</kbd> new line
            </>
          )}
        </span>
        <button class="btn btn-primary" type="submit" disabled={disabled || !text.trim()} data-testid="send">
          {sending ? "Sending…" : "Send"}
        </button>
      </div>
    </form>
  );
}
