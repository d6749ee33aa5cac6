import type { Binding } from '../bindings/binding.js';
import { editMembers, inputWithout } from '../body/edit-members.js';
import type { BodyScan } from '../body/json-scan.js';

export interface HealInput {
  readonly body: Buffer;
  readonly scan: BodyScan;
  /** Bindings learned for encrypted items, by item id (absent: unknown item). */
  readonly itemBindings: ReadonlyMap<string, Binding>;
  /** previous_response_id's binding, when the body has one and it is known. */
  readonly previousResponseBinding: Binding | undefined;
  /** Domains that still have a configured account in the pool. */
  readonly liveDomains: ReadonlySet<string>;
}

export interface HealResult {
  /** The healed body (undefined when nothing had to go). */
  readonly body: Buffer | undefined;
  readonly droppedItems: number;
  readonly droppedPreviousResponse: boolean;
}

/**
 * A hard request whose domain is gone, made servable elsewhere: every input
 * item carrying encrypted content that no live domain is known to read is
 * dropped, and so is a previous_response_id no live domain holds. The model
 * loses that hidden reasoning; the visible conversation continues. Pure.
 */
export function healRequest(input: HealInput): HealResult {
  const { body, scan, itemBindings, liveDomains } = input;
  const drop = new Set<number>();
  scan.inputItems?.forEach((item, index) => {
    if (!item.hasEncryptedContent) return;
    const binding = item.id !== undefined ? itemBindings.get(item.id) : undefined;
    if (binding === undefined || !liveDomains.has(binding.domain)) drop.add(index);
  });
  const hasPrevious = scan.fields.has('previous_response_id');
  const dropPrevious = hasPrevious && (input.previousResponseBinding === undefined || !liveDomains.has(input.previousResponseBinding.domain));
  const set = new Map<string, string>();
  if (drop.size > 0) set.set('input', inputWithout(body, scan, drop)!);
  const healed = editMembers(body, scan, { remove: new Set(dropPrevious ? ['previous_response_id'] : []), set });
  return { body: healed, droppedItems: drop.size, droppedPreviousResponse: dropPrevious };
}
