import { useEffect, useRef, useState } from "preact/hooks";
import { asApiError, type ApiError } from "../api";
import { workersHref } from "../router";
import { api } from "../services";

// "Delete worker" (ARCHITECTURE §17): offered for a stopped worker only,
// behind an in-page confirmation; on success the console goes back to the
// workers list, where the worker is gone. A refusal (e.g. 409
// worker_not_stopped) is shown through `onError` like any other action.
export function DeleteWorkerButton(props: {
  runtimeId: string;
  workerId: string;
  stopped: boolean;
  onError: (e: ApiError) => void;
}) {
  const { runtimeId, workerId, stopped, onError } = props;
  const [asking, setAsking] = useState(false);
  return (
    <>
      <button
        class="btn btn-ghost-danger"
        disabled={!stopped}
        data-testid="delete"
        title={stopped ? "Delete this worker with its transcript and events" : "Stop the worker before deleting it"}
        onClick={() => setAsking(true)}
      >
        Delete worker
      </button>
      {asking && (
        <ConfirmDelete
          runtimeId={runtimeId}
          workerId={workerId}
          onCancel={() => setAsking(false)}
          onError={(e) => {
            setAsking(false);
            onError(e);
          }}
        />
      )}
    </>
  );
}

function ConfirmDelete(props: { runtimeId: string; workerId: string; onCancel: () => void; onError: (e: ApiError) => void }) {
  const { runtimeId, workerId, onCancel, onError } = props;
  const [deleting, setDeleting] = useState(false);
  const cancelRef = useRef<HTMLButtonElement>(null);
  // The safe choice has the focus: Enter right away does not delete.
  useEffect(() => cancelRef.current?.focus(), []);
  const confirm = async () => {
    setDeleting(true);
    try {
      await api.deleteWorker(runtimeId, workerId);
      location.hash = workersHref();
    } catch (e) {
      setDeleting(false);
      onError(asApiError(e));
    }
  };
  return (
    <div class="modal-backdrop" onKeyDown={(e) => e.key === "Escape" && !deleting && onCancel()}>
      <div class="modal" role="alertdialog" aria-modal="true" aria-labelledby="delete-title" aria-describedby="delete-desc" data-testid="delete-dialog">
        <h2 id="delete-title">Delete this worker?</h2>
        <p class="sub" id="delete-desc">
          <code>
            {runtimeId}/{workerId}
          </code>{" "}
          and its transcript and events are removed for good. This cannot be undone.
        </p>
        <div class="row-end">
          <button ref={cancelRef} type="button" class="btn btn-ghost" onClick={onCancel} disabled={deleting} data-testid="delete-cancel">
            Cancel
          </button>
          <button type="button" class="btn btn-danger" onClick={confirm} disabled={deleting} data-testid="delete-confirm">
            {deleting ? "Deleting…" : "Delete worker"}
          </button>
        </div>
      </div>
    </div>
  );
}
