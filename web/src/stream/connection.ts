// One worker's event stream: owns the WebSocket, feeds frames to the reducer,
// saves the resume point, and reconnects with backoff. Everything it touches
// outside itself (socket, timers, storage, randomness, the REST probe) is
// injected, so tests drive it with a fake socket and fake timers.
//
// Reconnect policy:
// - socket dropped after it was open, `retry`, `subscriber_lagged`: reconnect
//   with the last cursor after backoffDelay(attempt); attempt resets on the
//   first frame of a good connection.
// - a cursor diagnostic (`cursor_invalid`/`expired`/`unknown`) or a seq gap:
//   forget the cursor and reconnect for a snapshot.
// - `wait` (runtime_unavailable): stay connected, the server resumes the stream.
// - handshake failed (the socket never opened): the browser does not say why,
//   so ask the REST API about the worker; a typed 404 ends the stream, a 401
//   goes through the token prompt (then the socket is retried with the
//   token). If REST answers for the worker but the socket still failed, the
//   WebSocket route is unusable from here (absent, or an upgrade-stripping
//   proxy): switch to polling the REST events route (poll.ts), same frames.
//   A REST failure that is not final backs off and retries the socket.
// - `worker_stopped` or another fatal diagnostic: stop; the UI offers a
//   manual reconnect.
// - no frame for idleTimeoutMs on an open socket (heartbeats stopped): treat
//   it as dropped.

import { backoffDelay } from "./backoff";
import { isParseFailure, parseFrame } from "./frames";
import { save, restore, type StorageLike } from "./persist";
import { diagnosticStep, reduce, type Action, type ViewState } from "./reducer";

export interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(code?: number, reason?: string): void;
  poke?(): void; // the polling transport: look for events now
}

// What a REST look-up of the worker said after a failed handshake: it is
// there (and whether the access token changed while asking), or a typed error
// and whether it is final.
export type ProbeResult =
  | { ok: true; authChanged: boolean }
  | { ok: false; code: string; message: string; final: boolean };

export interface StreamEnv {
  openSocket(path: string, protocols: string[]): SocketLike;
  // The polling fallback (absent: WebSocket only).
  openPoll?(runtimeId: string, workerId: string, cursor: string | null): SocketLike;
  protocols(): string[];
  storage: StorageLike;
  random(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  probe?(runtimeId: string, workerId: string): Promise<ProbeResult>;
  idleTimeoutMs?: number;
  saveDelayMs?: number;
}

export function eventsPath(runtimeId: string, workerId: string, cursor: string | null): string {
  const base = `/api/runtimes/${encodeURIComponent(runtimeId)}/workers/${encodeURIComponent(workerId)}/events/ws`;
  return cursor === null ? base : `${base}?cursor=${encodeURIComponent(cursor)}`;
}

export class WorkerStream {
  state: ViewState;
  private sock: SocketLike | null = null;
  private attempt = 0;
  private reconnectTimer: unknown = null;
  private idleTimer: unknown = null;
  private saveTimer: unknown = null;
  private stopped = false;
  private transport: "ws" | "poll" = "ws";
  private readonly idleMs: number;
  private readonly saveMs: number;

  constructor(
    readonly runtimeId: string,
    readonly workerId: string,
    private env: StreamEnv,
    private onChange: (s: ViewState) => void,
  ) {
    this.state = restore(env.storage, runtimeId, workerId);
    this.idleMs = env.idleTimeoutMs ?? 60_000;
    this.saveMs = env.saveDelayMs ?? 250;
  }

  start(): void {
    this.stopped = false;
    this.connect(false);
  }

  // Closes the socket for good and writes the resume point now.
  stop(): void {
    this.stopped = true;
    this.clearTimers();
    this.closeSocket();
    this.flush();
  }

  // The user asked to reconnect (after `failed`/`ended`, or impatient).
  reconnectNow(): void {
    if (this.stopped) return;
    this.attempt = 0;
    this.clearTimer("reconnectTimer");
    this.closeSocket();
    this.connect(true);
  }

  // Applies an action to the view (the UI uses it for older transcript
  // pages) and schedules a save of the resume point when it moved.
  dispatch(a: Action): void {
    const next = reduce(this.state, a);
    if (next === this.state) return;
    const cursorMoved = next.cursor !== this.state.cursor || next.seq !== this.state.seq;
    this.state = next;
    if (cursorMoved || a.type === "earlier") this.scheduleSave();
    this.onChange(next);
  }

  // Input was just accepted: a polling transport should look at once.
  poke(): void {
    this.sock?.poke?.();
  }

  flush(): void {
    this.clearTimer("saveTimer");
    save(this.env.storage, this.state);
  }

  private connect(reconnect: boolean): void {
    if (this.stopped) return;
    this.dispatch({ type: "connect", reconnect });
    const sock =
      this.transport === "poll" && this.env.openPoll
        ? this.env.openPoll(this.runtimeId, this.workerId, this.state.cursor)
        : this.env.openSocket(eventsPath(this.runtimeId, this.workerId, this.state.cursor), this.env.protocols());
    this.sock = sock;
    let opened = false;
    sock.onopen = () => {
      if (sock !== this.sock) return;
      opened = true;
      this.dispatch({ type: "open" });
      this.armIdle();
    };
    sock.onmessage = (ev) => {
      if (sock !== this.sock) return;
      this.armIdle();
      this.onFrameText(typeof ev.data === "string" ? ev.data : "");
    };
    sock.onerror = () => {
      /* onclose follows and decides */
    };
    sock.onclose = () => {
      if (sock !== this.sock) return;
      this.sock = null;
      this.clearTimer("idleTimer");
      if (this.stopped || this.state.connection === "ended" || this.state.connection === "failed") return;
      this.dispatch({ type: "dropped" });
      if (opened) this.scheduleReconnect();
      else this.handshakeFailed();
    };
  }

  private onFrameText(text: string): void {
    const parsed = parseFrame(text);
    if (isParseFailure(parsed)) {
      this.dispatch({ type: "bad_frame", error: parsed.error });
      return;
    }
    this.attempt = 0;
    this.dispatch({ type: "frame", frame: parsed });
    if (this.state.needsResync) {
      this.dispatch({ type: "resync_local" });
      this.restart();
      return;
    }
    if (parsed.type === "diagnostic") {
      const step = diagnosticStep(parsed.code, parsed.action);
      if (step === "reconnect" || step === "reconnect_fresh") this.restart();
      else if (step === "close") {
        this.clearTimers();
        this.closeSocket();
        this.flush();
      }
    }
  }

  // Closes the current socket and reconnects after backoff.
  private restart(): void {
    this.closeSocket();
    this.scheduleReconnect();
  }

  private handshakeFailed(): void {
    const probe = this.env.probe;
    if (!probe) {
      this.scheduleReconnect();
      return;
    }
    probe(this.runtimeId, this.workerId).then(
      (r) => {
        if (this.stopped || this.sock) return;
        if (!r.ok && r.final) {
          this.dispatch({ type: "failed", code: r.code, message: r.message });
          this.flush();
          return;
        }
        if (r.ok && !r.authChanged && this.env.openPoll) {
          this.transport = "poll";
          this.dispatch({ type: "transport", transport: "poll" });
        }
        this.scheduleReconnect();
      },
      () => {
        if (!this.stopped && !this.sock) this.scheduleReconnect();
      },
    );
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.clearTimer("reconnectTimer");
    const delay = backoffDelay(this.attempt++, this.env.random);
    this.reconnectTimer = this.env.setTimeout(() => {
      this.reconnectTimer = null;
      this.connect(true);
    }, delay);
  }

  private armIdle(): void {
    this.clearTimer("idleTimer");
    this.idleTimer = this.env.setTimeout(() => {
      this.idleTimer = null;
      if (!this.sock) return;
      this.closeSocket();
      this.dispatch({ type: "dropped" });
      this.scheduleReconnect();
    }, this.idleMs);
  }

  private scheduleSave(): void {
    if (this.saveTimer !== null) return;
    this.saveTimer = this.env.setTimeout(() => {
      this.saveTimer = null;
      save(this.env.storage, this.state);
    }, this.saveMs);
  }

  private closeSocket(): void {
    const s = this.sock;
    this.sock = null;
    this.clearTimer("idleTimer");
    if (s) {
      s.onopen = s.onmessage = s.onclose = s.onerror = null;
      try {
        s.close(1000);
      } catch {
        /* already closed */
      }
    }
  }

  private clearTimer(name: "reconnectTimer" | "idleTimer" | "saveTimer"): void {
    if (this[name] !== null) {
      this.env.clearTimeout(this[name]);
      this[name] = null;
    }
  }

  private clearTimers(): void {
    this.clearTimer("reconnectTimer");
    this.clearTimer("idleTimer");
  }
}
