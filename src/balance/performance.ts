/**
 * Per-account decaying averages measured by this processor: time from the
 * routing decision to the upstream's response headers, to its first SSE event,
 * and the share of answers that were server errors. Each is a time-decayed
 * mean (sum and weight both decay with the half-life), so a burst of samples
 * at one instant counts and an old reading fades without new traffic. The
 * weight is capped at MEMORY_SAMPLES, so each new sample moves the mean by at
 * least a fifth: an account that turns slow is seen after a few answers, not
 * after its busy history has been outweighed.
 */
export const MEMORY_SAMPLES = 4;
export interface DecayingAverage {
  readonly sum: number;
  readonly weight: number;
  readonly at: number;
}

export const EMPTY_AVERAGE: DecayingAverage = Object.freeze({ sum: 0, weight: 0, at: 0 });

function decayFactor(elapsed: number, halfLife: number): number {
  return elapsed <= 0 ? 1 : Math.pow(0.5, elapsed / halfLife);
}

export function addSample(average: DecayingAverage, sample: number, now: number, halfLife: number): DecayingAverage {
  let factor = decayFactor(now - average.at, halfLife);
  if (average.weight * factor > MEMORY_SAMPLES) factor = MEMORY_SAMPLES / average.weight;
  return { sum: average.sum * factor + sample, weight: average.weight * factor + 1, at: Math.max(now, average.at) };
}

/** The mean and the decayed number of samples behind it, as of `now`. */
export function readAverage(average: DecayingAverage, now: number, halfLife: number): { mean: number | undefined; samples: number } {
  if (average.weight === 0) return { mean: undefined, samples: 0 };
  return { mean: average.sum / average.weight, samples: average.weight * decayFactor(now - average.at, halfLife) };
}

/** What balancing reads of an account's performance. */
export interface PerformanceView {
  /** Mean milliseconds to response headers, undefined without samples. */
  readonly headersMilliseconds: number | undefined;
  readonly headersSamples: number;
  /** Mean milliseconds to the first SSE event of streamed answers. */
  readonly firstEventMilliseconds: number | undefined;
  readonly firstEventSamples: number;
  /** Share of answers that were server errors (5xx, stream error events). */
  readonly errorRate: number | undefined;
  readonly outcomeSamples: number;
}

export const UNMEASURED: PerformanceView = Object.freeze({
  headersMilliseconds: undefined,
  headersSamples: 0,
  firstEventMilliseconds: undefined,
  firstEventSamples: 0,
  errorRate: undefined,
  outcomeSamples: 0,
});

interface AccountAverages {
  headers: DecayingAverage;
  firstEvent: DecayingAverage;
  outcomes: DecayingAverage;
}

/** This replica's measurements (latency is local to the replica that measured it). */
export class AccountPerformance {
  private readonly accounts = new Map<string, AccountAverages>();
  constructor(private readonly halfLife: number) {}

  private averages(account: string): AccountAverages {
    let averages = this.accounts.get(account);
    if (!averages) {
      averages = { headers: EMPTY_AVERAGE, firstEvent: EMPTY_AVERAGE, outcomes: EMPTY_AVERAGE };
      this.accounts.set(account, averages);
    }
    return averages;
  }

  recordHeaders(account: string, milliseconds: number, now: number): void {
    const averages = this.averages(account);
    averages.headers = addSample(averages.headers, milliseconds, now, this.halfLife);
  }

  recordFirstEvent(account: string, milliseconds: number, now: number): void {
    const averages = this.averages(account);
    averages.firstEvent = addSample(averages.firstEvent, milliseconds, now, this.halfLife);
  }

  recordOutcome(account: string, failed: boolean, now: number): void {
    const averages = this.averages(account);
    averages.outcomes = addSample(averages.outcomes, failed ? 1 : 0, now, this.halfLife);
  }

  /** One average's mean as of `now` (undefined without samples). */
  mean(account: string, measure: keyof AccountAverages, now: number): number | undefined {
    const averages = this.accounts.get(account);
    return averages ? readAverage(averages[measure], now, this.halfLife).mean : undefined;
  }

  view(account: string, now: number): PerformanceView {
    const averages = this.accounts.get(account);
    if (!averages) return UNMEASURED;
    const headers = readAverage(averages.headers, now, this.halfLife);
    const firstEvent = readAverage(averages.firstEvent, now, this.halfLife);
    const outcomes = readAverage(averages.outcomes, now, this.halfLife);
    return {
      headersMilliseconds: headers.mean,
      headersSamples: headers.samples,
      firstEventMilliseconds: firstEvent.mean,
      firstEventSamples: firstEvent.samples,
      errorRate: outcomes.mean,
      outcomeSamples: outcomes.samples,
    };
  }
}
