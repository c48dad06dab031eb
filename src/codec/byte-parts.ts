/**
 * The bytes of one application object kept as consecutive pieces, so that big pieces reach the
 * socket without being copied (a corked socket sends the pieces of a frame in one writev).
 *
 * Pieces of at least REFERENCE_MIN bytes are kept by reference; smaller ones (length prefixes,
 * JSON, small Buffers) are copied into runs joined on the spot, so a frame never turns into a
 * long list of tiny writes and a small Buffer the caller reuses is never sent from its memory.
 * Joined in order, the pieces are exactly the bytes a single-buffer encoding would produce.
 */

/**
 * Smallest piece written from its own memory. Below this, one copy costs less than one more
 * buffer in the writev list, and small-object frames keep their single-buffer path
 * (docs/DECISIONS.md "Measured choices in the code").
 */
export const REFERENCE_MIN = 16 * 1024;

/**
 * An application object held as pieces, which a frame writes without asking what kind they are:
 * copied into the frame's own buffer, or, when big, handed to the socket by reference.
 */
export abstract class BytePieces {
  /** Total bytes. */
  abstract readonly length: number;
  /** Writes every byte into `buf` at `pos`; returns the position after them. */
  abstract writeTo(buf: Buffer, pos: number): number;
  /** The buffers to write from their own memory, in order; undefined when they are best copied into the frame. */
  abstract references(): readonly Buffer[] | undefined;

  /** All bytes in one new buffer (for callers that need contiguous bytes). */
  join(): Buffer {
    const buf = Buffer.allocUnsafe(this.length);
    this.writeTo(buf, 0);
    return buf;
  }
}

export class ByteParts extends BytePieces {
  /** The pieces, in order; read them only after end(). */
  readonly parts: Buffer[] = [];
  /** Total bytes of all pieces. */
  length = 0;
  #run: Uint8Array[] = [];
  #runBytes = 0;

  /** Appends bytes: referenced when big (the caller must not change them afterwards), else copied. */
  add(bytes: Uint8Array): void {
    const n = bytes.length;
    if (n >= REFERENCE_MIN) {
      this.#flush();
      this.parts.push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, n));
    } else if (n > 0) {
      this.#run.push(bytes);
      this.#runBytes += n;
    }
    this.length += n;
  }

  /** Appends bytes that are always copied, whatever their size (memory the caller may reuse). */
  addCopy(bytes: Uint8Array): void {
    if (bytes.length >= REFERENCE_MIN) {
      this.#flush();
      this.parts.push(Buffer.from(bytes));
      this.length += bytes.length;
    } else {
      this.add(bytes);
    }
  }

  /** Appends a big-endian u32 (a length prefix). */
  addU32(value: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(value, 0);
    this.add(b);
  }

  /** Closes the last run of small pieces; call once, after the last add. */
  end(): this {
    this.#flush();
    return this;
  }

  writeTo(buf: Buffer, pos: number): number {
    for (const part of this.parts) {
      buf.set(part, pos);
      pos += part.length;
    }
    return pos;
  }

  /** Big: every piece from its own memory (small ones were joined into runs already). */
  references(): readonly Buffer[] | undefined {
    return this.length >= REFERENCE_MIN ? this.parts : undefined;
  }

  #flush(): void {
    if (this.#runBytes === 0) return;
    // Always a copy, even for a run of one piece: small caller-owned Buffers are never referenced.
    this.parts.push(Buffer.concat(this.#run, this.#runBytes));
    this.#run = [];
    this.#runBytes = 0;
  }
}

type Utf8Writer = (buf: Buffer, text: string, offset: number, length: number) => number;
/**
 * Buffer#utf8Write: what buf.write(text, offset, length, 'utf8') ends up calling, without its
 * argument parsing (measurable per small frame). Not in Node's typings; write() if it is missing.
 */
export const utf8Write: Utf8Writer = typeof (Buffer.prototype as { utf8Write?: unknown }).utf8Write === 'function'
  ? (buf, text, offset, length) => (buf as unknown as { utf8Write(t: string, o: number, l: number): number }).utf8Write(text, offset, length)
  : (buf, text, offset, length) => buf.write(text, offset, length, 'utf8');

/**
 * Packed invoke arguments that are still JSON text: each text preceded by its u32 byte length
 * (the packed-arguments layout). The frame encoder writes the texts straight into the
 * frame's own buffer: a small call's JSON is turned into bytes once, where it is sent, instead
 * of into a buffer that is copied into an argument pack that is copied into the frame.
 * Joined, the bytes are exactly those of the Buffer encoding (JSON.stringify output is
 * well-formed UTF-16, so Buffer.byteLength is the number of bytes written).
 */
export class TextParts extends BytePieces {
  /** The first text and its byte length (-1: none yet): most calls have one argument, and need no arrays. */
  #first = '';
  #firstSize = -1;
  #rest: string[] | undefined;
  #restSizes: number[] | undefined;
  /** Total bytes, prefixes included. */
  length = 0;

  add(text: string): void {
    const n = Buffer.byteLength(text, 'utf8');
    if (this.#firstSize < 0) {
      this.#first = text;
      this.#firstSize = n;
    } else {
      (this.#rest ??= []).push(text);
      (this.#restSizes ??= []).push(n);
    }
    this.length += n + 4;
  }

  /** Writes every prefix and text into `buf` at `pos`; returns the position after them. */
  writeTo(buf: Buffer, pos: number): number {
    if (this.#firstSize < 0) return pos;
    pos = writeText(buf, pos, this.#first, this.#firstSize);
    const rest = this.#rest;
    if (rest === undefined) return pos;
    const sizes = this.#restSizes!;
    for (let i = 0; i < rest.length; i++) pos = writeText(buf, pos, rest[i]!, sizes[i]!);
    return pos;
  }

  /** Text is always written into the frame (that is its point). */
  references(): undefined {
    return undefined;
  }
}

/** One packed argument: its u32 byte length, then the text as UTF-8. */
function writeText(buf: Buffer, pos: number, text: string, n: number): number {
  buf.writeUInt32BE(n, pos);
  return pos + 4 + utf8Write(buf, text, pos + 4, n);
}

/** What a frame's application object may be handed over as: bytes, or pieces. */
export type AppBytes = Buffer | BytePieces;
