import { workersHref } from "../router";
import { normalizeRuntime } from "../runtimes";
import { api } from "../services";
import { Empty, ErrorBox, StatusPill, relTime, useLoad } from "./common";

export function RuntimesView() {
  const { data, error } = useLoad(() => api.listRuntimes(), [], 5000);
  const runtimes = (data?.runtimes ?? []).map(normalizeRuntime);
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
          const counts = r.worker_counts;
          return (
            <article class="card runtime" data-runtime={r.runtime_id}>
              <header class="runtime-head">
                <div>
                  <h2>{r.display_name}</h2>
                  <div class="mono muted">{r.runtime_id}</div>
                </div>
                <StatusPill status={r.status} />
              </header>
              <dl class="facts">
                <dt>source</dt>
                <dd>{r.kind ?? "—"}</dd>
                <dt>reachability</dt>
                <dd>
                  <span class={`pill tone-${r.reachability.tone}`} data-testid="reachability">
                    <span class="dot" />
                    {r.reachability.label}
                  </span>
                  {r.last_seen_ms !== undefined && r.reachability.tone !== "ok" && (
                    <span class="muted"> · last seen {relTime(r.last_seen_ms)}</span>
                  )}
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
                  <a href={workersHref(r.runtime_id)}>{counts.total === undefined ? "view workers" : `${counts.total} total`}</a>
                  {counts.running ? ` · ${counts.running} running` : ""}
                  {counts.idle ? ` · ${counts.idle} idle` : ""}
                  {counts.awaiting_approval ? ` · ${counts.awaiting_approval} awaiting approval` : ""}
                  {counts.stopped ? ` · ${counts.stopped} stopped` : ""}
                </dd>
                {r.profiles.length > 0 && (
                  <>
                    <dt>profiles</dt>
                    <dd class="mono">{r.profiles.join(", ")}</dd>
                  </>
                )}
                <dt>bundles</dt>
                <dd class="mono" data-testid="runtime-bundles" title={r.bundles.join("\n")}>
                  {r.bundles.length ? r.bundles.map((d) => d.slice(0, 12)).join(", ") : "none"}
                </dd>
              </dl>
              <div class="caps">
                {r.capabilities.map((c) => (
                  <span class="chip mono">{c}</span>
                ))}
                {r.capabilities.length === 0 && <span class="muted">no capabilities reported</span>}
              </div>
              {r.problem && <ErrorBox error={r.problem} />}
            </article>
          );
        })}
      </div>
    </section>
  );
}
