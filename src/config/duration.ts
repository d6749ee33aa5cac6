import { z } from 'zod';

const UNIT_MILLISECONDS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "250ms", "45s", "30m", "6h", "7d" or a number of seconds into milliseconds. */
export function parseDurationMilliseconds(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNIT_MILLISECONDS[match[2]!]!;
}

/** A config duration: "250ms", "45s", "30m", "6h", "7d" or seconds, as milliseconds. */
export const duration = z
  .union([z.string(), z.number()])
  .transform((value, context) => {
    const milliseconds = parseDurationMilliseconds(value);
    if (milliseconds === undefined) {
      context.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(value)} (use e.g. 45s, 30m, 6h, 7d)` });
      return z.NEVER;
    }
    return milliseconds;
  });
