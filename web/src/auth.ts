// The backend access token (ARCHITECTURE §7: 401 `unauthorized`). Kept in
// sessionStorage for the tab's session, sent as `Authorization: Bearer` on
// REST and as a WebSocket subprotocol on the event stream; never in a URL
// it requests (the login URL's fragment is read once and removed, below).
// See web/README.md for the exact wire form the server accepts.

import type { StorageLike } from "./stream/persist";

const KEY = "yoi.token";

// RFC 7230 `token` characters: what a Sec-WebSocket-Protocol value may hold.
const TCHAR = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

export const WS_PROTOCOL = "yoi.v1";
export const WS_TOKEN_PREFIX = "yoi-token.";

export function validToken(t: string): boolean {
  return t.length > 0 && t.length <= 4096 && TCHAR.test(t);
}

export class TokenStore {
  constructor(private storage: StorageLike) {}
  get(): string | null {
    try {
      return this.storage.getItem(KEY);
    } catch {
      return null;
    }
  }
  set(token: string): void {
    try {
      this.storage.setItem(KEY, token);
    } catch {
      /* storage refused: the token lives only until the next 401 */
    }
  }
  clear(): void {
    try {
      this.storage.removeItem(KEY);
    } catch {
      /* ignore */
    }
  }
}

// Subprotocols offered on the events WebSocket. Without a token none are
// offered, so a server without token auth accepts the socket as is. With one,
// the server must select `yoi.v1` (a browser fails the handshake if the
// server selects none of the offered protocols).
export function wsProtocols(token: string | null): string[] {
  return token ? [WS_PROTOCOL, WS_TOKEN_PREFIX + token] : [];
}

// The login URL yoi-server prints is `http://HOST:PORT/#token=…`: the token
// travels in the fragment, which a browser never sends to a server, so it
// reaches no server log. The token of such a fragment, or null.
export function fragmentToken(hash: string): string | null {
  const m = /^#token=([^&]*)$/.exec(hash);
  if (!m) return null;
  let t: string;
  try {
    t = decodeURIComponent(m[1]);
  } catch {
    return null;
  }
  return validToken(t) ? t : null;
}

// At load, before the router reads the fragment: keep a login URL's token
// where the console keeps tokens and take it out of the address bar (and
// out of this history entry), so it is neither shown, bookmarked nor shared.
// True when a token was kept.
export function adoptFragmentToken(
  loc: { hash: string; pathname: string; search: string },
  history: { replaceState(data: unknown, unused: string, url?: string): void },
  store: TokenStore,
): boolean {
  if (!loc.hash.startsWith("#token=")) return false;
  const t = fragmentToken(loc.hash);
  if (t) store.set(t);
  history.replaceState(null, "", loc.pathname + loc.search);
  return t !== null;
}
