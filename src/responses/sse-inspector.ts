import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import { factsFromResponseObject, type ResponseFacts } from './response-facts.js';

const FINAL_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed', 'response.done']);
const INTERESTING_EVENTS = new Set(['response.created', 'error', ...FINAL_EVENTS]);
/** Any interesting name, or a backslash (an escape could spell one), in one pass over the chunk's bytes as latin1 text. */
const MAY_HOLD_INTERESTING_EVENT = new RegExp(`${[...INTERESTING_EVENTS].map((name) => name.replaceAll('.', '\\.')).join('|')}|\\\\`);
const LINE_FEED = 0x0a;

/** The chunk ends with an empty line ("\n\n"): whatever came before, its last event is complete. */
function endsWithEmptyLine(chunk: Buffer): boolean {
  return chunk.length >= 2 && chunk[chunk.length - 1] === LINE_FEED && chunk[chunk.length - 2] === LINE_FEED;
}

/**
 * No event in the chunk can be one the inspector reads: no interesting name appears in
 * it, and no escape could spell one (an event's type is its `event:` line, verbatim,
 * or the `type` string of its JSON data).
 */
function cannotHoldInterestingEvent(chunk: Buffer): boolean {
  // latin1 maps each byte to one character: ASCII names match exactly, other bytes cannot.
  return !MAY_HOLD_INTERESTING_EVENT.test(chunk.toString('latin1'));
}

/**
 * Reads a Responses SSE stream chunk by chunk, without holding it: reports the
 * response id as soon as response.created arrives and the final facts (item
 * ids, usage) at the final event, then stops parsing.
 */
export class SseInspector {
  private readonly parser: EventSourceParser;
  private done = false;
  // Chunks may split a multi-byte character; the decoder carries it over.
  private readonly decoder = new StringDecoder('utf8');
  private readonly pending: ResponseFacts[] = [];
  /** The response object of the final event (response.completed / .incomplete / .failed). */
  finalResponse: unknown;
  /** The error of an `error` event or of response.failed, as the upstream sent it. */
  streamError: unknown;
  /** Bytes received since the last complete event: what the parser may be holding. */
  private bytesSinceEvent = 0;
  private gaveUp = false;
  /** Everything fed so far ended with an empty line: the parser and the decoder hold nothing. */
  private atEventBoundary = false;

  /**
   * `maxEventBytes`: an event (or a line without an end) longer than this is not read.
   * `skipQuietChunks`: a chunk of whole events none of which can be read is answered
   * without parsing (off only to compare with a reading of every chunk).
   */
  constructor(
    private readonly maxEventBytes = 8 * 1024 * 1024,
    private readonly skipQuietChunks = true,
  ) {
    this.parser = createParser({ onEvent: (event) => this.onEvent(event) });
  }

  get finished(): boolean {
    return this.done;
  }

  /** Reading stopped at an oversized event: nothing is known of how the stream ended. */
  get abandoned(): boolean {
    return this.gaveUp;
  }

  /** Feeds one chunk; returns facts learned from it (possibly none). */
  push(chunk: Buffer): ResponseFacts[] {
    if (this.done) return [];
    // Most chunks are whole delta events: the parser would read them and learn nothing.
    // Only between whole events (never the first chunk, whose byte order mark the parser drops).
    if (this.skipQuietChunks && this.atEventBoundary && endsWithEmptyLine(chunk) && cannotHoldInterestingEvent(chunk)) {
      this.bytesSinceEvent = 0;
      return [];
    }
    this.bytesSinceEvent += chunk.length;
    this.parser.feed(this.decoder.write(chunk));
    this.atEventBoundary = endsWithEmptyLine(chunk);
    if (!this.done && this.bytesSinceEvent > this.maxEventBytes) {
      // The parser holds the unfinished event: let go of it and of the stream.
      this.parser.reset({ consume: false });
      this.done = true;
      this.gaveUp = true;
    }
    return this.pending.splice(0, this.pending.length);
  }

  private onEvent(event: EventSourceMessage): void {
    this.bytesSinceEvent = 0;
    if (this.done) return;
    let type = event.event;
    if (type !== undefined && !INTERESTING_EVENTS.has(type)) return;
    let data: { type?: unknown; response?: unknown };
    try {
      data = JSON.parse(event.data) as typeof data;
    } catch {
      return;
    }
    if (type === undefined) {
      type = typeof data.type === 'string' ? data.type : undefined;
      if (type === undefined || !INTERESTING_EVENTS.has(type)) return;
    }
    if (type === 'error') {
      this.streamError = data;
      this.done = true;
      return;
    }
    const response = data.response as { error?: unknown } | undefined;
    // A failed response is an error even when it names none.
    if (type === 'response.failed') this.streamError = { error: response?.error ?? { code: null, message: 'response.failed' } };
    this.pending.push(factsFromResponseObject(data.response));
    if (FINAL_EVENTS.has(type)) {
      this.done = true;
      this.finalResponse = data.response;
    }
  }
}
