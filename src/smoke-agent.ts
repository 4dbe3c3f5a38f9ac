// `__smoke-agent`: the trivial chat agent `smoke` runs behind AgentAPI when it is given none, so
// that an image with nothing but AgentAPI and this binary can be checked. A greeting, a prompt, a
// line read, a reply, on the terminal AgentAPI gives it; it leaves at Ctrl-C, as agents do.

import { writeSync } from 'node:fs';

/** AgentAPI types a message as a bracketed paste: ESC[200~ … ESC[201~. */
const PASTE_MARKS = new RegExp(`${String.fromCharCode(27)}\\[20[01]~`, 'g');

export async function runSmokeAgent(): Promise<void> {
  const write = (text: string) => writeSync(1, text);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => process.exit(0));
  write('agentapi-lifecycle smoke agent. Type a message.\n> ');
  for await (const line of console) write(`You said: ${line.replace(PASTE_MARKS, '')}\n> `);
}
