/** What the processor answers to one phase, in plain values (no protobuf). */
export type BodyMode = 'NONE' | 'STREAMED' | 'BUFFERED';

export interface HeaderChanges {
  /** Overwrites (Envoy's default for a set without append). */
  readonly set: ReadonlyArray<readonly [name: string, value: string]>;
  readonly remove: readonly string[];
}

export interface ModeOverride {
  readonly requestBody: BodyMode;
  readonly responseBody: BodyMode;
  readonly responseHeaders?: 'SEND' | 'SKIP';
}

export interface ImmediateAnswer {
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: string;
  readonly details: string;
}

export type MetadataValue = string | number | boolean;

export interface PhaseAnswer {
  readonly headers?: HeaderChanges;
  /** Replacement body (header answers: not used by the core). */
  readonly body?: Buffer;
  /** Ask Envoy to re-resolve the route; only honoured with a header mutation. */
  readonly clearRouteCache?: boolean;
  readonly modeOverride?: ModeOverride;
  readonly immediate?: ImmediateAnswer;
  /** namespace → flat record, for Envoy access logs. */
  readonly dynamicMetadata?: Readonly<Record<string, Readonly<Record<string, MetadataValue>>>>;
}

export const CONTINUE: PhaseAnswer = Object.freeze({});
