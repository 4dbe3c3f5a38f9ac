// A task's conversation as a person reads it (transcript): Markdown, or a stable JSON shape for
// scripts. Pure: the sequence (sequences/transcript.ts) reads the messages and writes the text.
//
// A message is whatever the agent's terminal showed, or whatever a person typed: it goes in a
// fenced block whose fence is longer than any run of backticks in it, so no message can end its
// block early and pass for the transcript's own structure, and its control characters (but newline
// and tab) are removed, so it cannot drive the terminal it is printed on.

/** One message of the conversation, as AgentAPI gives it (its state file says `message`). */
export interface TranscriptMessage {
  id: number;
  role: string;
  time: string;
  content: string;
}

export type TranscriptSource =
  | { kind: 'agentapi'; url: string }
  | { kind: 'state-file'; path: string; savedAt?: string };

/** What the header says; the JSON form's top level. */
export interface TranscriptFacts {
  source: TranscriptSource;
  taskId?: string;
  agentType?: string;
  /** Messages in the whole conversation. */
  messagesTotal: number;
  /** Messages in this transcript: the newest ones. */
  messagesShown: number;
  /** Older ones left out to fit --max-bytes or --last. */
  leftOut: number;
  /** Why they were left out, e.g. "to fit 65536 bytes". */
  leftOutWhy?: string;
  /** The first and the last message's time, of the whole conversation. */
  first?: string;
  last?: string;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is what it is for
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** `text` without control characters but newline and tab (a carriage return included). */
export function withoutControls(text: string): string {
  return text.replace(CONTROLS, '');
}

/** A fence of backticks longer than any run of them in `text` (at least three). */
export function fenceFor(text: string): string {
  let longest = 0;
  for (const run of text.matchAll(/`+/g)) longest = Math.max(longest, run[0].length);
  return '`'.repeat(Math.max(3, longest + 1));
}

const ROLE_NAMES: Record<string, string> = { user: 'User', agent: 'Agent' };

/** A value for a heading or list line: one line, no control characters, no Markdown of its own. */
function inline(text: string): string {
  return withoutControls(text)
    .replace(/\s+/g, ' ')
    .replace(/[\\`*_[\]<>#|]/g, (c) => `\\${c}`);
}

function describeSource(source: TranscriptSource): string {
  if (source.kind === 'agentapi') return `AgentAPI at ${inline(source.url)} (running)`;
  const saved = source.savedAt ? `, saved ${source.savedAt}` : '';
  return `AgentAPI's state file ${inline(source.path)}${saved}`;
}

/** The Markdown header: where the conversation came from, whose, how long, and what was left out. */
export function markdownHeader(facts: TranscriptFacts): string {
  const lines = ['# Task conversation', '', `- Source: ${describeSource(facts.source)}`];
  if (facts.taskId) lines.push(`- Task: ${inline(facts.taskId)}`);
  if (facts.agentType) lines.push(`- Agent: ${inline(facts.agentType)}`);
  const span = facts.first && facts.last ? `, from ${inline(facts.first)} to ${inline(facts.last)}` : '';
  lines.push(`- Messages: ${facts.messagesTotal}${span}`);
  if (facts.leftOut > 0) {
    lines.push(
      '',
      `*${facts.leftOut} older message${facts.leftOut === 1 ? '' : 's'} left out${facts.leftOutWhy ? ` ${facts.leftOutWhy}` : ''}; the newest ${facts.messagesShown} follow.*`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** One message: its role and time as a heading, its content in a fenced block of its own. */
export function markdownMessage(message: TranscriptMessage): string {
  const role = ROLE_NAMES[message.role] ?? inline(message.role);
  const content = withoutControls(message.content);
  const fence = fenceFor(content);
  const body = content.endsWith('\n') || content === '' ? content : `${content}\n`;
  return `\n## ${role} · ${inline(message.time)} · message ${message.id}\n\n${fence}\n${body}${fence}\n`;
}

/** The JSON form's opening, up to its messages list: the header's facts, in a stable order. */
export function jsonOpening(facts: TranscriptFacts): string {
  const { leftOutWhy: _, ...shown } = facts;
  const top = JSON.stringify(shown, null, 2);
  // The object without its closing brace, then the list the messages go into.
  return `${top.slice(0, top.lastIndexOf('}')).trimEnd()},\n  "messages": [`;
}

/** One message of the JSON form (`first`: the list's first, without a comma before it). */
export function jsonMessage(message: TranscriptMessage, first: boolean): string {
  const { id, role, time, content } = message;
  return `${first ? '' : ','}\n    ${JSON.stringify({ id, role, time, content })}`;
}

export const JSON_CLOSING = '\n  ]\n}\n';
