// x-codex-turn-state: an opaque token the upstream issues in a response header; Codex replays it
// on the later requests of the same turn (see shared/fixtures/codex-cli-0.169.0/turn-state-replay.json;
// codex-rs captures it from response headers in sse/responses.rs capture_turn_state). It is account
// scoped here: a token issued by another account is "foreign".
import { randomBytes } from 'node:crypto';

export class TurnStates {
  private readonly issued = new Set<string>();

  get all(): ReadonlySet<string> {
    return this.issued;
  }

  issue(): string {
    const token = `ts_${randomBytes(18).toString('base64url')}`;
    this.issued.add(token);
    return token;
  }

  knows(token: string): boolean {
    return this.issued.has(token);
  }
}
