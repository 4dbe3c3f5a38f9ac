// Every command, imported statically so the compiled binary needs no files on disk (src/cli.ts).
import Shutdown from './shutdown.js';
import Snapshot from './snapshot.js';
import Start from './start.js';
import Status from './status.js';

export const COMMANDS = {
  shutdown: Shutdown,
  snapshot: Snapshot,
  start: Start,
  status: Status,
};
