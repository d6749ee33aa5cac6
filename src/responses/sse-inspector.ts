import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import { factsFromResponseObject, type ResponseFacts } from './response-facts.js';

const FINAL_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed', 'response.done']);
const INTERESTING_EVENTS = new Set(['response.created', 'error', ...FINAL_EVENTS]);

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

  /** `maxEventBytes`: an event (or a line without an end) longer than this is not read. */
  constructor(private readonly maxEventBytes = 8 * 1024 * 1024) {
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
    this.bytesSinceEvent += chunk.length;
    this.parser.feed(this.decoder.write(chunk));
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
