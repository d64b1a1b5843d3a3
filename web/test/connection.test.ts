import { describe, expect, it } from "vitest";
import { eventsPath, WorkerStream, type ProbeResult, type SocketLike, type StreamEnv } from "../src/stream/connection";
import { MemoryStorage } from "../src/stream/persist";
import { visibleText, type ViewState } from "../src/stream/reducer";

class FakeSocket implements SocketLike {
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  closedByClient = false;
  constructor(
    readonly path: string,
    readonly protocols: string[],
  ) {}
  close(): void {
    this.closedByClient = true;
  }
  open() {
    this.onopen?.({});
  }
  send(frame: object) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop() {
    this.onclose?.({ code: 1006 });
  }
}

// Deterministic timers: advance() runs what is due, in order.
class Clock {
  now = 0;
  private seq = 0;
  timers = new Map<number, { at: number; fn: () => void }>();
  setTimeout = (fn: () => void, ms: number) => {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  };
  clearTimeout = (id: unknown) => {
    this.timers.delete(id as number);
  };
  advance(ms: number) {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = end;
  }
}

const R = "rt";
const W = "w-1";
const worker = (status = "idle") => ({ runtime_id: R, worker_id: W, display_name: "W", status });
const snapshot = (seq: number, extra: object = {}) => ({
  type: "snapshot",
  cursor: `c${seq}`,
  seq,
  runtime_id: R,
  worker_id: W,
  worker: worker(),
  transcript_tail: [],
  in_flight: null,
  ...extra,
});
const event = (seq: number, e: object) => ({ type: "event", cursor: `c${seq}`, seq, runtime_id: R, worker_id: W, event: { seq, ...e } });

function setup(opts: { storage?: MemoryStorage; probe?: (r: string, w: string) => Promise<ProbeResult> } = {}) {
  const clock = new Clock();
  const sockets: FakeSocket[] = [];
  const storage = opts.storage ?? new MemoryStorage();
  const states: ViewState[] = [];
  const env: StreamEnv = {
    openSocket: (path, protocols) => {
      const s = new FakeSocket(path, protocols);
      sockets.push(s);
      return s;
    },
    protocols: () => ["yoi.v1", "yoi-token.t"],
    storage,
    random: () => 0.5,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    probe: opts.probe,
    idleTimeoutMs: 30_000,
    saveDelayMs: 100,
  };
  const stream = new WorkerStream(R, W, env, (s) => states.push(s));
  const last = () => sockets[sockets.length - 1];
  return { clock, sockets, storage, stream, states, last };
}

describe("WorkerStream", () => {
  it("connects without a cursor first, then resumes with the last cursor after a drop", () => {
    const t = setup();
    t.stream.start();
    expect(t.last().path).toBe(`/api/runtimes/rt/workers/w-1/events/ws`);
    expect(t.last().protocols).toEqual(["yoi.v1", "yoi-token.t"]);
    t.last().open();
    t.last().send(snapshot(1));
    t.last().send(event(2, { type: "input_accepted", run_id: "r1", content: "hi" }));
    t.last().send(event(3, { type: "run_started", run_id: "r1" }));
    t.last().send(event(4, { type: "text_delta", run_id: "r1", delta: "ec" }));
    expect(t.stream.state.connection).toBe("live");

    t.last().drop();
    expect(t.stream.state.connection).toBe("reconnecting");
    expect(t.sockets.length).toBe(1);
    t.clock.advance(374); // backoffDelay(0, 0.5) = 375
    expect(t.sockets.length).toBe(1);
    t.clock.advance(1);
    expect(t.sockets.length).toBe(2);
    expect(t.last().path).toBe(`/api/runtimes/rt/workers/w-1/events/ws?cursor=c4`);
    t.last().open();
    expect(t.stream.state.connection).toBe("live");
    // the server re-delivers seq 4 (at least once), then continues
    t.last().send(event(4, { type: "text_delta", run_id: "r1", delta: "ec" }));
    t.last().send(event(5, { type: "text_delta", run_id: "r1", delta: "ho" }));
    expect(visibleText(t.stream.state)).toEqual(["user:hi", "assistant*:echo"]);
  });

  it("backs off exponentially while connections keep failing and resets after a frame", () => {
    const t = setup();
    t.stream.start();
    t.last().open();
    t.last().send(snapshot(1));
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = t.clock.now;
      t.last().onopen = t.last().onopen; // keep handlers
      t.last().drop();
      const n = t.sockets.length;
      while (t.sockets.length === n) t.clock.advance(1);
      delays.push(t.clock.now - before);
      t.last().open(); // open but no frame: not a good connection yet
    }
    expect(delays).toEqual([375, 750, 1500, 3000]);
    t.last().send({ type: "heartbeat", cursor: "c1", seq: 1 });
    const before = t.clock.now;
    t.last().drop();
    const n = t.sockets.length;
    while (t.sockets.length === n) t.clock.advance(1);
    expect(t.clock.now - before).toBe(375);
  });

  it("resumes after a page reload from the saved cursor with no duplicated and no missing text", () => {
    const storage = new MemoryStorage();
    const a = setup({ storage });
    a.stream.start();
    a.last().open();
    a.last().send(snapshot(1));
    a.last().send(event(2, { type: "input_accepted", run_id: "r1", content: "hi" }));
    a.last().send(event(3, { type: "run_started", run_id: "r1" }));
    a.last().send(event(4, { type: "text_delta", run_id: "r1", delta: "par" }));
    a.clock.advance(100); // the throttled save
    a.last().send(event(5, { type: "text_delta", run_id: "r1", delta: "ti" })); // not saved yet: reload now
    // reload: a new page, same session storage
    const b = setup({ storage });
    expect(b.stream.state.cursor).toBe("c4");
    b.stream.start();
    expect(b.last().path).toContain("?cursor=c4");
    b.last().open();
    // the server sends everything after c4
    b.last().send(event(5, { type: "text_delta", run_id: "r1", delta: "ti" }));
    b.last().send(event(6, { type: "text_delta", run_id: "r1", delta: "al" }));
    b.last().send(event(7, { type: "run_finished", run_id: "r1", result: "completed" }));
    expect(visibleText(b.stream.state)).toEqual(["user:hi", "assistant:partial"]);
    expect(b.stream.state.connection).toBe("live");
  });

  it("stop() writes the resume point immediately", () => {
    const storage = new MemoryStorage();
    const a = setup({ storage });
    a.stream.start();
    a.last().open();
    a.last().send(snapshot(1));
    a.last().send(event(2, { type: "status", status: "running" }));
    a.stream.stop();
    expect(a.last().closedByClient).toBe(true);
    expect(setup({ storage }).stream.state.cursor).toBe("c2");
  });

  it("a cursor diagnostic drops the cursor and reconnects for a snapshot", () => {
    const t = setup();
    t.stream.start();
    t.last().open();
    t.last().send(snapshot(3));
    t.last().send({ type: "diagnostic", code: "cursor_invalid", message: "forged", action: "fatal" });
    expect(t.sockets[0].closedByClient).toBe(true);
    t.clock.advance(1000);
    expect(t.sockets.length).toBe(2);
    expect(t.last().path).not.toContain("cursor=");
    t.last().open();
    t.last().send(snapshot(9));
    expect(t.stream.state.connection).toBe("resynced");
  });

  it("a seq gap reconnects without a cursor", () => {
    const t = setup();
    t.stream.start();
    t.last().open();
    t.last().send(snapshot(3));
    t.last().send(event(5, { type: "status", status: "running" }));
    expect(t.sockets[0].closedByClient).toBe(true);
    t.clock.advance(1000);
    expect(t.last().path).not.toContain("cursor=");
  });

  it("retry and subscriber_lagged reconnect with the cursor; wait stays connected", () => {
    const t = setup();
    t.stream.start();
    t.last().open();
    t.last().send(snapshot(3));
    t.last().send({ type: "diagnostic", code: "runtime_unavailable", message: "m", action: "wait" });
    expect(t.stream.state.connection).toBe("unavailable");
    expect(t.sockets[0].closedByClient).toBe(false);
    t.last().send({ type: "diagnostic", code: "subscriber_lagged", message: "slow", action: "retry" });
    expect(t.sockets[0].closedByClient).toBe(true);
    t.clock.advance(1000);
    expect(t.last().path).toContain("cursor=c3");
  });

  it("worker_stopped ends the stream without reconnecting", () => {
    const t = setup();
    t.stream.start();
    t.last().open();
    t.last().send(snapshot(3));
    t.last().send(event(4, { type: "worker_stopped" }));
    t.last().send({ type: "diagnostic", code: "worker_stopped", message: "", action: "fatal" });
    t.last().drop();
    t.clock.advance(60_000);
    expect(t.sockets.length).toBe(1);
    expect(t.stream.state.connection).toBe("ended");
  });

  it("a failed handshake asks REST why: a typed 404 fails the stream, otherwise it retries", async () => {
    const t = setup({ probe: async () => ({ ok: false, code: "worker_not_found", message: "no such worker", final: true }) });
    t.stream.start();
    t.last().drop(); // never opened
    await Promise.resolve();
    await Promise.resolve();
    expect(t.stream.state.connection).toBe("failed");
    expect(t.stream.state.diagnostic).toMatchObject({ code: "worker_not_found" });
    t.clock.advance(60_000);
    expect(t.sockets.length).toBe(1);

    const u = setup({ probe: async () => ({ ok: false, code: "runtime_unreachable", message: "down", final: false }) });
    u.stream.start();
    u.last().drop();
    await Promise.resolve();
    await Promise.resolve();
    u.clock.advance(375);
    expect(u.sockets.length).toBe(2);
  });

  it("a failed handshake while REST answers for the worker switches to polling", async () => {
    const polls: Array<string | null> = [];
    const t = setup({ probe: async () => ({ ok: true, authChanged: false }) });
    (t.stream as unknown as { env: StreamEnv }).env.openPoll = (_r, _w, cursor) => {
      polls.push(cursor);
      const s = new FakeSocket("poll", []);
      t.sockets.push(s);
      return s;
    };
    t.stream.start();
    t.last().drop(); // the WS never opened
    await Promise.resolve();
    await Promise.resolve();
    expect(t.stream.state.transport).toBe("poll");
    t.clock.advance(375);
    expect(polls).toEqual([null]);
    t.last().open();
    t.last().send(snapshot(0, { cursor: "" }));
    t.last().send(event(1, { type: "status", status: "idle" }));
    expect(t.stream.state.connection).toBe("live");
    // a later drop reconnects through polling again, with the cursor
    t.last().drop();
    t.clock.advance(375);
    expect(polls).toEqual([null, "c1"]);
  });

  it("a handshake that failed for want of a token retries the WebSocket once the token is given", async () => {
    let polled = false;
    const t = setup({ probe: async () => ({ ok: true, authChanged: true }) });
    (t.stream as unknown as { env: StreamEnv }).env.openPoll = () => {
      polled = true;
      return new FakeSocket("poll", []);
    };
    t.stream.start();
    t.last().drop();
    await Promise.resolve();
    await Promise.resolve();
    t.clock.advance(375);
    expect(polled).toBe(false);
    expect(t.last().path).toContain("/events/ws");
    expect(t.stream.state.transport).toBe("ws");
  });

  it("a silent socket is treated as dropped after the idle timeout", () => {
    const t = setup();
    t.stream.start();
    t.last().open();
    t.last().send(snapshot(1));
    t.clock.advance(29_999);
    expect(t.sockets.length).toBe(1);
    t.clock.advance(1);
    expect(t.sockets[0].closedByClient).toBe(true);
    t.clock.advance(375);
    expect(t.sockets.length).toBe(2);
    expect(t.last().path).toContain("cursor=c1");
  });

  it("ignores frames from a socket it already replaced", () => {
    const t = setup();
    t.stream.start();
    const first = t.last();
    first.open();
    first.send(snapshot(1));
    const handler = first.onmessage;
    first.drop();
    t.clock.advance(375);
    handler?.({ data: JSON.stringify(event(2, { type: "status", status: "running" })) });
    expect(t.stream.state.seq).toBe(1);
  });
});

describe("eventsPath", () => {
  it("encodes ids and the opaque cursor", () => {
    expect(eventsPath("a:b", "w_1", "x/y+z=")).toBe("/api/runtimes/a%3Ab/workers/w_1/events/ws?cursor=x%2Fy%2Bz%3D");
  });
});
