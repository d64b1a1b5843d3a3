import { describe, expect, it } from "vitest";
import { isParseFailure, parseFrame } from "../src/stream/frames";
import { MAX_SAVED_BYTES, MAX_SAVED_ITEMS, MemoryStorage, restore, save, storageKey } from "../src/stream/persist";
import { initialState, normalizeInFlight, reduce, visibleText, type ViewState } from "../src/stream/reducer";
import { backoffDelay, DEFAULT_BACKOFF } from "../src/stream/backoff";
import { validToken, wsProtocols } from "../src/auth";

describe("parseFrame", () => {
  it("decodes the four frame types of wire.hpp", () => {
    const s = parseFrame(
      JSON.stringify({
        type: "snapshot",
        cursor: "c1",
        seq: 1,
        runtime_id: "r",
        worker_id: "w",
        worker: { runtime_id: "r", worker_id: "w", display_name: "", status: "idle" },
        transcript_tail: [{ role: "user", content: "x", run_id: "r1", index: 0, seq: 2 }],
        in_flight: { run_id: "r2", text: "pa" },
      }),
    );
    expect(isParseFailure(s)).toBe(false);
    expect(s).toMatchObject({ type: "snapshot", seq: 1, in_flight: { run_id: "r2", text: "pa" } });

    const e = parseFrame(
      JSON.stringify({ type: "event", cursor: "c2", seq: 2, runtime_id: "r", worker_id: "w", event: { type: "text_delta", seq: 2, time: 5, run_id: "r2", delta: "rt" } }),
    );
    expect(e).toMatchObject({ type: "event", seq: 2, event: { type: "text_delta", delta: "rt" } });

    expect(parseFrame('{"type":"diagnostic","code":"runtime_unavailable","message":"m","action":"wait"}')).toEqual({
      type: "diagnostic",
      code: "runtime_unavailable",
      message: "m",
      action: "wait",
    });
    expect(parseFrame('{"type":"heartbeat","cursor":"c","seq":4}')).toEqual({ type: "heartbeat", cursor: "c", seq: 4 });
  });

  it("rejects malformed frames instead of half-applying them", () => {
    for (const bad of [
      "not json",
      "[]",
      '{"cursor":"c"}',
      '{"type":"event","cursor":"c","seq":-1,"event":{"type":"status","status":"idle"}}',
      '{"type":"event","cursor":"c","seq":2,"event":{"type":"text_delta","run_id":"r"}}',
      '{"type":"snapshot","cursor":"c","seq":1,"worker":{}}',
      '{"type":"heartbeat","seq":1}',
      '{"type":"mystery"}',
    ]) {
      expect(isParseFailure(parseFrame(bad)), bad).toBe(true);
    }
  });

  it("tolerates unknown event types and unknown diagnostic actions", () => {
    const e = parseFrame('{"type":"event","cursor":"c","seq":3,"event":{"type":"some_future_event","seq":3}}');
    expect(e).toMatchObject({ event: { type: "__unknown", original: "some_future_event" } });
    expect(parseFrame('{"type":"diagnostic","code":"x","message":"","action":"dance"}')).toMatchObject({ action: "fatal" });
  });
});

function streamed(): ViewState {
  let s = initialState("r", "w");
  s = reduce(s, {
    type: "frame",
    frame: {
      type: "snapshot",
      cursor: "c1",
      seq: 1,
      runtime_id: "r",
      worker_id: "w",
      worker: { runtime_id: "r", worker_id: "w", display_name: "W", status: "running" },
      transcript_tail: [{ role: "user", content: "hi", run_id: "r1", index: 0 }],
      in_flight: { run_id: "r1", text: "ec" },
    },
  });
  return reduce(s, {
    type: "frame",
    frame: { type: "event", cursor: "c2", seq: 2, runtime_id: "r", worker_id: "w", event: { type: "text_delta", seq: 2, run_id: "r1", delta: "ho" } },
  });
}

describe("persist", () => {
  it("saves the cursor with the view it names and restores both", () => {
    const st = new MemoryStorage();
    const s = streamed();
    save(st, s);
    const back = restore(st, "r", "w");
    expect(back.cursor).toBe("c2");
    expect(back.seq).toBe(2);
    expect(visibleText(back)).toEqual(visibleText(s));
    expect(back.connection).toBe("connecting");
    // another worker has nothing saved
    expect(restore(st, "r", "other").cursor).toBeNull();
  });

  it("a view without a cursor removes the record", () => {
    const st = new MemoryStorage();
    save(st, streamed());
    save(st, { ...streamed(), cursor: null });
    expect(st.getItem(storageKey("r", "w"))).toBeNull();
  });

  it("is bounded in items and bytes", () => {
    const st = new MemoryStorage();
    const many = { ...streamed(), items: Array.from({ length: 500 }, (_, i) => ({ role: "user", content: `m${i}`, run_id: "r", index: i })) };
    save(st, many);
    const back = restore(st, "r", "w");
    expect(back.items.length).toBe(MAX_SAVED_ITEMS);
    expect(back.items[MAX_SAVED_ITEMS - 1].content).toBe("m499");

    const big = { ...streamed(), items: Array.from({ length: 100 }, () => ({ role: "user", content: "x".repeat(20_000), run_id: "r" })) };
    save(st, big);
    const raw = st.getItem(storageKey("r", "w"))!;
    expect(raw.length).toBeLessThanOrEqual(MAX_SAVED_BYTES);
    expect(restore(st, "r", "w").cursor).toBe("c2");

    const huge = { ...streamed(), inFlight: normalizeInFlight({ run_id: "r1", text: "y".repeat(MAX_SAVED_BYTES + 1) }) };
    save(st, huge);
    expect(st.getItem(storageKey("r", "w"))).toBeNull(); // resume from a snapshot instead
  });

  it("ignores corrupt or foreign records", () => {
    const st = new MemoryStorage();
    st.setItem(storageKey("r", "w"), "{oops");
    expect(restore(st, "r", "w").cursor).toBeNull();
    st.setItem(storageKey("r", "w"), JSON.stringify({ v: 99, cursor: "c", seq: 1, items: [] }));
    expect(restore(st, "r", "w").cursor).toBeNull();
  });

  it("survives a storage that throws on write", () => {
    const st = new MemoryStorage();
    st.setItem = () => {
      throw new Error("QuotaExceededError");
    };
    expect(() => save(st, streamed())).not.toThrow();
  });
});

describe("backoff", () => {
  it("grows exponentially with equal jitter and a cap", () => {
    expect(backoffDelay(0, () => 0)).toBe(250);
    expect(backoffDelay(0, () => 0.999999)).toBe(500);
    expect(backoffDelay(1, () => 0.5)).toBe(750);
    expect(backoffDelay(3, () => 0)).toBe(2000);
    expect(backoffDelay(50, () => 1)).toBe(DEFAULT_BACKOFF.maxMs);
    expect(backoffDelay(50, () => 0)).toBe(DEFAULT_BACKOFF.maxMs / 2);
  });
});

describe("auth", () => {
  it("offers the token as a subprotocol beside yoi.v1, and nothing without a token", () => {
    expect(wsProtocols(null)).toEqual([]);
    expect(wsProtocols("abc-123_x")).toEqual(["yoi.v1", "yoi-token.abc-123_x"]);
  });
  it("accepts only tokens a subprotocol can carry", () => {
    expect(validToken("AbC.123-_~")).toBe(true);
    expect(validToken("")).toBe(false);
    expect(validToken("has space")).toBe(false);
    expect(validToken("slash/")).toBe(false);
    expect(validToken("pad=")).toBe(false);
  });
});
