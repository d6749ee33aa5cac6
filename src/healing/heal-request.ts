import type { Binding } from '../bindings/binding.js';
import { editMembers, inputWithout } from '../body/edit-members.js';
import { isStoredReference, type BodyScan } from '../body/json-scan.js';

export interface HealInput {
  readonly body: Buffer;
  readonly scan: BodyScan;
  /** Bindings learned for encrypted items, by item id (absent: unknown item). */
  readonly itemBindings: ReadonlyMap<string, Binding>;
  /** previous_response_id's binding, when the body has one and it is known. */
  readonly previousResponseBinding: Binding | undefined;
  /** Whether a binding's state can still be read: its account, or its domain, is still configured. */
  readonly isLive: (binding: Binding) => boolean;
}

export interface HealResult {
  /** The healed body (undefined when nothing had to go). */
  readonly body: Buffer | undefined;
  readonly droppedItems: number;
  /** Ids of dropped items that had no learned binding (so later turns can recognise them). */
  readonly droppedUnknownIds: readonly string[];
  readonly droppedPreviousResponse: boolean;
}

/**
 * A hard request whose domain is gone, made servable elsewhere: every input
 * item carrying encrypted content (or referring to a stored item) that no live
 * domain is known to read is dropped, and so is a previous_response_id no live domain holds. The model
 * loses that hidden reasoning; the visible conversation continues. Pure.
 */
export function healRequest(input: HealInput): HealResult {
  const { body, scan, itemBindings, isLive } = input;
  const drop = new Set<number>();
  const droppedUnknownIds: string[] = [];
  scan.inputItems?.forEach((item, index) => {
    if (!item.hasEncryptedContent && !isStoredReference(item)) return;
    const binding = item.id !== undefined ? itemBindings.get(item.id) : undefined;
    if (binding === undefined || !isLive(binding)) {
      drop.add(index);
      if (binding === undefined && item.id !== undefined) droppedUnknownIds.push(item.id);
    }
  });
  const hasPrevious = scan.fields.has('previous_response_id');
  const dropPrevious = hasPrevious && (input.previousResponseBinding === undefined || !isLive(input.previousResponseBinding));
  const set = new Map<string, string>();
  if (drop.size > 0) set.set('input', inputWithout(body, scan, drop)!);
  const healed = editMembers(body, scan, { remove: new Set(dropPrevious ? ['previous_response_id'] : []), set });
  return { body: healed, droppedItems: drop.size, droppedUnknownIds, droppedPreviousResponse: dropPrevious };
}
