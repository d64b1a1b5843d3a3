// The browser API client (ARCHITECTURE §7). Every failure comes back as an
// ApiError with a typed code: the server's `{"error":{"code","message"}}`
// when it sent one, otherwise a console-side code (`network_error`,
// `bad_response`, `http_<status>`).
//
// A 401 `unauthorized` asks the user for the access token (through the
// `askToken` hook the UI installs) and retries the same request with it; the
// token is only ever sent in the Authorization header.

import type {
  ApprovalBody,
  CancelResult,
  CreateWorkerBody,
  InputAccepted,
  RuntimeSummary,
  ServerProfile,
  TranscriptPage,
  Worker,
  WorkerList,
} from "./types";
import type { TokenStore } from "./auth";
import type { EventsPage } from "./stream/poll";

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly runtimeId?: string,
    readonly workerId?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

// Returns the token the user entered, or null if they dismissed the prompt.
// `rejected` is true when the previous token was refused.
export type AskToken = (rejected: boolean) => Promise<string | null>;

export interface ApiOptions {
  tokens: TokenStore;
  askToken?: AskToken;
  fetch?: typeof fetch;
  base?: string;
}

const enc = encodeURIComponent;
const workerPath = (rid: string, wid: string) => `/api/runtimes/${enc(rid)}/workers/${enc(wid)}`;

export class Api {
  private pendingAsk: Promise<string | null> | null = null;
  constructor(private opts: ApiOptions) {}

  listRuntimes(): Promise<{ runtimes: RuntimeSummary[] }> {
    return this.call("GET", "/api/runtimes");
  }
  listProfiles(): Promise<{ profiles: ServerProfile[] }> {
    return this.call("GET", "/api/profiles");
  }
  listWorkers(after?: string): Promise<WorkerList> {
    return this.call("GET", `/api/workers${after ? `?after=${enc(after)}` : ""}`);
  }
  listRuntimeWorkers(rid: string, after?: string): Promise<WorkerList> {
    return this.call("GET", `/api/runtimes/${enc(rid)}/workers${after ? `?after=${enc(after)}` : ""}`);
  }
  createWorker(rid: string, body: CreateWorkerBody): Promise<Worker> {
    return this.call("POST", `/api/runtimes/${enc(rid)}/workers`, body);
  }
  getWorker(rid: string, wid: string): Promise<Worker> {
    return this.call("GET", workerPath(rid, wid));
  }
  input(rid: string, wid: string, content: string, clientMessageId: string): Promise<InputAccepted> {
    return this.call("POST", `${workerPath(rid, wid)}/input`, { content, client_message_id: clientMessageId });
  }
  cancel(rid: string, wid: string): Promise<CancelResult> {
    return this.call("POST", `${workerPath(rid, wid)}/cancel`, {});
  }
  stop(rid: string, wid: string): Promise<unknown> {
    return this.call("POST", `${workerPath(rid, wid)}/stop`, {});
  }
  // Answers a pending tool call (§15): 404 approval_not_found when it is not
  // pending, 409 approval_resolved for a different answer to a resolved one.
  approve(rid: string, wid: string, callId: string, body: ApprovalBody): Promise<unknown> {
    return this.call("POST", `${workerPath(rid, wid)}/approvals/${enc(callId)}`, body);
  }
  // A stopped worker only (409 worker_not_stopped otherwise); 204 No Content.
  deleteWorker(rid: string, wid: string): Promise<unknown> {
    return this.call("DELETE", workerPath(rid, wid));
  }
  events(rid: string, wid: string, after: string | null): Promise<EventsPage> {
    return this.call("GET", `${workerPath(rid, wid)}/events${after ? `?after=${enc(after)}` : ""}`);
  }
  transcript(rid: string, wid: string, start: number, limit: number): Promise<TranscriptPage> {
    return this.call("GET", `${workerPath(rid, wid)}/transcript?start=${start}&limit=${limit}`);
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let rejected = false;
    // Bounded: a user who keeps entering wrong tokens gets the error after a few tries.
    for (let tries = 0; ; tries++) {
      try {
        return await this.once<T>(method, path, body);
      } catch (e) {
        if (!(e instanceof ApiError) || e.code !== "unauthorized" || !this.opts.askToken || tries >= 5) throw e;
        const token = await this.ask(rejected || this.opts.tokens.get() !== null);
        if (token === null) throw e;
        rejected = true;
      }
    }
  }

  // One prompt at a time: concurrent 401s wait for the same answer.
  private ask(rejected: boolean): Promise<string | null> {
    if (!this.pendingAsk) {
      this.pendingAsk = this.opts.askToken!(rejected).then((t) => {
        this.pendingAsk = null;
        if (t !== null) this.opts.tokens.set(t);
        return t;
      });
    }
    return this.pendingAsk;
  }

  private async once<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const token = this.opts.tokens.get();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const f = this.opts.fetch ?? fetch;
    let res: Response;
    try {
      res = await f((this.opts.base ?? "") + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      throw new ApiError("network_error", "The server could not be reached.", 0);
    }
    const text = await res.text().catch(() => "");
    let json: unknown = undefined;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (!res.ok) throw errorFrom(res.status, json);
    if (json === undefined) {
      if (!text && (res.status === 204 || method !== "GET")) return {} as T;
      throw new ApiError("bad_response", `The server sent a response that is not JSON (HTTP ${res.status}).`, res.status);
    }
    return json as T;
  }
}

export function errorFrom(status: number, json: unknown): ApiError {
  const err = (json as { error?: unknown } | undefined)?.error;
  if (err && typeof err === "object") {
    const e = err as Record<string, unknown>;
    if (typeof e.code === "string") {
      return new ApiError(
        e.code,
        typeof e.message === "string" ? e.message : "",
        status,
        typeof e.runtime_id === "string" ? e.runtime_id : undefined,
        typeof e.worker_id === "string" ? e.worker_id : undefined,
      );
    }
  }
  return new ApiError(`http_${status}`, `The server answered HTTP ${status} without a typed error.`, status);
}

export function asApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError("client_error", e instanceof Error ? e.message : String(e), 0);
}

// The worker list across runtimes. GET /api/workers answers the first page
// of every runtime, with a page token per runtime (`runtimes[].next`, yoi-server)
// or one overall (`next`); the rest is fetched per runtime, up to `maxPages`
// requests in all so a huge fleet cannot stall the view.
export async function listAllWorkers(api: Api, maxPages = 20): Promise<WorkerList> {
  const first = await api.listWorkers();
  const workers = [...first.workers];
  let pages = 1;
  let next = first.next;
  while (next && pages < maxPages) {
    const page = await api.listWorkers(next);
    pages++;
    workers.push(...page.workers);
    next = page.next;
  }
  for (const r of first.runtimes ?? []) {
    let after = r.next;
    while (after && pages < maxPages) {
      const page = await api.listRuntimeWorkers(r.runtime_id, after);
      pages++;
      workers.push(...page.workers);
      after = page.next;
    }
  }
  return { ...first, workers, next };
}
