// Hash routes, so yoi-server serves plain static files with no fallback.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { name: "workers"; runtime?: string; status?: string }
  | { name: "runtimes" }
  | { name: "worker"; runtimeId: string; workerId: string };

export function parseRoute(hash: string): Route {
  const [path, query = ""] = hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  if (parts[0] === "runtimes") return { name: "runtimes" };
  if (parts[0] === "w" && parts.length === 3) return { name: "worker", runtimeId: parts[1], workerId: parts[2] };
  const q = new URLSearchParams(query);
  return { name: "workers", runtime: q.get("runtime") ?? undefined, status: q.get("status") ?? undefined };
}

export function workerHref(runtimeId: string, workerId: string): string {
  return `#/w/${encodeURIComponent(runtimeId)}/${encodeURIComponent(workerId)}`;
}

export function workersHref(runtime?: string, status?: string): string {
  const q = new URLSearchParams();
  if (runtime) q.set("runtime", runtime);
  if (status) q.set("status", status);
  const s = q.toString();
  return `#/workers${s ? `?${s}` : ""}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}
