import { useEffect, useRef, useState } from "preact/hooks";
import { validToken } from "../auth";

// Asks for the backend access token after a 401 `unauthorized`.
export function TokenDialog({ rejected, onSubmit, onCancel }: { rejected: boolean; onSubmit: (t: string) => void; onCancel: () => void }) {
  const [value, setValue] = useState("");
  const [invalid, setInvalid] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <div class="modal-backdrop" onKeyDown={(e) => e.key === "Escape" && onCancel()}>
      <form
        class="modal"
        role="dialog"
        aria-labelledby="token-title"
        data-testid="token-dialog"
        onSubmit={(e) => {
          e.preventDefault();
          const t = value.trim();
          if (!validToken(t)) {
            setInvalid(true);
            return;
          }
          onSubmit(t);
        }}
      >
        <h2 id="token-title">Access token required</h2>
        <p class="sub">
          This server asks for its access token. It is kept for this browser tab only and sent in request headers, never in a URL.
        </p>
        {rejected && (
          <div class="error-box">
            <code class="error-code">unauthorized</code>
            <span class="error-message">The server did not accept that token.</span>
          </div>
        )}
        <input
          ref={input}
          type="password"
          autoComplete="off"
          spellcheck={false}
          class="mono"
          placeholder="token"
          value={value}
          onInput={(e) => {
            setValue((e.currentTarget as HTMLInputElement).value);
            setInvalid(false);
          }}
          data-testid="token-input"
        />
        {invalid && <p class="field-error">A token is letters, digits and <code>- . _ ~ + ! # $ % &amp; ' * ^ ` |</code>, with no spaces.</p>}
        <div class="row-end">
          <button type="button" class="btn btn-ghost" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" disabled={!value.trim()}>
            Continue
          </button>
        </div>
      </form>
    </div>
  );
}
