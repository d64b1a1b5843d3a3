// The browser-side wiring of the pure modules: one Api, one token store, and
// the environment of a worker stream (real WebSocket, timers, sessionStorage).

import { Api, ApiError, asApiError, type AskToken } from "./api";
import { TokenStore, wsProtocols } from "./auth";
import { FINAL_CODES } from "./codes";
import type { ProbeResult, SocketLike, StreamEnv } from "./stream/connection";
import { MemoryStorage, type StorageLike } from "./stream/persist";
import { PollingSocket } from "./stream/poll";

function sessionStore(): StorageLike {
  try {
    const s = window.sessionStorage;
    const k = "yoi.probe";
    s.setItem(k, "1");
    s.removeItem(k);
    return s;
  } catch {
    return new MemoryStorage(); // storage disabled: a reload starts from a snapshot
  }
}

export const storage = sessionStore();
export const tokens = new TokenStore(storage);

let askHandler: AskToken | null = null;
export function setAskHandler(h: AskToken | null): void {
  askHandler = h;
}

export const api = new Api({
  tokens,
  askToken: (rejected) => (askHandler ? askHandler(rejected) : Promise.resolve(null)),
});

export function streamEnv(): StreamEnv {
  return {
    openSocket(path: string, protocols: string[]): SocketLike {
      const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
      const ws = protocols.length ? new WebSocket(url, protocols) : new WebSocket(url);
      return ws as unknown as SocketLike;
    },
    protocols: () => wsProtocols(tokens.get()),
    storage,
    random: Math.random,
    setTimeout: (fn, ms) => window.setTimeout(fn, ms),
    clearTimeout: (h) => window.clearTimeout(h as number),
    async probe(rid, wid): Promise<ProbeResult> {
      const before = tokens.get();
      try {
        await api.getWorker(rid, wid);
        return { ok: true, authChanged: tokens.get() !== before };
      } catch (e) {
        if (e instanceof ApiError) return { ok: false, code: e.code, message: e.message, final: FINAL_CODES.has(e.code) };
        return { ok: false, code: "client_error", message: String(e), final: false };
      }
    },
    openPoll(rid, wid, cursor) {
      return new PollingSocket(rid, wid, cursor, {
        fetchEvents: (r, w, after) => api.events(r, w, after),
        fetchWorker: (r, w) => api.getWorker(r, w),
        asError: (e) => asApiError(e),
        setTimeout: (fn, ms) => window.setTimeout(fn, ms),
        clearTimeout: (h) => window.clearTimeout(h as number),
      });
    },
  };
}

export function newClientMessageId(): string {
  const c = globalThis.crypto;
  if (c && "randomUUID" in c) return c.randomUUID();
  return `m-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}
