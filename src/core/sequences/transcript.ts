// The sequence behind `transcript`: the whole conversation, oldest first, from the running AgentAPI
// (GET /messages) or, when none answers or the caller says so, from AgentAPI's state file; as
// Markdown or JSON (task/transcript.ts), written as it streams.
//
// A conversation of hundreds of MB is never held: the whole of it is read twice, the first time
// for what the header says (how many messages, the first and last time), the second time to write
// each message as it arrives; from a state file both through one open file (a save that replaces
// the file meanwhile does not change what is read), from AgentAPI up to the count the first read
// found (newer messages are for the next run). With --max-bytes or --last only the newest that fit
// are wanted: one read keeps them (bounded by those limits), then they are written.

import { getStatus, scanMessages } from '../agentapi/agentapi-client.js';
import {
  type EachElement,
  type KeptElement,
  type LastElements,
  lastElements,
  NotJsonError,
  type ScanOptions,
} from '../agentapi/last-elements.js';
import {
  JSON_CLOSING,
  jsonMessage,
  jsonOpening,
  markdownHeader,
  markdownMessage,
  type TranscriptFacts,
  type TranscriptMessage,
  type TranscriptSource,
} from '../task/transcript.js';
import { describe, EXIT, fsReason, UserError } from '../utils/errors.js';
import { withRegularFile } from '../utils/local-file.js';
import type { Logger } from '../utils/log.js';

export interface TranscriptOptions {
  baseUrl: string;
  /** Read when AgentAPI does not answer, or with `fromState`. */
  stateFile: string;
  fromState: boolean;
  format: 'markdown' | 'json';
  /** The newest whole messages whose text, header included, fits in this many bytes. */
  maxBytes?: number;
  /** At most this many of the newest messages. */
  last?: number;
  taskId?: string;
  /** The agent type, when known otherwise than from AgentAPI (its last start's record). */
  agentType?: string;
  /** One request to AgentAPI. */
  timeoutMs: number;
  logger: Logger;
  /** Where the text goes, as it is made. */
  write: (text: string) => void;
}

export interface TranscriptReport {
  source: TranscriptSource;
  messagesTotal: number;
  messagesShown: number;
  leftOut: number;
  /** Bytes written, as UTF-8. */
  bytes: number;
}

/** The most of one message's raw text kept: beyond it, only its end (and the cut is said). */
const MESSAGE_LIMIT = 16 * 1024 * 1024;
/** How long AgentAPI gets to say it is there before its state file is read instead. */
const ALIVE_TIMEOUT_MS = 2000;
/** A JSON escape is at most 6 bytes for one byte of text: raw bytes enough for any that fits. */
const MAX_ESCAPE_RATIO = 6;

/** What is gathered before one write: a write per message would cost more than the rest (#40). */
const WRITE_CHUNK = 256 * 1024;

export async function runTranscript(o: TranscriptOptions): Promise<TranscriptReport> {
  let pending: string[] = [];
  let pendingLength = 0;
  const flush = () => {
    if (pending.length === 0) return;
    o.write(pending.join(''));
    pending = [];
    pendingLength = 0;
  };
  const write = (text: string) => {
    pending.push(text);
    pendingLength += text.length;
    if (pendingLength >= WRITE_CHUNK) flush();
  };
  try {
    return await transcript(o, write);
  } finally {
    // What was made is written, even when what follows failed (the error says where it stopped).
    flush();
  }
}

async function transcript(o: TranscriptOptions, write: (text: string) => void): Promise<TranscriptReport> {
  let bytes = 0;
  const counting = (text: string) => {
    bytes += Buffer.byteLength(text);
    write(text);
  };
  const produce = async (read: Reading): Promise<TranscriptReport> => {
    const facts = { source: read.source, taskId: o.taskId, agentType: read.agentType ?? o.agentType };
    const limited = o.maxBytes !== undefined || o.last !== undefined;
    const counts = limited
      ? await writeNewest(o, read, facts, counting)
      : await writeAll(o, read, facts, counting);
    return { source: read.source, ...counts, bytes };
  };
  const live = o.fromState ? undefined : await liveAgentApi(o);
  if (live) return produce(live);
  // The state file: every read through one open file, its format checked each time.
  const path = o.stateFile;
  const notState = (why: string) => new UserError(`${path} is not AgentAPI's state file: ${why}`);
  const read = await withRegularFile(path, (handle, stat) =>
    produce({
      source: { kind: 'state-file', path, savedAt: new Date(stat.mtimeMs).toISOString() },
      contentField: 'message',
      scan: async (scan) => {
        let found: LastElements;
        try {
          const stream = handle.createReadStream({ start: 0, autoClose: false });
          found = await lastElements(stream, { ...scan, topFields: ['version'] });
        } catch (error) {
          if (error instanceof NotJsonError) throw notState(error.message);
          if (error instanceof UserError) throw error;
          throw new UserError(`${path} cannot be read (${fsReason(error)})`);
        }
        const version = found.top.get('version');
        if (version !== '1') throw notState(`its format version is ${version ?? 'missing'}, not 1`);
        return found;
      },
    }),
  );
  if ('messagesTotal' in read) return read;
  throw new UserError(
    read.state === 'missing'
      ? `no state file at ${path}: AgentAPI saved no conversation there (--state-file, AGENTAPI_STATE_FILE)`
      : `${path} cannot be read as AgentAPI's state file: ${read.reason}`,
  );
}

/** Where the messages come from, and how to read them (each read from the start). */
interface Reading {
  source: TranscriptSource;
  scan: (scan: ScanOptions) => Promise<LastElements>;
  /** The field that holds a message's text: `content` in GET /messages, `message` in the state file. */
  contentField: string;
  agentType?: string;
}

/** The running AgentAPI, if it answers (unless told to read the state file); says which it read. */
async function liveAgentApi(o: TranscriptOptions): Promise<Reading | undefined> {
  try {
    const status = await getStatus({
      baseUrl: o.baseUrl,
      timeoutMs: Math.min(ALIVE_TIMEOUT_MS, o.timeoutMs),
    });
    o.logger.info(`transcript: reading the conversation from AgentAPI at ${o.baseUrl}`);
    const options = { baseUrl: o.baseUrl, timeoutMs: o.timeoutMs };
    return {
      source: { kind: 'agentapi', url: o.baseUrl },
      // AgentAPI gone or answering nonsense midway: one line, as every expected failure.
      scan: (scan) =>
        scanMessages(options, scan).catch((error: unknown) => {
          throw error instanceof UserError ? error : new UserError(describe(error));
        }),
      contentField: 'content',
      agentType: status.agent_type,
    };
  } catch (error) {
    o.logger.info(
      `transcript: AgentAPI does not answer at ${o.baseUrl} (${describe(error)}); reading its state file ${o.stateFile}`,
    );
    return undefined;
  }
}

/** A message as read; what is not one (a wrong shape) is an error that names where. */
function messageOf(
  element: KeptElement | EachElement,
  contentField: string,
  where: string,
): TranscriptMessage {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(typeof element.json === 'string' ? element.json : element.json.toString('utf8'));
  } catch {
    throw new UserError(`${where}: message ${element.index} is not JSON`);
  }
  const { id, role, time } = raw;
  const content = raw[contentField];
  if (element.problem || typeof role !== 'string' || typeof content !== 'string') {
    throw new UserError(
      `${where}: message ${element.index} is not one of AgentAPI's (${element.problem ?? `${contentField} and role must be text`})`,
    );
  }
  const cut = element.cut ? `[the start of this message, beyond ${MESSAGE_LIMIT} bytes, is left out]\n` : '';
  return {
    id: typeof id === 'number' ? id : element.index,
    role,
    time: typeof time === 'string' ? time : '',
    content: `${cut}${content}`,
  };
}

function fields(
  contentField: string,
): Pick<ScanOptions, 'fields' | 'tailField' | 'tailBytes' | 'fieldBytes'> {
  return {
    fields: ['id', contentField, 'role', 'time'],
    tailField: contentField,
    tailBytes: MESSAGE_LIMIT,
    fieldBytes: 1024,
  };
}

function whereOf(facts: { source: TranscriptSource }): string {
  return facts.source.kind === 'agentapi' ? `AgentAPI's GET /messages` : facts.source.path;
}

type Counts = Pick<TranscriptReport, 'messagesTotal' | 'messagesShown' | 'leftOut'>;

/** The whole conversation: once to count, once to write, one message at a time. */
async function writeAll(
  o: TranscriptOptions,
  { scan, contentField }: Reading,
  facts: Pick<TranscriptFacts, 'source' | 'taskId' | 'agentType'>,
  write: (text: string) => void,
): Promise<Counts> {
  let first: string | undefined;
  let last: string | undefined;
  const where = whereOf(facts);
  // Each message is checked here too (its text only by its last bytes): nothing is written of a
  // conversation that turns out not to be one.
  const counted = await scan({
    keep: 0,
    ...fields(contentField),
    tailBytes: 16,
    each: (element) => {
      const { time } = messageOf(element, contentField, where);
      if (element.index === 0) first = time;
      last = time;
    },
  });
  const total = counted.total;
  const all: TranscriptFacts = {
    ...facts,
    messagesTotal: total,
    messagesShown: total,
    leftOut: 0,
    first,
    last,
  };
  write(o.format === 'json' ? jsonOpening(all) : markdownHeader(all));
  let written = 0;
  await scan({
    keep: 0,
    ...fields(contentField),
    each: (element) => {
      // Newer than the count the header gives: for the next run.
      if (element.index >= total) return;
      const message = messageOf(element, contentField, where);
      write(o.format === 'json' ? jsonMessage(message, written === 0) : markdownMessage(message));
      written++;
    },
  });
  if (o.format === 'json') write(JSON_CLOSING);
  return { messagesTotal: total, messagesShown: written, leftOut: 0 };
}

/** The newest whole messages within --last and --max-bytes: kept in one read, then written. */
async function writeNewest(
  o: TranscriptOptions,
  { scan, contentField }: Reading,
  facts: Pick<TranscriptFacts, 'source' | 'taskId' | 'agentType'>,
  write: (text: string) => void,
): Promise<Counts> {
  let first: string | undefined;
  const found = await scan({
    keep: o.last ?? Number.MAX_SAFE_INTEGER,
    ...fields(contentField),
    // No older message can fit when these newer ones already fill the budget.
    budgetBytes: o.maxBytes === undefined ? undefined : MAX_ESCAPE_RATIO * o.maxBytes + 1024,
    each: (element) => {
      if (element.index === 0) first = timeOf(element);
    },
  });
  const where = whereOf(facts);
  const messages = found.kept.map((element) => messageOf(element, contentField, where));
  const total = found.total;
  const base = { ...facts, messagesTotal: total, first, last: messages.at(-1)?.time };
  const render = (m: TranscriptMessage, isFirst: boolean) =>
    o.format === 'json' ? jsonMessage(m, isFirst) : markdownMessage(m);
  const framing = (shown: number) => {
    const byCount = o.last !== undefined && shown === Math.min(o.last, messages.length);
    const why =
      byCount || o.maxBytes === undefined ? `to keep the newest ${o.last}` : `to fit ${o.maxBytes} bytes`;
    const all: TranscriptFacts = { ...base, messagesShown: shown, leftOut: total - shown, leftOutWhy: why };
    return o.format === 'json' ? [jsonOpening(all), JSON_CLOSING] : [markdownHeader(all), ''];
  };
  // From the newest back, while the whole text still fits (the header's numbers included). In
  // JSON the first message shown has no comma before it: one byte less.
  const sizes = messages.map((m) => Buffer.byteLength(render(m, false)));
  const firstSaves = o.format === 'json' ? 1 : 0;
  const framed = (count: number) => framing(count).reduce((sum, text) => sum + Buffer.byteLength(text), 0);
  const limit = o.maxBytes ?? Number.POSITIVE_INFINITY;
  if (framed(0) > limit) {
    throw new UserError(
      `--max-bytes ${limit} cannot hold even the transcript's header (${framed(0)} bytes)`,
      EXIT.usage,
      {
        usage: 'transcript',
      },
    );
  }
  let shown = 0;
  let body = 0;
  while (shown < messages.length) {
    const next = body + sizes[messages.length - 1 - shown];
    if (framed(shown + 1) + next - firstSaves > limit) break;
    body = next;
    shown++;
  }
  const [opening, closing] = framing(shown);
  write(opening);
  for (const [i, m] of messages.slice(messages.length - shown).entries()) write(render(m, i === 0));
  write(closing);
  return { messagesTotal: total, messagesShown: shown, leftOut: total - shown };
}

function timeOf(element: EachElement): string | undefined {
  try {
    const { time } = JSON.parse(element.json) as { time?: unknown };
    return typeof time === 'string' ? time : undefined;
  } catch {
    return undefined;
  }
}
