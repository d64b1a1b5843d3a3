import { describe, expect, it } from "vitest";
import { Api, ApiError, listAllWorkers } from "../src/api";
import { TokenStore } from "../src/auth";
import { MemoryStorage } from "../src/stream/persist";

interface Seen {
  url: string;
  method: string;
  auth: string | null;
  body: string | undefined;
}

// A fake fetch answering from a list of (status, body) replies, recording requests.
function fakeFetch(replies: Array<[number, unknown]>) {
  const seen: Seen[] = [];
  const f = (async (url: string, init: RequestInit) => {
    const h = init.headers as Record<string, string>;
    seen.push({ url, method: init.method!, auth: h.Authorization ?? null, body: init.body as string | undefined });
    const [status, body] = replies.shift() ?? [500, "no reply left"];
    return new Response(typeof body === "string" ? body : JSON.stringify(body), { status });
  }) as unknown as typeof fetch;
  return { f, seen };
}

const unauthorized = { error: { code: "unauthorized", message: "access token required" } };

describe("Api", () => {
  it("sends JSON bodies and returns the decoded reply", async () => {
    const { f, seen } = fakeFetch([[200, { accepted: true, run_id: "r1", seq: 3 }]]);
    const api = new Api({ tokens: new TokenStore(new MemoryStorage()), fetch: f });
    const r = await api.input("rt 1", "w/1", "hello", "m-1");
    expect(r.run_id).toBe("r1");
    expect(seen[0].url).toBe("/api/runtimes/rt%201/workers/w%2F1/input");
    expect(JSON.parse(seen[0].body!)).toEqual({ content: "hello", client_message_id: "m-1" });
    expect(seen[0].auth).toBeNull();
  });

  it("turns typed error bodies into ApiError with code and message", async () => {
    const { f } = fakeFetch([[409, { error: { code: "worker_busy", message: "a run is in flight", worker_id: "w" } }]]);
    const api = new Api({ tokens: new TokenStore(new MemoryStorage()), fetch: f });
    const e = await api.input("r", "w", "x", "m").catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect([e.code, e.message, e.status, e.workerId]).toEqual(["worker_busy", "a run is in flight", 409, "w"]);
  });

  it("deleteWorker sends DELETE with no body and takes 204 No Content as success; 409 is typed", async () => {
    const seen: Array<{ url: string; method: string; body: unknown }> = [];
    const replies: Response[] = [
      new Response(JSON.stringify({ error: { code: "worker_not_stopped", message: "stop it first" } }), { status: 409 }),
      new Response(null, { status: 204 }),
    ];
    const f = (async (url: string, init: RequestInit) => {
      seen.push({ url, method: init.method!, body: init.body });
      return replies.shift()!;
    }) as unknown as typeof fetch;
    const api = new Api({ tokens: new TokenStore(new MemoryStorage()), fetch: f });
    const refused = (await api.deleteWorker("rt", "w 1").catch((x) => x)) as ApiError;
    expect(refused).toBeInstanceOf(ApiError);
    expect([refused.code, refused.status]).toEqual(["worker_not_stopped", 409]);
    await expect(api.deleteWorker("rt", "w 1")).resolves.toEqual({});
    expect(seen.map((s) => [s.method, s.url, s.body])).toEqual([
      ["DELETE", "/api/runtimes/rt/workers/w%201", undefined],
      ["DELETE", "/api/runtimes/rt/workers/w%201", undefined],
    ]);
  });

  it("gives untyped failures a console-side code", async () => {
    const { f } = fakeFetch([[502, "<html>bad gateway</html>"], [200, "not json"]]);
    const api = new Api({ tokens: new TokenStore(new MemoryStorage()), fetch: f });
    expect((await api.listRuntimes().catch((x) => x)).code).toBe("http_502");
    expect((await api.listRuntimes().catch((x) => x)).code).toBe("bad_response");
    const down = new Api({
      tokens: new TokenStore(new MemoryStorage()),
      fetch: (async () => {
        throw new TypeError("Failed to fetch");
      }) as unknown as typeof fetch,
    });
    expect((await down.listRuntimes().catch((x) => x)).code).toBe("network_error");
  });

  it("on 401 unauthorized asks for the token, keeps it, and retries with Bearer", async () => {
    const { f, seen } = fakeFetch([[401, unauthorized], [200, { runtimes: [] }], [200, { runtimes: [] }]]);
    const storage = new MemoryStorage();
    const asked: boolean[] = [];
    const api = new Api({
      tokens: new TokenStore(storage),
      fetch: f,
      askToken: async (rejected) => {
        asked.push(rejected);
        return "s3cret";
      },
    });
    await api.listRuntimes();
    await api.listRuntimes();
    expect(asked).toEqual([false]);
    expect(seen.map((s) => s.auth)).toEqual([null, "Bearer s3cret", "Bearer s3cret"]);
    expect(seen.every((s) => !s.url.includes("s3cret"))).toBe(true);
    expect(storage.getItem("yoi.token")).toBe("s3cret");
  });

  it("a dismissed prompt surfaces the unauthorized error; a wrong token asks again", async () => {
    const { f } = fakeFetch([[401, unauthorized], [401, unauthorized], [401, unauthorized]]);
    const answers = ["wrong", null];
    const asked: boolean[] = [];
    const api = new Api({
      tokens: new TokenStore(new MemoryStorage()),
      fetch: f,
      askToken: async (rejected) => {
        asked.push(rejected);
        return answers.shift() ?? null;
      },
    });
    const e = await api.listRuntimes().catch((x) => x);
    expect(e.code).toBe("unauthorized");
    expect(asked).toEqual([false, true]);
  });

  it("follows next pages of the worker list", async () => {
    const w = (id: string) => ({ runtime_id: "r", worker_id: id, display_name: "", status: "idle" });
    const { f, seen } = fakeFetch([
      [200, { workers: [w("a")], next: "a" }],
      [200, { workers: [w("b")] }],
    ]);
    const api = new Api({ tokens: new TokenStore(new MemoryStorage()), fetch: f });
    const all = await listAllWorkers(api);
    expect(all.workers.map((x) => x.worker_id)).toEqual(["a", "b"]);
    expect(seen[1].url).toBe("/api/workers?after=a");
  });

  it("follows each runtime's own page token (yoi-server's list form)", async () => {
    const w = (rid: string, id: string) => ({ runtime_id: rid, worker_id: id, display_name: "", status: "idle" });
    const { f, seen } = fakeFetch([
      [
        200,
        {
          workers: [w("r1", "a"), w("r2", "x")],
          runtimes: [
            { runtime_id: "r1", ok: true, next: "a" },
            { runtime_id: "r2", ok: true },
            { runtime_id: "r3", ok: false, error: { code: "runtime_unreachable", message: "down" } },
          ],
        },
      ],
      [200, { workers: [w("r1", "b")], next: "b" }],
      [200, { workers: [w("r1", "c")] }],
    ]);
    const api = new Api({ tokens: new TokenStore(new MemoryStorage()), fetch: f });
    const all = await listAllWorkers(api);
    expect(all.workers.map((x) => x.worker_id)).toEqual(["a", "x", "b", "c"]);
    expect(seen.map((s) => s.url)).toEqual(["/api/workers", "/api/runtimes/r1/workers?after=a", "/api/runtimes/r1/workers?after=b"]);
    expect(all.runtimes?.[2].error?.code).toBe("runtime_unreachable");
  });
});

describe("Api.approve", () => {
  it("posts the decision to the call's approval route and surfaces approval_resolved as a typed error", async () => {
    const { f, seen } = fakeFetch([
      [200, { call_id: "c 1", decision: "denied" }],
      [409, { error: { code: "approval_resolved", message: "already approved" } }],
    ]);
    const api = new Api({ tokens: new TokenStore(new MemoryStorage()), fetch: f });
    await api.approve("rt1", "w1", "c 1", { decision: "deny", reason: "no" });
    expect(seen[0].method).toBe("POST");
    expect(seen[0].url).toBe("/api/runtimes/rt1/workers/w1/approvals/c%201");
    expect(JSON.parse(seen[0].body!)).toEqual({ decision: "deny", reason: "no" });
    const err = (await api.approve("rt1", "w1", "c 1", { decision: "approve", remember: true }).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect([err.code, err.status]).toEqual(["approval_resolved", 409]);
    expect(JSON.parse(seen[1].body!)).toEqual({ decision: "approve", remember: true });
  });
});
