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
  /**
   * Given every accepted element as it ends, oldest first (a transcript written as it streams):
   * the kept ones are still kept, up to `keep` (0: none, and `each` still sees every element).
   */
  each?: (element: EachElement) => void;
}

/** An element as `each` gets it: its JSON as text (each element is parsed at once, no copy kept). */
export interface EachElement {
  index: number;
  json: string;
  cut: boolean;
  problem?: string;
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
    // Stryker disable next-line ConditionalExpression,EqualityOperator,ArithmeticOperator: growing when not needed only costs memory
    if (this.len + n > this.buf.length) {
      // Stryker disable next-line MethodExpression,ArithmeticOperator: how much to grow is a speed choice; Buffer#copy fails loudly if too little
      const grown = Buffer.alloc(Math.max(this.len + n, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    // Buffer#copy: no view object per call (a subarray per value adds up over a long transcript).
    Buffer.prototype.copy.call(src, this.buf, this.len, from, to);
    this.len += n;
  }

  /** Whether the captured bytes are exactly `name` (no decoding, no allocation). */
  is(name: Buffer): boolean {
    if (this.overflow || this.len !== name.length) return false;
    for (let k = 0; k < this.len; k++) if (this.buf[k] !== name[k]) return false;
    return true;
  }

  /** The captured bytes as text (in tail mode, as copyTo() copies them). */
  text(): string {
    return this.buf.toString('utf8', 0, this.size());
  }

  /** How many bytes copyTo() copies. */
  size(): number {
    if (this.tail && this.len > this.limit) this.compact(this.len - this.limit);
    return this.len;
  }

  /** Copies the captured bytes (in tail mode, no more than `limit`, starting at a safe place). */
  copyTo(target: Buffer): void {
    this.buf.copy(target, 0, 0, this.size());
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
  /** The names of interest with their bytes, to compare keys against. */
  private readonly fieldKeys: [string, Buffer][];
  private readonly topKeys: [string, Buffer][];
  private readonly arrayKeyBytes: Buffer;
  /** Each field with the bytes of `"name":` in the element's JSON text. */
  private readonly fieldCost: [string, number][];
  private readonly top = new Map<string, string>();
  private readonly keyLimit: number;
  private readonly budget: number;

  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Depth 1: the next string is a key. */
  private expectingKey = false;
  /** The last top-level key read was the array's. */
  private isArrayKey = false;
  private inArray = false;
  private sawArray = false;
  /** The top-level object began. */
  private sawTop = false;

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
  /** Captured values other than the tail field's, as JSON text (small: decoded at once). */
  private captured = new Map<string, string>();
  /** The tail field's raw string bytes (possibly hundreds of KB): kept as bytes, decoded only if kept. */
  private tailValue: Buffer | undefined;
  private problem: string | undefined;
  private elementCut = false;

  private total = 0;
  private rejected = 0;
  private firstRejected: ReadonlyMap<string, string> | undefined;
  private readonly kept: Pending[] = [];
  /** Buffers of dropped tails, for reuse. */
  private readonly pool: Buffer[] = [];
  /** Bytes of the kept elements other than the newest. */
  private olderBytes = 0;

  constructor(private readonly options: ScanOptions) {
    this.arrayKey = options.arrayKey ?? 'messages';
    const keys = (names: readonly string[]) =>
      names.map((name): [string, Buffer] => [name, Buffer.from(name)]);
    // Stryker disable next-line ConditionalExpression,EqualityOperator,ArrayDeclaration: fields captured for no one only cost time
    this.fieldKeys = keys(options.keep > 0 || options.each ? options.fields : []);
    this.topKeys = keys(options.topFields ?? []);
    this.arrayKeyBytes = Buffer.from(this.arrayKey);
    this.fieldCost = options.fields.map((f) => [f, Buffer.byteLength(JSON.stringify(f)) + 1]);
    this.keyLimit = Math.max(TOP_KEY_LIMIT, ...options.fields.map((f) => Buffer.byteLength(f)));
    this.budget = options.budgetBytes ?? Number.POSITIVE_INFINITY;
    this.keyCapture = new Capture(this.keyLimit, false);
    this.tailCapture = new Capture(options.tailBytes ?? 1 << 20, true);
    this.fieldCapture = new Capture(options.fieldBytes ?? 1024, false);
  }

  push(chunk: Uint8Array): void {
    // A Buffer view, not the Uint8Array: its indexOf is memchr, the typed array's a loop.
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let i = 0;
    const n = bytes.length;
    // A value being captured is copied once per chunk, from here to where it ends (or the chunk
    // does), escapes and all: copying run by run between escapes would cost more than scanning.
    let sinkFrom = 0;
    while (i < n) {
      if (this.inString) {
        // Most bytes are string content: jump from quote to quote (memchr) and tell an escaped
        // quote by the backslashes before it, so escapes themselves cost nothing.
        const quote = bytes.indexOf(QUOTE, i);
        const end = quote === -1 ? n : quote;
        let run = 0;
        while (end - run > i && bytes[end - 1 - run] === BACKSLASH) run++;
        // A run that reaches back to `i` continues one from before it (`escaped`).
        const odd = (run + (end - run === i && this.escaped ? 1 : 0)) % 2 === 1;
        if (quote === -1) {
          this.escaped = odd;
          i = n;
          break;
        }
        this.escaped = false;
        if (!odd) {
          this.sink?.push(bytes, sinkFrom, quote);
          this.endString();
        }
        i = quote + 1;
        continue;
      }
      const c = bytes[i];
      // Outside the one top-level object only whitespace may stand (a file of NUL bytes, a text
      // that is not JSON: said at its first byte, not after reading all of it).
      if (this.depth === 0 && c !== OPEN_OBJECT && c !== CLOSE_OBJECT && c !== CLOSE_ARRAY && !isSpace(c)) {
        throw new NotJsonError(
          this.sawTop ? 'more follows the JSON object' : 'the body is not a JSON object',
        );
      }
      if (this.inScalar) {
        if (c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY || isSpace(c)) {
          this.sink?.push(bytes, sinkFrom, i);
          this.endScalar();
        } else {
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
          sinkFrom = i;
          i++;
          continue;
        }
      }
      switch (c) {
        case QUOTE:
          this.inString = true;
          sinkFrom = i + 1;
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
          if (c === OPEN_ARRAY && this.depth === 1 && !this.expectingKey && this.isArrayKey) {
            this.inArray = true;
            this.sawArray = true;
          }
          this.depth++;
          if (this.depth === 1) {
            if (this.sawTop) throw new NotJsonError('more follows the JSON object');
            this.sawTop = true;
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
    // A value that goes on in the next chunk: keep this chunk's part of it.
    if (this.sink && (this.inString || this.inScalar)) this.sink.push(bytes, sinkFrom, n);
  }

  end(): LastElements {
    if (this.inScalar) this.endScalar();
    if (this.inString || this.depth !== 0) throw new NotJsonError('it ends in the middle of a value');
    if (!this.sawArray) throw new NotJsonError(`it has no "${this.arrayKey}" list`);
    return {
      total: this.total,
      kept: this.kept.map((e) => ({
        index: e.index,
        json: this.toJson(e),
        cut: e.cut,
        ...(e.problem ? { problem: e.problem } : {}),
      })),
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
      // Keys are only compared with the few names of interest, never decoded.
      const names = this.depth === 1 ? this.topKeys : this.fieldKeys;
      this.valueFor = undefined;
      for (const [name, bytes] of names) if (sink.is(bytes)) this.valueFor = name;
      if (this.depth === 1) this.isArrayKey = sink.is(this.arrayKeyBytes);
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
    if (this.depth !== 1 && sink === this.tailCapture) {
      // Copied, not decoded: most elements are passed over, and decoding every big string of a
      // long transcript would cost more than all the scanning.
      this.tailValue = this.copyToPooled(sink);
      if (sink.cut) this.elementCut = true;
      return;
    }
    const raw = sink.text();
    (this.depth === 1 ? this.top : this.captured).set(field, isString ? `"${raw}"` : raw);
  }

  private startElement(): void {
    this.inElement = true;
    this.elementExpectingKey = true;
    this.valueFor = undefined;
    this.captured = new Map();
    this.tailValue = undefined;
    this.problem = undefined;
    this.elementCut = false;
  }

  private finishElement(): void {
    this.inElement = false;
    this.total++;
    const { each } = this.options;
    if (this.options.keep <= 0 && !each) return;
    if (this.options.accept && !this.problem && !this.options.accept(this.captured)) {
      this.rejected++;
      this.firstRejected ??= this.captured;
      return;
    }
    const element: Pending = {
      index: this.total - 1,
      fields: this.captured,
      tail: this.tailValue,
      cut: this.elementCut,
      problem: this.problem,
      size: 0,
    };
    if (each) {
      each({
        index: element.index,
        json: this.toJsonText(element),
        cut: element.cut,
        ...(element.problem ? { problem: element.problem } : {}),
      });
      // Stryker disable next-line ConditionalExpression,EqualityOperator,BlockStatement: with nothing to keep, the element is dropped below anyway; this only reuses its buffer sooner
      if (this.options.keep <= 0) {
        // Its tail was copied into the JSON: the buffer serves the next element.
        if (element.tail) this.pool.push(element.tail);
        return;
      }
    }
    element.size = this.jsonBytes(element);
    const newest = this.kept.at(-1);
    if (newest) this.olderBytes += newest.size;
    this.kept.push(element);
    while (this.kept.length > this.options.keep || (this.kept.length > 1 && this.olderBytes > this.budget)) {
      // Never the newest: at least one other is kept.
      const dropped = this.kept.shift() as Pending;
      this.olderBytes -= dropped.size;
      if (dropped.tail) this.pool.push(dropped.tail);
    }
  }

  /**
   * A copy of `bytes` in a buffer of the pool: the tails of dropped elements are reused, so a long
   * transcript does not allocate (and collect) one buffer per message.
   */
  private copyToPooled(capture: Capture): Buffer {
    const length = capture.size();
    let store = this.pool.pop();
    if (!store || store.buffer.byteLength - store.byteOffset < length) {
      // Stryker disable next-line MethodExpression,ArithmeticOperator: a minimum size only spares reallocations
      store = Buffer.allocUnsafeSlow(Math.max(length, 16 * 1024));
    }
    const view = Buffer.from(store.buffer, store.byteOffset, length);
    capture.copyTo(view);
    return view;
  }

  /** The byte length toJson() will give, without building it. */
  private jsonBytes(element: Pending): number {
    let bytes = 2;
    let present = 0;
    for (const [field, keyBytes] of this.fieldCost) {
      const value = element.fields.get(field);
      const length =
        field === this.options.tailField && element.tail
          ? element.tail.length + 2
          : value !== undefined
            ? Buffer.byteLength(value)
            : -1;
      if (length < 0) continue;
      bytes += keyBytes + length;
      present++;
    }
    return bytes + Math.max(0, present - 1);
  }

  /** The same as toJson(), as a string: no buffer per field (a transcript builds one per message). */
  private toJsonText(element: Pending): string {
    let text = '{';
    for (const field of this.options.fields) {
      const value = element.fields.get(field);
      let part: string;
      if (field === this.options.tailField && element.tail)
        part = `${JSON.stringify(field)}:"${element.tail.toString('utf8')}"`;
      else if (value !== undefined) part = `${JSON.stringify(field)}:${value}`;
      else continue;
      text += text.length > 1 ? `,${part}` : part;
    }
    return `${text}}`;
  }

  /** The JSON text of a kept element: its captured fields only, in `fields` order. */
  private toJson(element: Pending): Buffer {
    const parts: Buffer[] = [];
    for (const field of this.options.fields) {
      const value = element.fields.get(field);
      if (field === this.options.tailField && element.tail) {
        parts.push(Buffer.from(`${JSON.stringify(field)}:"`), element.tail, Buffer.from('"'));
      } else if (value !== undefined) {
        parts.push(Buffer.from(`${JSON.stringify(field)}:${value}`));
      } else continue;
      parts.push(Buffer.from(','));
    }
    if (parts.length) parts.pop();
    return Buffer.concat([Buffer.from('{'), ...parts, Buffer.from('}')]);
  }
}

/** An element kept so far, its JSON built only if it is still kept at the end. */
interface Pending {
  index: number;
  fields: ReadonlyMap<string, string>;
  tail?: Buffer;
  cut: boolean;
  problem?: string;
  /** The bytes of its JSON text, for the budget. */
  size: number;
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
