// The per-worker resume point, kept in sessionStorage so a page reload resumes
// the stream from the last cursor instead of starting over.
//
// The cursor is saved together with the view it belongs to (transcript tail,
// in-flight reply so far, seq), in one record: a cursor alone would resume the
// stream after text the reloaded page no longer has (a half-streamed reply),
// and a view alone could not be resumed. Saving both atomically means a reload
// neither repeats nor loses text. The record is bounded (MAX_SAVED_ITEMS, byte
// cap); if it cannot be written the cursor is dropped, and the next load starts
// from a snapshot, which is always correct.

import type { TranscriptItem, Worker } from "../types";
import { initialState, normalizeInFlight, type InFlight, type ViewState } from "./reducer";

export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export const MAX_SAVED_ITEMS = 200;
export const MAX_SAVED_BYTES = 512 * 1024;
const VERSION = 1;

interface Saved {
  v: number;
  cursor: string;
  seq: number;
  worker: Worker | null;
  items: TranscriptItem[];
  inFlight: InFlight | null;
}

export function storageKey(runtimeId: string, workerId: string): string {
  // Ids are [A-Za-z0-9_:-] (ARCHITECTURE §3), so "/" cannot be part of one.
  return `yoi.stream.v${VERSION}.${runtimeId}/${workerId}`;
}

export function save(storage: StorageLike, s: ViewState): void {
  const key = storageKey(s.runtimeId, s.workerId);
  if (s.cursor === null) {
    storage.removeItem(key);
    return;
  }
  const rec: Saved = {
    v: VERSION,
    cursor: s.cursor,
    seq: s.seq,
    worker: s.worker,
    items: s.items.slice(-MAX_SAVED_ITEMS),
    inFlight: s.inFlight,
  };
  let text = JSON.stringify(rec);
  if (text.length > MAX_SAVED_BYTES) {
    // Keep the resume point; drop old items until it fits.
    while (text.length > MAX_SAVED_BYTES && rec.items.length > 0) {
      rec.items = rec.items.slice(Math.ceil(rec.items.length / 2));
      text = JSON.stringify(rec);
    }
    if (text.length > MAX_SAVED_BYTES) {
      storage.removeItem(key); // an enormous in-flight reply: resume via snapshot instead
      return;
    }
  }
  try {
    storage.setItem(key, text);
  } catch {
    // Quota: an out-of-date record would resume from a stale cursor with a
    // stale view, which is still consistent, but drop it to be safe.
    try {
      storage.removeItem(key);
    } catch {
      /* storage unusable: nothing to do */
    }
  }
}

export function restore(storage: StorageLike, runtimeId: string, workerId: string): ViewState {
  const base = initialState(runtimeId, workerId);
  let raw: string | null = null;
  try {
    raw = storage.getItem(storageKey(runtimeId, workerId));
  } catch {
    return base;
  }
  if (!raw) return base;
  try {
    const rec = JSON.parse(raw) as Partial<Saved>;
    if (
      rec.v !== VERSION ||
      typeof rec.cursor !== "string" ||
      typeof rec.seq !== "number" ||
      !Array.isArray(rec.items)
    ) {
      return base;
    }
    return {
      ...base,
      worker: rec.worker ?? null,
      items: rec.items,
      inFlight: rec.inFlight && typeof rec.inFlight.run_id === "string" ? normalizeInFlight(rec.inFlight) : null,
      seq: rec.seq,
      cursor: rec.cursor,
    };
  } catch {
    return base;
  }
}

export function forget(storage: StorageLike, runtimeId: string, workerId: string): void {
  try {
    storage.removeItem(storageKey(runtimeId, workerId));
  } catch {
    /* ignore */
  }
}

// A Storage that lives only in memory: for tests and for browsers that refuse
// sessionStorage (then a reload starts from a snapshot).
export class MemoryStorage implements StorageLike {
  private m = new Map<string, string>();
  getItem(k: string): string | null {
    return this.m.has(k) ? this.m.get(k)! : null;
  }
  setItem(k: string, v: string): void {
    this.m.set(k, v);
  }
  removeItem(k: string): void {
    this.m.delete(k);
  }
  get size(): number {
    return this.m.size;
  }
}
