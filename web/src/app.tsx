import { useEffect, useState } from "preact/hooks";
import { listAllWorkers } from "./api";
import { useRoute, workerHref, workersHref } from "./router";
import { api, setAskHandler, tokens } from "./services";
import { ApprovalBadge, StatusPill, useLoad } from "./ui/common";
import { RuntimesView } from "./ui/RuntimesView";
import { TokenDialog } from "./ui/TokenDialog";
import { WorkersView } from "./ui/WorkersView";
import { WorkerView } from "./ui/WorkerView";

interface Ask {
  rejected: boolean;
  resolve: (t: string | null) => void;
}

export function App() {
  const route = useRoute();
  const [ask, setAsk] = useState<Ask | null>(null);
  const [hasToken, setHasToken] = useState(tokens.get() !== null);

  useEffect(() => {
    setAskHandler((rejected) => new Promise((resolve) => setAsk({ rejected, resolve })));
    return () => setAskHandler(null);
  }, []);

  const answer = (t: string | null) => {
    ask?.resolve(t);
    setAsk(null);
    if (t !== null) setHasToken(true);
  };

  return (
    <div class="shell">
      <Sidebar route={route} hasToken={hasToken} onForget={() => (tokens.clear(), setHasToken(false))} />
      <main class="main">
        {route.name === "runtimes" && <RuntimesView />}
        {route.name === "workers" && <WorkersView runtime={route.runtime} status={route.status} />}
        {route.name === "worker" && <WorkerView key={`${route.runtimeId}/${route.workerId}`} runtimeId={route.runtimeId} workerId={route.workerId} />}
      </main>
      {ask && <TokenDialog rejected={ask.rejected} onSubmit={answer} onCancel={() => answer(null)} />}
    </div>
  );
}

const waits = (w: { status: string }) => (w.status === "awaiting_approval" ? 1 : 0);

function Sidebar({ route, hasToken, onForget }: { route: ReturnType<typeof useRoute>; hasToken: boolean; onForget: () => void }) {
  const current = route.name === "worker" ? `${route.runtimeId}/${route.workerId}` : "";
  // Reload on navigation too, so a worker just created shows up at once.
  const { data } = useLoad(() => listAllWorkers(api, 2), [route.name, current], 5000);
  const recent = (data?.workers ?? [])
    .filter((w) => w.status !== "stopped")
    // Workers that wait for a person first, then the most recently active.
    .sort((a, b) => waits(b) - waits(a) || (b.updated_at ?? 0) - (a.updated_at ?? 0))
    .slice(0, 12);
  return (
    <aside class="sidebar">
      <a class="brand" href={workersHref()}>
        <span class="logo" aria-hidden="true" />
        yoi <span class="brand-sub">console</span>
      </a>
      <nav class="nav">
        <a class={route.name === "workers" || route.name === "worker" ? "on" : ""} href={workersHref()} data-testid="nav-workers">
          Workers
        </a>
        <a class={route.name === "runtimes" ? "on" : ""} href="#/runtimes" data-testid="nav-runtimes">
          Runtimes
        </a>
      </nav>
      {recent.length > 0 && (
        <div class="side-list">
          <div class="side-label">Active workers</div>
          {recent.map((w) => (
            <a
              class={`side-item ${current === `${w.runtime_id}/${w.worker_id}` ? "on" : ""}`}
              href={workerHref(w.runtime_id, w.worker_id)}
              title={`${w.runtime_id} / ${w.worker_id}`}
            >
              <span class="side-name">{w.display_name || w.worker_id}</span>
              <ApprovalBadge status={w.status} />
              <StatusPill status={w.status} />
            </a>
          ))}
        </div>
      )}
      <div class="side-foot">
        {hasToken ? (
          <button class="link" onClick={onForget} title="Forget the access token kept for this tab">
            Forget access token
          </button>
        ) : (
          <span class="muted">No access token set</span>
        )}
      </div>
    </aside>
  );
}
