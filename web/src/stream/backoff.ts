// Reconnect delays: exponential with "equal jitter" (half fixed, half random),
// so a fleet of consoles that lost the same server does not come back in step,
// yet no client retries sooner than half the nominal delay.

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 15_000, factor: 2 };

// `attempt` counts failures since the last good connection, starting at 0.
// `random` returns [0, 1) — injected so tests assert exact values.
export function backoffDelay(attempt: number, random: () => number, p: BackoffPolicy = DEFAULT_BACKOFF): number {
  const nominal = Math.min(p.maxMs, p.baseMs * Math.pow(p.factor, Math.max(0, Math.min(attempt, 30))));
  const half = nominal / 2;
  return Math.round(half + random() * half);
}
