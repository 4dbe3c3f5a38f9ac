// Keeps the last N elements of the top-level "messages" array of a JSON body as it streams in,
// without parsing the whole body: a long task's /messages reaches hundreds of MB, and only the
// last few messages are wanted. It tracks just enough JSON structure (strings, escapes, depth,
// the top-level keys) to find element boundaries; the kept elements are parsed afterwards.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

export class NotJsonError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'NotJsonError';
  }
}

export interface LastElements {
  /** Elements in the whole array. */
  total: number;
  /** The raw JSON text of the last `keep` elements, oldest first. */
  kept: Buffer[];
}

export class LastElementsScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private expectingKey = false;
  /** Bytes of a top-level key being read; undefined when not reading one. */
  private key: number[] | undefined;
  private lastKey: string | undefined;
  private inArray = false;
  private sawArray = false;
  /** Parts of the element being read; undefined between elements. */
  private element: Buffer[] | undefined;
  private total = 0;
  private readonly kept: Buffer[] = [];

  constructor(
    private readonly keep: number,
    private readonly arrayKey = 'messages',
  ) {}

  push(chunk: Uint8Array): void {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let elementFrom = this.element ? 0 : -1;
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
          this.key?.push(bytes[i]);
          i++;
          continue;
        }
        // Most bytes are string content: jump to the next quote or backslash.
        if (nextQuote !== -1 && nextQuote < i) nextQuote = bytes.indexOf(QUOTE, i);
        if (nextSlash !== -1 && nextSlash < i) nextSlash = bytes.indexOf(BACKSLASH, i);
        const stop = nextSlash === -1 || (nextQuote !== -1 && nextQuote < nextSlash) ? nextQuote : nextSlash;
        if (stop === -1) {
          if (this.key) for (let k = i; k < n; k++) this.key.push(bytes[k]);
          i = n;
          break;
        }
        if (this.key) for (let k = i; k < stop; k++) this.key.push(bytes[k]);
        if (bytes[stop] === BACKSLASH) this.escaped = true;
        else {
          this.inString = false;
          if (this.key) {
            this.lastKey = Buffer.from(this.key).toString('utf8');
            this.key = undefined;
          }
        }
        i = stop + 1;
        continue;
      }
      const c = bytes[i];
      if (
        this.inArray &&
        this.depth === 2 &&
        !this.element &&
        c !== CLOSE_ARRAY &&
        c !== COMMA &&
        !isSpace(c)
      ) {
        if (c !== OPEN_OBJECT) throw new NotJsonError(`${this.arrayKey}[${this.total}] is not an object`);
        this.element = [];
        elementFrom = i;
      }
      switch (c) {
        case QUOTE:
          this.inString = true;
          if (this.depth === 1 && this.expectingKey) this.key = [];
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
          if (this.inArray && this.depth === 2 && this.element) {
            if (this.keep > 0) this.element.push(bytes.subarray(elementFrom, i + 1));
            this.finishElement();
            elementFrom = -1;
          } else if (this.inArray && this.depth === 1) {
            this.inArray = false;
          }
          break;
        case COMMA:
          if (this.depth === 1) this.expectingKey = true;
          break;
        case COLON:
          if (this.depth === 1) this.expectingKey = false;
          break;
      }
      i++;
    }
    // An element continues in the next chunk: keep a copy of its part (nothing, when counting only).
    if (this.element && elementFrom !== -1 && this.keep > 0)
      this.element.push(Buffer.from(bytes.subarray(elementFrom)));
  }

  end(): LastElements {
    if (this.inString || this.depth !== 0) throw new NotJsonError('it ends in the middle of a value');
    if (!this.sawArray) throw new NotJsonError(`it has no "${this.arrayKey}" list`);
    return { total: this.total, kept: this.kept };
  }

  private finishElement(): void {
    this.total++;
    if (this.keep > 0) {
      this.kept.push(
        this.element?.length === 1 ? Buffer.from(this.element[0]) : Buffer.concat(this.element ?? []),
      );
      if (this.kept.length > this.keep) this.kept.shift();
    }
    this.element = undefined;
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Streams `body` through the scanner. */
export async function lastElements(
  body: AsyncIterable<Uint8Array>,
  keep: number,
  arrayKey = 'messages',
): Promise<LastElements> {
  const scanner = new LastElementsScanner(keep, arrayKey);
  for await (const chunk of body) scanner.push(chunk);
  return scanner.end();
}
