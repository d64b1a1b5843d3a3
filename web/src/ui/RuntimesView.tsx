import { api } from "../services";
import type { RuntimeSummary } from "../types";
import { workersHref } from "../router";
import { Empty, ErrorBox, StatusPill, useLoad } from "./common";

// Reachability as the server states it; older servers may not say, then it is
// inferred from the status only when that is unambiguous.
function reachability(r: RuntimeSummary): { label: string; tone: string } {
  if (typeof r.reachable === "boolean") return r.reachable ? { label: "reachable", tone: "ok" } : { label: "unreachable", tone: "bad" };
  if (typeof r.reachability === "string") return { label: r.reachability, tone: r.reachability === "reachable" ? "ok" : "bad" };
  if (r.status === "ready") return { label: "reachable", tone: "ok" };
  if (r.status === "unavailable" || r.status === "unreachable") return { label: "unreachable", tone: "bad" };
  return { label: "—", tone: "muted" };
}

export function RuntimesView() {
  const { data, error } = useLoad(() => api.listRuntimes(), [], 5000);
  const runtimes = data?.runtimes ?? [];
  return (
    <section class="page">
      <header class="page-head">
        <div>
          <h1>Runtimes</h1>
          <p class="sub">Where workers run. The server owns every connection; addresses and credentials stay on the server.</p>
        </div>
      </header>
      <ErrorBox error={error} />
      {data && runtimes.length === 0 && <Empty>No runtimes are configured.</Empty>}
      <div class="cards" data-testid="runtimes">
        {runtimes.map((r) => {
          const reach = reachability(r);
          const trouble = r.error ?? r.diagnostic;
          const counts = r.worker_counts ?? {};
          return (
            <article class="card runtime" data-runtime={r.runtime_id}>
              <header class="runtime-head">
                <div>
                  <h2>{r.display_name || r.runtime_id}</h2>
                  <div class="mono muted">{r.runtime_id}</div>
                </div>
                <StatusPill status={r.status} />
              </header>
              <dl class="facts">
                <dt>source</dt>
                <dd>{r.source ?? "—"}</dd>
                <dt>reachability</dt>
                <dd>
                  <span class={`pill tone-${reach.tone}`}>
                    <span class="dot" />
                    {reach.label}
                  </span>
                </dd>
                {r.version && (
                  <>
                    <dt>version</dt>
                    <dd class="mono">{r.version}</dd>
                  </>
                )}
                {r.store && (
                  <>
                    <dt>store</dt>
                    <dd>{r.store}</dd>
                  </>
                )}
                <dt>workers</dt>
                <dd>
                  <a href={workersHref(r.runtime_id)}>
                    {counts.total ?? "—"} total
                  </a>
                  {counts.running ? ` · ${counts.running} running` : ""}
                  {counts.idle ? ` · ${counts.idle} idle` : ""}
                  {counts.stopped ? ` · ${counts.stopped} stopped` : ""}
                </dd>
                {r.profiles && r.profiles.length > 0 && (
                  <>
                    <dt>profiles</dt>
                    <dd class="mono">{r.profiles.join(", ")}</dd>
                  </>
                )}
              </dl>
              <div class="caps">
                {(r.capabilities ?? []).map((c) => (
                  <span class="chip mono">{c}</span>
                ))}
                {(!r.capabilities || r.capabilities.length === 0) && <span class="muted">no capabilities reported</span>}
              </div>
              {trouble && <ErrorBox error={trouble} />}
            </article>
          );
        })}
      </div>
    </section>
  );
}
