// Durations on the command line: "500ms", "30s", "2m", "1h", or a bare number of seconds.

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds in `text`, or throws an Error whose message names the accepted forms. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a duration; use e.g. 500ms, 30s, 2m or a number of seconds`);
  return Math.round(Number(match[1]) * UNITS[match[2] ?? 's']);
}

/** "1.2s" or "340ms": short, for log lines. */
export function formatDuration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms)}ms`;
}

/** The largest whole unit: "100ms", "30s", "10m", "24h" (for --help and ranges). */
export function formatUnit(ms: number): string {
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
