/**
 * JsonValueSplitter cuts a byte stream into the JSON values it holds, one
 * after another with optional whitespace between them, as Go's json.Decoder
 * reads a request body: etcd's gateway decodes a unary request from the
 * first value of the body and a streaming call's requests from every value
 * in turn. Pure: bytes in, value texts out; parsing the texts is the
 * caller's. No socket and no JSON.parse in here.
 *
 * Bound: the text of one value (complete or not) may not exceed
 * `valueBytesMax` UTF-8 bytes; past it `feed` throws a
 * {@link JsonValueTooLargeError} and the splitter is unusable.
 */

/** JsonValueTooLargeError: one JSON value of the body exceeds the splitter's bound. */
export class JsonValueTooLargeError extends Error {
  readonly code = "valueTooLarge";

  constructor(readonly valueBytesMax: number) {
    super(`synod: request message larger than max (${valueBytesMax} bytes)`);
    this.name = "JsonValueTooLargeError";
  }
}

/** JsonEndError: the body ended inside a value (Go's "unexpected EOF"). */
export class JsonEndError extends Error {
  readonly code = "unexpectedEof";

  constructor() {
    super("unexpected EOF");
    this.name = "JsonEndError";
  }
}

const whitespace = new Set([0x20, 0x09, 0x0a, 0x0d]);
const openObject = 0x7b;
const closeObject = 0x7d;
const openArray = 0x5b;
const closeArray = 0x5d;
const quote = 0x22;
const backslash = 0x5c;

/** startsValue: the byte may begin a JSON value (object, array, string, number, literal). */
function startsValue(byte: number): boolean {
  return byte === openObject || byte === openArray || byte === quote || byte === 0x2d || (byte >= 0x30 && byte <= 0x39) || byte === 0x74 || byte === 0x66 || byte === 0x6e;
}

/** See the file comment. */
export class JsonValueSplitter {
  /** pending holds the bytes of the value in progress (from its first byte), across chunks. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Scanner state of the value in progress: nesting depth, inside a string, after a backslash. */
  private started = false;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** scalar is true while the value in progress is a bare top-level scalar (number, literal). */
  private scalar = false;

  constructor(readonly valueBytesMax: number) {
    if (!Number.isSafeInteger(valueBytesMax) || valueBytesMax < 1) throw new RangeError(`JsonValueSplitter: valueBytesMax ${valueBytesMax}`);
  }

  /** feed takes the next chunk and returns the texts of the values it completed, in order. */
  feed(chunk: Uint8Array): string[] {
    const values: string[] = [];
    let valueStart = this.started ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] ?? 0;
      if (!this.started) {
        if (whitespace.has(byte)) continue;
        if (!startsValue(byte)) {
          // Not JSON at all: hand the byte over at once, so the caller fails the call now, as Go's decoder does.
          values.push(Buffer.from([byte]).toString("latin1"));
          continue;
        }
        this.begin(byte);
        valueStart = i;
        continue;
      }
      if (this.step(byte)) {
        values.push(this.take(chunk.subarray(valueStart, this.scalar ? i : i + 1)));
        // A bare scalar ends at the byte after it, which may itself start the next value.
        const wasScalar = this.scalar;
        this.reset();
        valueStart = -1;
        if (wasScalar && !whitespace.has(byte) && startsValue(byte)) {
          this.begin(byte);
          valueStart = i;
        }
      }
    }
    if (this.started && valueStart >= 0) this.keep(chunk.subarray(valueStart));
    return values;
  }

  /**
   * end is called when the body is over: it returns the last value if the
   * body ended right after a bare scalar, and throws {@link JsonEndError} if
   * it ended inside an object, array or string.
   */
  end(): string[] {
    if (!this.started) return [];
    if (this.scalar) {
      const text = this.take(new Uint8Array(0));
      this.reset();
      return [text];
    }
    throw new JsonEndError();
  }

  /** idle is true between values (nothing of a next value seen yet). */
  get idle(): boolean {
    return !this.started;
  }

  private begin(byte: number): void {
    this.started = true;
    this.scalar = false;
    if (byte === openObject || byte === openArray) this.depth = 1;
    else if (byte === quote) this.inString = true;
    else this.scalar = true;
  }

  /** step scans one byte after the first of a value; true when the value is complete (for a scalar: `byte` is past it). */
  private step(byte: number): boolean {
    if (this.scalar) return whitespace.has(byte) || byte === openObject || byte === openArray || byte === quote || byte === closeObject || byte === closeArray;
    if (this.inString) {
      if (this.escaped) this.escaped = false;
      else if (byte === backslash) this.escaped = true;
      else if (byte === quote) {
        this.inString = false;
        return this.depth === 0;
      }
      return false;
    }
    if (byte === quote) this.inString = true;
    else if (byte === openObject || byte === openArray) this.depth++;
    else if (byte === closeObject || byte === closeArray) {
      this.depth--;
      return this.depth === 0;
    }
    return false;
  }

  private keep(bytes: Uint8Array): void {
    this.pendingBytes += bytes.length;
    if (this.pendingBytes > this.valueBytesMax) throw new JsonValueTooLargeError(this.valueBytesMax);
    this.pending.push(Buffer.from(bytes));
  }

  private take(last: Uint8Array): string {
    this.keep(last);
    const text = Buffer.concat(this.pending).toString("utf8");
    this.pending = [];
    this.pendingBytes = 0;
    return text;
  }

  private reset(): void {
    this.started = false;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.scalar = false;
  }
}
