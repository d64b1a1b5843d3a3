import { describe, expect, it } from "vitest";
import { PollingSocket, type EventsPage, type PollEnv, type PollError } from "../src/stream/poll";
import { initialState, normalizeInFlight, reduce, visibleText, type ViewState } from "../src/stream/reducer";
import { isParseFailure, parseFrame } from "../src/stream/frames";

const R = "rt";
const W = "w";

// Events of one worker as the REST route pages them; cursor "c<seq>".
function logOf(n: number) {
  const ev: EventsPage["events"] = [];
  const add = (e: Record<string, unknown>) => {
    const seq = ev.length + 1;
    ev.push({ cursor: `c${seq}`, seq, event: { ...e, seq } as unknown as EventsPage["events"][0]["event"] });
  };
  add({ type: "worker_created", worker: { runtime_id: "upstream-id", worker_id: W, display_name: "W", status: "idle" } });
  add({ type: "input_accepted", run_id: "r1", content: "hi" });
  add({ type: "status", status: "running", previous: "idle" });
  add({ type: "run_started", run_id: "r1" });
  for (const d of ["ec", "ho", ": hi"]) add({ type: "text_delta", run_id: "r1", delta: d });
  add({ type: "text_done", run_id: "r1", text: "echo: hi" });
  add({ type: "run_finished", run_id: "r1", result: "completed" });
  add({ type: "status", status: "idle", previous: "running" });
  return ev.slice(0, n);
}

function harness(log: EventsPage["events"], pageSize = 4) {
  const timers: Array<{ id: number; fn: () => void }> = [];
  const delays: number[] = [];
  const cleared = new Set<number>();
  const requests: Array<string | null> = [];
  let failWith: PollError | null = null;
  const env: PollEnv = {
    async fetchEvents(_r, _w, after) {
      requests.push(after);
      if (failWith) {
        const e = failWith;
        throw e;
      }
      const from = after ? Number(after.slice(1)) : 0;
      const events = log.filter((e) => e.seq > from).slice(0, pageSize);
      const last = events.length ? events[events.length - 1].seq : from;
      return { events, cursor: `c${last}`, last_seq: log.length };
    },
    async fetchWorker() {
      return { runtime_id: R, worker_id: W, display_name: "W", status: "idle", transcript_total: 2 };
    },
    asError: (e) => e as PollError,
    setTimeout: (fn, ms) => {
      const id = delays.push(ms);
      timers.push({ id, fn });
      return id;
    },
    clearTimeout: (h) => {
      // ids are 1-based positions in `delays`; a cleared timer never runs
      cleared.add(h as number);
    },
  };
  let state: ViewState = initialState(R, W);
  let opened = 0;
  return {
    env,
    requests,
    timers,
    delays,
    cleared,
    setFail: (e: PollError | null) => (failWith = e),
    attach(sock: PollingSocket) {
      sock.onopen = () => opened++;
      sock.onmessage = (m) => {
        const f = parseFrame(String(m.data));
        if (isParseFailure(f)) throw new Error(f.error);
        state = reduce(state, { type: "frame", frame: f });
      };
      return sock;
    },
    get state() {
      return state;
    },
    set state(s: ViewState) {
      state = s;
    },
    get opened() {
      return opened;
    },
    // Runs queued timers (and the promises they start) until none are left or `max` ran.
    async run(max = 20) {
      for (let i = 0; i < max && timers.length; i++) {
        const t = timers.shift()!;
        if (cleared.has(t.id)) {
          i--;
          continue;
        }
        t.fn();
        for (let k = 0; k < 5; k++) await Promise.resolve();
      }
    },
  };
}

describe("PollingSocket", () => {
  it("without a cursor: an empty snapshot, then the whole log replayed in pages", async () => {
    const log = logOf(10);
    const h = harness(log);
    h.attach(new PollingSocket(R, W, null, h.env));
    await h.run(3); // begin (+ first page), then 2 more pages (4 + 4 + 2 events)
    expect(h.opened).toBe(1);
    expect(h.requests).toEqual([null, "c4", "c8"]);
    expect(visibleText(h.state)).toEqual(["user:hi", "assistant:echo: hi"]);
    expect(h.state.seq).toBe(10);
    expect(h.state.cursor).toBe("c10");
    expect(h.state.worker?.runtime_id).toBe(R); // the route's id, not the upstream's
    // replayed items are not numbered from the current total (no bogus "load earlier")
    expect(h.state.items.every((i) => i.index === undefined || i.index < 2)).toBe(true);
  });

  it("with a cursor: resumes after it, and idle polls keep the cursor fresh by heartbeat", async () => {
    const log = logOf(10);
    const h = harness(log);
    h.state = { ...initialState(R, W), seq: 5, cursor: "c5", items: [{ role: "user", content: "hi", run_id: "r1" }], inFlight: normalizeInFlight({ run_id: "r1", text: "ec" }) };
    h.attach(new PollingSocket(R, W, "c5", h.env));
    await h.run(3);
    expect(h.requests[0]).toBe("c5");
    expect(visibleText(h.state)).toEqual(["user:hi", "assistant:echo: hi"]);
    await h.run(1); // an empty page: heartbeat for seq 10
    expect(h.requests[h.requests.length - 1]).toBe("c10");
    expect(h.state.cursor).toBe("c10");
    expect(h.state.stats.duplicates).toBe(0);
  });

  it("maps a lost runtime to runtime_unavailable (wait) and its return to runtime_recovered", async () => {
    const h = harness(logOf(3));
    h.attach(new PollingSocket(R, W, null, h.env));
    await h.run(2);
    h.setFail({ code: "runtime_unreachable", message: "The runtime did not answer." });
    await h.run(1);
    expect(h.state.connection).toBe("unavailable");
    h.setFail(null);
    await h.run(1);
    expect(h.state.connection).toBe("live");
    expect(h.state.diagnostic?.code).toBe("runtime_recovered");
  });

  it("a bad cursor becomes a cursor diagnostic; a network failure closes the socket", async () => {
    const h = harness(logOf(3));
    const sock = h.attach(new PollingSocket(R, W, "forged", h.env));
    h.setFail({ code: "cursor_invalid", message: "bad" });
    await h.run(2);
    expect(h.state.diagnostic?.code).toBe("cursor_invalid");

    const g = harness(logOf(3));
    const s2 = g.attach(new PollingSocket(R, W, "c1", g.env));
    let closed = 0;
    s2.onclose = () => closed++;
    g.setFail({ message: "Failed to fetch" });
    await g.run(2);
    expect(closed).toBe(1);
    expect(sock).toBeTruthy();
  });

  it("polls fast while events come, slowly when idle, and at once when poked", async () => {
    const log = logOf(10);
    const h = harness(log, 100);
    const sock = h.attach(new PollingSocket(R, W, null, h.env));
    await h.run(1); // begin + the first page with all 10 events
    expect(h.delays.slice(-1)).toEqual([150]);
    await h.run(1); // an empty page
    expect(h.delays.slice(-1)).toEqual([1000]);
    const idleTimer = h.delays.length;
    sock.poke();
    expect(h.cleared.has(idleTimer)).toBe(true);
    expect(h.delays.slice(-1)).toEqual([0]);
  });

  it("ends after worker_stopped like the WebSocket does", async () => {
    const log = logOf(10);
    log.push({ cursor: "c11", seq: 11, event: { type: "worker_stopped", seq: 11 } });
    const h = harness(log, 100);
    h.attach(new PollingSocket(R, W, null, h.env));
    await h.run(5);
    expect(h.state.connection).toBe("ended");
    expect(h.timers.filter((t) => !h.cleared.has(t.id)).length).toBe(0); // no more polling
  });
});
