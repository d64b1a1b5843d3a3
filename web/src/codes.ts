// The error codes the console acts on, named against the one table:
// docs/golden/errors.json (code → HTTP status), which backend_golden_test
// checks against common/error.cpp. Every code below must be a key of that
// table — a code retired from it fails the type check — so the console holds
// no list of codes of its own.

import table from "../../docs/golden/errors.json";

export type ErrorCode = keyof typeof table;

export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = table;

const group = (...codes: ErrorCode[]): ReadonlySet<string> => new Set(codes);

// A cursor the server cannot honour: forget it, start again from a snapshot.
export const CURSOR_CODES = group("cursor_invalid", "cursor_expired", "cursor_unknown");

// The server answers but the runtime behind it does not (the stream's `wait`).
export const RUNTIME_DOWN_CODES = group("runtime_unreachable", "runtime_timeout", "runtime_error");

// The worker is not there to be watched (or is addressed wrongly).
const NO_WORKER: ErrorCode[] = ["worker_not_found", "runtime_not_found", "invalid_id"];
export const NO_WORKER_CODES = group(...NO_WORKER);

// The worker's stream cannot be had by retrying (a refused Host or Origin
// included: the server's policy will not change between retries).
export const FINAL_CODES = group(
  ...NO_WORKER,
  "unauthorized",
  "unsupported",
  "forbidden_host",
  "forbidden_origin",
);
