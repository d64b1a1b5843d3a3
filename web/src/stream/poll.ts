// A fallback transport for when the event WebSocket cannot be opened but the
// REST API works (a server without the WS route yet, or a proxy that strips
// upgrades): it polls `GET …/events?after=<cursor>` (every 150 ms while
// events come, every second when idle, at once when poked after input, at
// once again while pages come back full) and presents the pages as
// the same stream frames, so the reducer, the cursor and the de-duplication
// by seq are exactly those of the WebSocket path.
//
// Without a cursor there is no snapshot to start from; it emits an empty
// snapshot at seq 0 and replays the log from the oldest retained event, which
// rebuilds the view (worker_created, inputs, replies, the in-flight text).
// After a `worker_stopped` event it ends the stream as the WS would.

import { CURSOR_CODES, NO_WORKER_CODES, RUNTIME_DOWN_CODES } from "../codes";
import type { SocketLike } from "./connection";

export interface EventsPage {
  events: Array<{ cursor: string; seq: number; event: { type: string; [k: string]: unknown } }>;
  cursor: string;
  last_seq?: number;
}

// A failure the server typed (code) or not (code undefined: transport).
export interface PollError {
  code?: string;
  message: string;
}

export interface PollEnv {
  fetchEvents(runtimeId: string, workerId: string, after: string | null): Promise<EventsPage>;
  fetchWorker(runtimeId: string, workerId: string): Promise<{ runtime_id: string; worker_id: string; status: string; [k: string]: unknown }>;
  asError(e: unknown): PollError;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  activeMs?: number; // next poll after a page with events (a run is likely going on)
  idleMs?: number; // next poll after an empty page
}

export class PollingSocket implements SocketLike {
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  private closed = false;
  private unavailable = false;
  private timer: unknown = null;
  private inFlight = false; // a request is out
  private readonly activeMs: number;
  private readonly idleMs: number;

  constructor(
    private runtimeId: string,
    private workerId: string,
    private cursor: string | null,
    private env: PollEnv,
  ) {
    this.activeMs = env.activeMs ?? 150;
    this.idleMs = env.idleMs ?? 1000;
    this.timer = env.setTimeout(() => void this.begin(), 0);
  }

  // Something probably happened (the user sent input): poll now instead of
  // at the end of an idle interval.
  poke(): void {
    if (this.closed || this.inFlight || this.cursor === null || this.timer === null) return;
    this.env.clearTimeout(this.timer);
    this.timer = this.env.setTimeout(() => void this.poll(), 0);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) this.env.clearTimeout(this.timer);
    this.timer = null;
  }

  private emit(frame: object): void {
    if (!this.closed) this.onmessage?.({ data: JSON.stringify(frame) });
  }

  private drop(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.({ code: 1006 });
  }

  private async begin(): Promise<void> {
    this.timer = null;
    if (this.closed) return;
    if (this.cursor === null) {
      let worker;
      try {
        worker = await this.env.fetchWorker(this.runtimeId, this.workerId);
      } catch (e) {
        this.fail(this.env.asError(e));
        return;
      }
      if (this.closed) return;
      this.onopen?.({});
      // The replay rebuilds the transcript from the log, so the current
      // transcript_total must not number its items.
      delete (worker as { transcript_total?: unknown }).transcript_total;
      this.emit({
        type: "snapshot",
        cursor: "",
        seq: 0,
        runtime_id: this.runtimeId,
        worker_id: this.workerId,
        worker,
        transcript_tail: [],
        in_flight: null,
      });
      this.cursor = "";
    } else {
      this.onopen?.({});
    }
    void this.poll();
  }

  private async poll(): Promise<void> {
    this.timer = null;
    if (this.closed) return;
    let page: EventsPage;
    this.inFlight = true;
    try {
      page = await this.env.fetchEvents(this.runtimeId, this.workerId, this.cursor || null);
    } catch (e) {
      this.fail(this.env.asError(e));
      return;
    } finally {
      this.inFlight = false;
    }
    if (this.closed) return;
    if (this.unavailable) {
      this.unavailable = false;
      this.emit({ type: "diagnostic", code: "runtime_recovered", message: "The runtime answers again.", action: "wait" });
    }
    let stopped = false;
    for (const ev of page.events) {
      this.emit({ type: "event", cursor: ev.cursor, seq: ev.seq, runtime_id: this.runtimeId, worker_id: this.workerId, event: ev.event });
      if (ev.event.type === "worker_stopped") stopped = true;
    }
    if (typeof page.cursor === "string" && page.cursor) this.cursor = page.cursor;
    if (page.events.length === 0 && typeof page.last_seq === "number") {
      this.emit({ type: "heartbeat", cursor: this.cursor, seq: page.last_seq });
    }
    if (stopped) {
      this.emit({ type: "diagnostic", code: "worker_stopped", message: "The worker is stopped.", action: "fatal" });
      return;
    }
    // A full page means more is waiting: ask again at once.
    const more = typeof page.last_seq === "number" && page.events.length > 0 && page.events[page.events.length - 1].seq < page.last_seq;
    this.timer = this.env.setTimeout(() => void this.poll(), more ? 0 : page.events.length ? this.activeMs : this.idleMs);
  }

  private fail(e: PollError): void {
    if (this.closed) return;
    if (e.code && (CURSOR_CODES.has(e.code) || NO_WORKER_CODES.has(e.code))) {
      this.emit({ type: "diagnostic", code: e.code, message: e.message, action: "fatal" });
      return;
    }
    if (e.code && RUNTIME_DOWN_CODES.has(e.code)) {
      // The backend is there, the runtime is not: like the WS `wait`.
      this.unavailable = true;
      this.emit({ type: "diagnostic", code: "runtime_unavailable", message: e.message, action: "wait" });
      this.timer = this.env.setTimeout(() => void this.poll(), Math.max(this.idleMs, 2000));
      return;
    }
    this.drop(); // network or unknown: the stream reconnects with backoff
  }
}
