import { describe, expect, it } from "vitest";
import { adoptFragmentToken, fragmentToken, TokenStore } from "../src/auth";
import { MemoryStorage } from "../src/stream/persist";

// The login URL yoi-server prints: http://HOST:PORT/#token=… (ARCHITECTURE §18).
describe("the login URL's token", () => {
  const loc = (hash: string) => ({ hash, pathname: "/", search: "" });
  const history = () => {
    const calls: Array<string | undefined> = [];
    return { calls, replaceState: (_d: unknown, _u: string, url?: string) => void calls.push(url) };
  };

  it("is kept where the console keeps tokens and taken out of the address bar", () => {
    const store = new TokenStore(new MemoryStorage());
    const h = history();
    const tok = "a".repeat(64);
    expect(adoptFragmentToken(loc(`#token=${tok}`), h, store)).toBe(true);
    expect(store.get()).toBe(tok);
    expect(h.calls).toEqual(["/"]);
  });

  it("is removed from the address bar even when it is not a valid token", () => {
    const store = new TokenStore(new MemoryStorage());
    const h = history();
    expect(adoptFragmentToken(loc("#token=bad%20token"), h, store)).toBe(false);
    expect(store.get()).toBeNull();
    expect(h.calls).toEqual(["/"]);
  });

  it("leaves the console's own routes alone", () => {
    const store = new TokenStore(new MemoryStorage());
    const h = history();
    expect(adoptFragmentToken(loc("#/w/local/w1"), h, store)).toBe(false);
    expect(h.calls).toEqual([]);
  });

  it("parses only a whole #token= fragment", () => {
    expect(fragmentToken("#token=abc_DEF-1")).toBe("abc_DEF-1");
    expect(fragmentToken("#token=")).toBeNull();
    expect(fragmentToken("#token=a&x=1")).toBeNull();
    expect(fragmentToken("#/token=abc")).toBeNull();
    expect(fragmentToken("#token=%E0%A4%A")).toBeNull();
  });
});
