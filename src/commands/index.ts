// Every command, imported statically so the compiled binary needs no files on disk (src/cli.ts).
import Checkpoint from './checkpoint.js';
import Shutdown from './shutdown.js';
import Smoke from './smoke.js';
import Snapshot from './snapshot.js';
import Start from './start.js';
import Status from './status.js';

export const COMMANDS = {
  checkpoint: Checkpoint,
  shutdown: Shutdown,
  smoke: Smoke,
  snapshot: Snapshot,
  start: Start,
  status: Status,
};
