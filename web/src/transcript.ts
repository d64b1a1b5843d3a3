// How a transcript item is marked in the view, kept apart from the JSX so it
// is unit-tested (web/test/transcript.test.ts).
import type { TranscriptItem } from "./types";

// The badge of a reply that did not complete: "cancelled", or
// "failed: <code>" when the item carries its error. null for user items and
// completed replies. Such a reply may have no text at all (issue 18).
export function resultMark(item: TranscriptItem): string | null {
  if (item.role !== "assistant" || !item.result || item.result === "completed") return null;
  if (item.result === "failed" && item.error?.code) return `failed: ${item.error.code}`;
  return item.result;
}
