// Which Coder releases have what this tool needs, and what it does on each (the README's "Coder
// versions" table; `status` says which row applies to the coderd it reaches). Read 2026-12-02:
// - coder/coder docs/install/releases/index.md (release calendar): 2.29 released 2025-12-02 (the
//   previous ESR), 2.30 on 2026-02-03, 2.34 on 2026-06-02, the ESR; releases are cut from main.
// - docs/ai-coder/tasks-lifecycle.md: from 2026-06-02 Tasks move to a 12-month ESR for Premium
//   customers; new releases have no Tasks from v2.37 (2026-09-01).
// - the log-snapshot endpoint: coder/coder#21644 (January 2026) and its reader #21771 (merged
//   2026-01-30), so first released in v2.30.0; the agent's token during the stop build:
//   coder/coder#21538 (January 2026), v2.30.0 too; before it, coder/coder#19467.

import coerce from 'semver/functions/coerce.js';

export interface CoderRow {
  /** The releases, in words. */
  releases: string;
  /** What this tool does there. */
  means: string;
}

export const CODER_ROWS = {
  before: {
    releases: 'before v2.30 (the v2.29 ESR among them)',
    means:
      'no log-snapshot endpoint (snapshots answer 404 "Route not found."; the task shows no log while paused) and the agent token ends as the stop build begins; saves, resume and stops work',
  },
  tasks: {
    releases: 'v2.30 to v2.36 (v2.34 is the ESR)',
    means:
      'everything: Tasks, the log-snapshot endpoint, `coder exp sync`, the agent token while the stop job runs',
  },
  after: {
    releases: 'v2.37 and later',
    means:
      "no Tasks: persistence, resume and checkpoints' saves still work; snapshots cannot be posted (there is no task); Coder suggests Coder Agents instead",
  },
} as const satisfies Record<string, CoderRow>;

/** The row for a coderd's build-info version ("v2.34.5+5d2f6b8"), or undefined (a dev build). */
export function coderRow(version: string | undefined): CoderRow | undefined {
  const parsed = version ? coerce(version) : null;
  if (parsed?.major !== 2) return undefined;
  if (parsed.minor < 30) return CODER_ROWS.before;
  if (parsed.minor <= 36) return CODER_ROWS.tasks;
  return CODER_ROWS.after;
}
