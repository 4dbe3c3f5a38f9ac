// Every command, imported statically so the compiled binary needs no files on disk (src/cli.ts).
import Snapshot from './snapshot.js';

export const COMMANDS = {
  snapshot: Snapshot,
};
