import { useEffect, useMemo, useState } from "preact/hooks";
import { asApiError, listAllWorkers, type ApiError } from "../api";
import { workerHref, workersHref } from "../router";
import { normalizeRuntime } from "../runtimes";
import { api } from "../services";
import type { CreateWorkerBody, RuntimeSummary, ServerProfile } from "../types";
import { ApprovalBadge, Empty, ErrorBox, StatusPill, relTime, statusLabel, useLoad } from "./common";

const STATUSES = ["idle", "running", "awaiting_approval", "stopped"];

export function WorkersView({ runtime, status }: { runtime?: string; status?: string }) {
  const workers = useLoad(() => listAllWorkers(api), [], 4000);
  const runtimes = useLoad(() => api.listRuntimes(), [], 15000);
  const [creating, setCreating] = useState(false);

  const rows = useMemo(() => {
    const all = workers.data?.workers ?? [];
    return all
      .filter((w) => (!runtime || w.runtime_id === runtime) && (!status || w.status === status))
      .sort((a, b) => (b.updated_at ?? 0) - (a.updated_at ?? 0) || a.worker_id.localeCompare(b.worker_id));
  }, [workers.data, runtime, status]);

  const runtimeIds = useMemo(() => {
    const ids = new Set<string>((runtimes.data?.runtimes ?? []).map((r) => r.runtime_id));
    for (const w of workers.data?.workers ?? []) ids.add(w.runtime_id);
    return [...ids].sort();
  }, [runtimes.data, workers.data]);

  const troubles = (workers.data?.runtimes ?? []).flatMap((r) => (r.error ? [{ runtime_id: r.runtime_id, ...r.error }] : []));

  return (
    <section class="page workers-page">
      <header class="page-head">
        <div>
          <h1>Workers</h1>
          <p class="sub">Every worker on every runtime this server knows.</p>
        </div>
        <button class="btn btn-primary" onClick={() => setCreating(!creating)} data-testid="new-worker">
          {creating ? "Close" : "New worker"}
        </button>
      </header>

      {creating && (
        <CreateWorker
          runtimes={runtimes.data?.runtimes ?? []}
          defaultRuntime={runtime}
          onCreated={(rid, wid) => {
            location.hash = workerHref(rid, wid);
          }}
        />
      )}

      <div class="filters" role="toolbar">
        <label>
          Runtime
          <select
            value={runtime ?? ""}
            onChange={(e) => (location.hash = workersHref((e.currentTarget as HTMLSelectElement).value || undefined, status))}
            data-testid="filter-runtime"
          >
            <option value="">All runtimes</option>
            {runtimeIds.map((id) => (
              <option value={id}>{id}</option>
            ))}
          </select>
        </label>
        <div class="seg" role="group" aria-label="Status">
          {["", ...STATUSES].map((s) => (
            <a class={`seg-item ${(status ?? "") === s ? "on" : ""}`} href={workersHref(runtime, s || undefined)} data-testid={`filter-status-${s || "all"}`}>
              {s ? statusLabel(s) : "all"}
            </a>
          ))}
        </div>
        <span class="count">{workers.data ? `${rows.length} of ${workers.data.workers.length}` : ""}</span>
      </div>

      <ErrorBox error={workers.error} />
      {troubles.map((t) => (
        <div class="diag diag-wait">
          <code>{t.code}</code> {`${t.runtime_id}: `}
          {t.message}
        </div>
      ))}

      {!workers.data ? null : rows.length === 0 ? (
        <Empty>{workers.data.workers.length === 0 ? "No workers yet. Create one to get started." : "No workers match these filters."}</Empty>
      ) : (
        <table class="table workers-table" data-testid="workers-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Worker id</th>
              <th>Runtime</th>
              <th>Status</th>
              <th class="c-intent">Intent</th>
              <th class="c-profile">Profile</th>
              <th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((w) => (
              <tr key={`${w.runtime_id}/${w.worker_id}`} onClick={() => (location.hash = workerHref(w.runtime_id, w.worker_id))} class="clickable">
                <td class="c-name">
                  <a href={workerHref(w.runtime_id, w.worker_id)} class="ell" title={w.display_name || undefined}>
                    {w.display_name || <span class="muted">unnamed</span>}
                  </a>
                </td>
                <td class="c-id mono" data-col="worker-id">
                  <span class="ell" title={w.worker_id}>
                    {w.worker_id}
                  </span>
                </td>
                <td class="c-runtime mono">
                  <span class="ell" title={w.runtime_id}>
                    {w.runtime_id}
                  </span>
                </td>
                <td class="c-status" data-col="status">
                  <StatusPill status={w.status} />
                  <ApprovalBadge status={w.status} />
                </td>
                <td class="c-intent">{w.intent?.kind ?? "—"}</td>
                <td class="c-profile mono">{w.profile ?? "—"}</td>
                <td class="c-updated muted">{relTime(w.updated_at ?? w.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function CreateWorker({
  runtimes,
  defaultRuntime,
  onCreated,
}: {
  runtimes: RuntimeSummary[];
  defaultRuntime?: string;
  onCreated: (rid: string, wid: string) => void;
}) {
  const [rid, setRid] = useState(defaultRuntime ?? "");
  const runtimeId = rid || runtimes[0]?.runtime_id || "";
  const summary = runtimes.find((r) => r.runtime_id === runtimeId);
  const row = summary ? normalizeRuntime(summary) : undefined;
  const [serverProfiles, setServerProfiles] = useState<ServerProfile[]>([]);
  useEffect(() => {
    api.listProfiles().then((r) => setServerProfiles(Array.isArray(r.profiles) ? r.profiles : []), () => setServerProfiles([]));
  }, []);
  // yoi-server's profiles shadow a runtime's own of the same name.
  const serverNames = new Set(serverProfiles.map((p) => p.name));
  const known = (row?.profiles ?? []).filter((p) => !serverNames.has(p));
  const profiles = known.length || serverProfiles.length ? known : ["runtime_default"];
  const [profile, setProfile] = useState("runtime_default");
  const lent = row?.workspaces ?? [];
  const [mounts, setMounts] = useState<Record<string, "" | "read" | "write">>({});
  const [name, setName] = useState("");
  const [workerId, setWorkerId] = useState("");
  const [kind, setKind] = useState<"assistant" | "task" | "role">("assistant");
  const [objective, setObjective] = useState("");
  const [role, setRole] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!runtimeId) return;
    const body: CreateWorkerBody = { profile, intent: { kind } };
    const refs = lent.flatMap((w) => (mounts[w.name] ? [{ name: w.name, access: mounts[w.name] as "read" | "write" }] : []));
    if (refs.length) body.workspace_refs = refs;
    if (name.trim()) body.display_name = name.trim();
    if (workerId.trim()) body.worker_id = workerId.trim();
    if (kind === "task") body.intent!.objective = objective;
    if (kind === "role") body.intent!.role = role;
    setBusy(true);
    setError(null);
    try {
      const w = await api.createWorker(runtimeId, body);
      onCreated(w.runtime_id || runtimeId, w.worker_id);
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card create" onSubmit={submit} data-testid="create-form">
      <h2>New worker</h2>
      <div class="grid">
        <label>
          Runtime
          <select value={runtimeId} onChange={(e) => setRid((e.currentTarget as HTMLSelectElement).value)} data-testid="create-runtime">
            {runtimes.length === 0 && <option value="">no runtimes</option>}
            {runtimes.map((r) => (
              <option value={r.runtime_id}>
                {normalizeRuntime(r).display_name === r.runtime_id ? r.runtime_id : `${normalizeRuntime(r).display_name} (${r.runtime_id})`}
              </option>
            ))}
          </select>
        </label>
        <label>
          Profile
          <select value={profile} onChange={(e) => setProfile((e.currentTarget as HTMLSelectElement).value)} data-testid="create-profile">
            {serverProfiles.length > 0 && (
              <optgroup label="yoi-server">
                {serverProfiles.map((p) => (
                  <option value={p.name} title={p.description}>
                    {p.description ? `${p.name} — ${p.description}` : p.name}
                  </option>
                ))}
              </optgroup>
            )}
            <optgroup label="this runtime">
              {profiles.map((p) => (
                <option value={p}>{p}</option>
              ))}
            </optgroup>
          </select>
        </label>
        {lent.map((w) => (
          <label>
            <span>
              Workspace <span class="mono">{w.name}</span> <span class="opt">optional</span>
            </span>
            <select
              value={mounts[w.name] ?? ""}
              onChange={(e) => setMounts({ ...mounts, [w.name]: (e.currentTarget as HTMLSelectElement).value as "" | "read" | "write" })}
              data-testid={`create-workspace-${w.name}`}
            >
              <option value="">not mounted</option>
              <option value="read">read</option>
              {w.access === "write" && <option value="write">read and write</option>}
            </select>
          </label>
        ))}
        <label>
          Display name
          <input value={name} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} placeholder="e.g. Release notes helper" data-testid="create-name" />
        </label>
        <label>
          <span>
            Worker id <span class="opt">optional</span>
          </span>
          <input
            value={workerId}
            onInput={(e) => setWorkerId((e.currentTarget as HTMLInputElement).value)}
            placeholder="generated when empty"
            class="mono"
            data-testid="create-id"
          />
        </label>
        <label>
          Intent
          <select value={kind} onChange={(e) => setKind((e.currentTarget as HTMLSelectElement).value as typeof kind)} data-testid="create-intent">
            <option value="assistant">assistant</option>
            <option value="task">task (with an objective)</option>
            <option value="role">role (with a role name)</option>
          </select>
        </label>
        {kind === "task" && (
          <label>
            Objective
            <input value={objective} onInput={(e) => setObjective((e.currentTarget as HTMLInputElement).value)} placeholder="What should it get done?" data-testid="create-objective" />
          </label>
        )}
        {kind === "role" && (
          <label>
            Role
            <input value={role} onInput={(e) => setRole((e.currentTarget as HTMLInputElement).value)} placeholder="e.g. reviewer" data-testid="create-role" />
          </label>
        )}
      </div>
      <ErrorBox error={error} onDismiss={() => setError(null)} />
      <div class="row-end">
        <button class="btn btn-primary" type="submit" disabled={busy || !runtimeId} data-testid="create-submit">
          {busy ? "Creating…" : "Create worker"}
        </button>
      </div>
    </form>
  );
}
