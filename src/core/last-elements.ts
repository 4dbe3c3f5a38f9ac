// Keeps the last N elements of the top-level "messages" array of a JSON body as it streams in,
// without parsing the whole body: a long task's /messages reaches hundreds of MB, and only the
// last few messages are wanted. It tracks just enough JSON structure (strings, escapes, depth,
// keys) to find element boundaries and to capture the few fields of each element we use.
//
// Memory is bounded whatever the body holds (AgentAPI's output is whatever the agent printed):
// keys are read only as far as a known name needs, unknown fields are skipped, a huge string
// field keeps only its tail (`tailBytes`), and the kept elements other than the newest stay
// within `budgetBytes`. Callers choose those limits so that nothing cut could have been sent.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** Top-level keys longer than this are not the array's key: only their first bytes are read. */
const TOP_KEY_LIMIT = 64;

export class NotJsonError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'NotJsonError';
  }
}

export interface ScanOptions {
  /** How many of the last accepted elements to keep (0: count only). */
  keep: number;
  /** The top-level key of the array. */
  arrayKey?: string;
  /** The fields captured from each element, in the order they are written back. */
  fields: readonly string[];
  /** A string field of which only the last `tailBytes` raw bytes are kept. */
  tailField?: string;
  tailBytes?: number;
  /** Largest raw value of any other captured field. */
  fieldBytes?: number;
  /** Raw bytes the kept elements other than the newest may hold together. */
  budgetBytes?: number;
  /** Scalar or string fields of the top-level object to capture too (e.g. a format version). */
  topFields?: readonly string[];
  /** Decides from the captured raw values (JSON text) whether an element is kept or left out. */
  accept?: (fields: ReadonlyMap<string, string>) => boolean;
}

export interface KeptElement {
  /** Its position in the whole array. */
  index: number;
  /** JSON text of the element, made of the captured fields only. */
  json: Buffer;
  /** Whether the tail field was cut to its last `tailBytes`. */
  cut: boolean;
  /** A captured field that could not be read (too large, or not a value). */
  problem?: string;
}

export interface LastElements {
  /** Elements in the whole array, left out or not. */
  total: number;
  /** The last `keep` accepted elements, oldest first. */
  kept: KeptElement[];
  /** Elements `accept` refused. */
  rejected: number;
  /** The raw values of the first refused element's fields, for a message. */
  firstRejected?: ReadonlyMap<string, string>;
  /** The captured top-level fields, as raw JSON text. */
  top: ReadonlyMap<string, string>;
}

/** Bytes of a value as they arrive; `limit` ends capture (too large), `tail` keeps only the end. */
class Capture {
  private buf = Buffer.alloc(256);
  private len = 0;
  /** The first bytes were dropped (tail mode). */
  cut = false;
  /** More than `limit` bytes arrived (head mode). */
  overflow = false;

  constructor(
    private readonly limit: number,
    private readonly tail: boolean,
  ) {}

  reset(): void {
    this.len = 0;
    this.cut = false;
    this.overflow = false;
  }

  push(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (this.overflow || n <= 0) return;
    if (this.tail) {
      if (n >= this.limit) {
        // The run alone fills the tail. Runs longer than one byte come from the plain part of
        // a string (no backslash), so any byte but a UTF-8 continuation may start the tail.
        let start = to - this.limit;
        while (start < to && (src[start] & 0xc0) === 0x80) start++;
        if (start > from || this.len > 0) this.cut = true;
        this.len = 0;
        this.append(src, start, to);
        return;
      }
      // Append first, then cut: compact() then sees old and new bytes as one, escapes and UTF-8
      // sequences that span the two included.
      this.append(src, from, to);
      if (this.len > 2 * this.limit) this.compact(this.len - this.limit);
      return;
    }
    if (this.len + n > this.limit) {
      this.overflow = true;
      return;
    }
    this.append(src, from, to);
  }

  private append(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (this.len + n > this.buf.length) {
      const grown = Buffer.alloc(Math.max(this.len + n, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    this.buf.set(src.subarray(from, to), this.len);
    this.len += n;
  }

  /** The captured bytes; in tail mode, no more than `limit` of them, starting at a safe place. */
  bytes(): Buffer {
    if (this.tail && this.len > this.limit) this.compact(this.len - this.limit);
    return this.buf.subarray(0, this.len);
  }

  /**
   * Drops at least `drop` bytes from the front, ending at a place where a JSON string may
   * start: not inside an escape (`\"`, `\\`) and not inside a UTF-8 sequence. The buffer always
   * starts at such a place, so counting the backslashes just before a position tells whether
   * it is escaped (an odd run).
   */
  private compact(drop: number): void {
    let at = Math.min(drop, this.len);
    let run = 0;
    while (run < at && this.buf[at - 1 - run] === BACKSLASH) run++;
    if (run % 2 === 1) at++;
    while (at < this.len && (this.buf[at] & 0xc0) === 0x80) at++;
    if (at === 0) return;
    this.buf.copy(this.buf, 0, at, this.len);
    this.len -= at;
    this.cut = true;
  }
}

export class LastElementsScanner {
  private readonly arrayKey: string;
  private readonly fieldNames: Set<string>;
  private readonly topFieldNames: Set<string>;
  private readonly top = new Map<string, string>();
  private readonly keyLimit: number;
  private readonly budget: number;

  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Depth 1: the next string is a key. */
  private expectingKey = false;
  private lastKey: string | undefined;
  private inArray = false;
  private sawArray = false;

  /** Inside an element (depth 3): the next string is a key. */
  private inElement = false;
  private elementExpectingKey = false;
  /** The field whose value comes next, if it is one we capture. */
  private valueFor: string | undefined;
  /** Capturing a scalar (number, true, false, null) at depth 3. */
  private inScalar = false;
  /** Where the bytes of the string or scalar being read go, if anywhere. */
  private sink: Capture | undefined;
  private readonly keyCapture: Capture;
  private readonly tailCapture: Capture;
  private readonly fieldCapture: Capture;
  private captured = new Map<string, string>();
  private problem: string | undefined;
  private elementCut = false;

  private total = 0;
  private rejected = 0;
  private firstRejected: ReadonlyMap<string, string> | undefined;
  private readonly kept: KeptElement[] = [];
  /** Bytes of the kept elements other than the newest. */
  private olderBytes = 0;

  constructor(private readonly options: ScanOptions) {
    this.arrayKey = options.arrayKey ?? 'messages';
    this.fieldNames = new Set(options.keep > 0 ? options.fields : []);
    this.topFieldNames = new Set(options.topFields ?? []);
    this.keyLimit = Math.max(TOP_KEY_LIMIT, ...options.fields.map((f) => Buffer.byteLength(f)));
    this.budget = options.budgetBytes ?? Number.POSITIVE_INFINITY;
    this.keyCapture = new Capture(this.keyLimit, false);
    this.tailCapture = new Capture(options.tailBytes ?? 1 << 20, true);
    this.fieldCapture = new Capture(options.fieldBytes ?? 1024, false);
  }

  push(chunk: Uint8Array): void {
    const bytes = chunk;
    let i = 0;
    const n = bytes.length;
    // Where the next quote and backslash are in this chunk (-1: none left), each found once and
    // reused until passed: searching afresh after every escape would rescan long strings.
    let nextQuote = -2;
    let nextSlash = -2;
    while (i < n) {
      if (this.inString) {
        if (this.escaped) {
          this.escaped = false;
          this.sink?.push(bytes, i, i + 1);
          i++;
          continue;
        }
        // Most bytes are string content: jump to the next quote or backslash.
        if (nextQuote !== -1 && nextQuote < i) nextQuote = bytes.indexOf(QUOTE, i);
        if (nextSlash !== -1 && nextSlash < i) nextSlash = bytes.indexOf(BACKSLASH, i);
        const stop = nextSlash === -1 || (nextQuote !== -1 && nextQuote < nextSlash) ? nextQuote : nextSlash;
        if (stop === -1) {
          this.sink?.push(bytes, i, n);
          i = n;
          break;
        }
        this.sink?.push(bytes, i, stop);
        if (bytes[stop] === BACKSLASH) {
          this.escaped = true;
          this.sink?.push(bytes, stop, stop + 1);
        } else this.endString();
        i = stop + 1;
        continue;
      }
      const c = bytes[i];
      if (this.inScalar) {
        if (c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY || isSpace(c)) this.endScalar();
        else {
          this.sink?.push(bytes, i, i + 1);
          i++;
          continue;
        }
      }
      if (this.inArray && this.depth === 2 && c !== CLOSE_ARRAY && c !== COMMA && !isSpace(c)) {
        if (c !== OPEN_OBJECT) throw new NotJsonError(`${this.arrayKey}[${this.total}] is not an object`);
        this.startElement();
      } else if (this.valueFor && (this.depth === 1 ? !this.expectingKey : !this.elementExpectingKey)) {
        // The first byte of a captured field's value.
        if (c === QUOTE) {
          this.sink = this.valueFor === this.options.tailField ? this.tailCapture : this.fieldCapture;
          this.sink.reset();
        } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
          this.problem ??= `${this.valueFor} is not a single value`;
          this.valueFor = undefined;
        } else if (!isSpace(c) && c !== COMMA && c !== CLOSE_OBJECT) {
          this.inScalar = true;
          this.sink = this.fieldCapture;
          this.sink.reset();
          this.sink.push(bytes, i, i + 1);
          i++;
          continue;
        }
      }
      switch (c) {
        case QUOTE:
          this.inString = true;
          if (
            (this.depth === 1 && this.expectingKey) ||
            (this.depth === 3 && this.inElement && this.elementExpectingKey)
          ) {
            this.sink = this.keyCapture;
            this.sink.reset();
          }
          break;
        case OPEN_OBJECT:
        case OPEN_ARRAY:
          if (c === OPEN_ARRAY && this.depth === 1 && !this.expectingKey && this.lastKey === this.arrayKey) {
            this.inArray = true;
            this.sawArray = true;
          }
          this.depth++;
          if (this.depth === 1) {
            if (c !== OPEN_OBJECT) throw new NotJsonError('the body is not a JSON object');
            this.expectingKey = true;
          }
          break;
        case CLOSE_OBJECT:
        case CLOSE_ARRAY:
          this.depth--;
          if (this.depth < 0) throw new NotJsonError('a bracket closes that was never opened');
          if (this.inElement && this.depth === 2) this.finishElement();
          else if (this.inArray && this.depth === 1) this.inArray = false;
          break;
        case COMMA:
          if (this.depth === 1) {
            this.expectingKey = true;
            this.valueFor = undefined;
          } else if (this.inElement && this.depth === 3) {
            this.elementExpectingKey = true;
            this.valueFor = undefined;
          }
          break;
        case COLON:
          if (this.depth === 1) this.expectingKey = false;
          else if (this.inElement && this.depth === 3) this.elementExpectingKey = false;
          break;
      }
      i++;
    }
  }

  end(): LastElements {
    if (this.inScalar) this.endScalar();
    if (this.inString || this.depth !== 0) throw new NotJsonError('it ends in the middle of a value');
    if (!this.sawArray) throw new NotJsonError(`it has no "${this.arrayKey}" list`);
    return {
      total: this.total,
      kept: this.kept,
      rejected: this.rejected,
      firstRejected: this.firstRejected,
      top: this.top,
    };
  }

  private endString(): void {
    this.inString = false;
    const sink = this.sink;
    this.sink = undefined;
    if (!sink) return;
    if (sink === this.keyCapture) {
      const key = sink.overflow ? undefined : sink.bytes().toString('utf8');
      const names = this.depth === 1 ? this.topFieldNames : this.fieldNames;
      if (this.depth === 1) this.lastKey = key;
      this.valueFor = key !== undefined && names.has(key) ? key : undefined;
      return;
    }
    this.storeValue(sink, true);
  }

  private endScalar(): void {
    this.inScalar = false;
    const sink = this.sink;
    this.sink = undefined;
    if (sink) this.storeValue(sink, false);
  }

  private storeValue(sink: Capture, isString: boolean): void {
    const field = this.valueFor as string;
    this.valueFor = undefined;
    if (sink.overflow) {
      this.problem ??= `${field} is longer than ${this.options.fieldBytes ?? 1024} bytes`;
      return;
    }
    const raw = sink.bytes().toString('utf8');
    if (sink.cut) this.elementCut = true;
    (this.depth === 1 ? this.top : this.captured).set(field, isString ? `"${raw}"` : raw);
  }

  private startElement(): void {
    this.inElement = true;
    this.elementExpectingKey = true;
    this.valueFor = undefined;
    this.captured = new Map();
    this.problem = undefined;
    this.elementCut = false;
  }

  private finishElement(): void {
    this.inElement = false;
    this.total++;
    if (this.options.keep <= 0) return;
    if (this.options.accept && !this.problem && !this.options.accept(this.captured)) {
      this.rejected++;
      this.firstRejected ??= this.captured;
      return;
    }
    const parts: string[] = [];
    for (const field of this.options.fields) {
      const value = this.captured.get(field);
      if (value !== undefined) parts.push(`${JSON.stringify(field)}:${value}`);
    }
    const element: KeptElement = {
      index: this.total - 1,
      json: Buffer.from(`{${parts.join(',')}}`, 'utf8'),
      cut: this.elementCut,
    };
    if (this.problem) element.problem = this.problem;
    const newest = this.kept.at(-1);
    if (newest) this.olderBytes += newest.json.length;
    this.kept.push(element);
    while (this.kept.length > this.options.keep || (this.kept.length > 1 && this.olderBytes > this.budget)) {
      // Never the newest: at least one other is kept.
      this.olderBytes -= (this.kept.shift() as KeptElement).json.length;
    }
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Streams `body` through the scanner. */
export async function lastElements(
  body: AsyncIterable<Uint8Array>,
  options: ScanOptions,
): Promise<LastElements> {
  const scanner = new LastElementsScanner(options);
  for await (const chunk of body) scanner.push(chunk);
  return scanner.end();
}
