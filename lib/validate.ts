/**
 * Argument checks with one message shape:
 * "Expected <what> for <name> but received <value> of type <type>".
 */
import { InvalidArgumentError } from './errors.js';

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as { length: number }).length}`;
  if (typeof value === 'string') return `${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)} of type string`;
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  return `${String(value)} of type ${typeof value}`;
}

export function invalid(name: string, expected: string, value: unknown, hint = ''): InvalidArgumentError {
  return new InvalidArgumentError(`Expected ${expected} for ${name} but received ${describe(value)}${hint ? `. ${hint}` : ''}`);
}

export function integer(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = min === -Infinity ? '' : max === Infinity ? ` >= ${min}` : ` in [${min}, ${max}]`;
    throw invalid(name, `an integer${range}`, value);
  }
  return value;
}

export function positiveInteger(name: string, value: unknown, max = Infinity): number {
  return integer(name, value, 1, max);
}

export function number(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = min === -Infinity ? (max === Infinity ? '' : ` <= ${max}`) : max === Infinity ? ` >= ${min}` : ` in [${min}, ${max}]`;
    throw invalid(name, `a finite number${range}`, value);
  }
  return value;
}

export function boolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid(name, 'a boolean', value);
  return value;
}

export function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}

export function func(name: string, value: unknown): (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalid(name, 'a function', value);
  return value as (...args: never[]) => unknown;
}

/** The number of threads: 0 (all cores) or a positive integer. */
export function threads(value: unknown, name = 'options.threads'): number {
  return integer(name, value ?? 0, 0, 1024);
}

export function abortSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || typeof (value as AbortSignal).aborted !== 'boolean') {
    throw invalid(name, 'an AbortSignal', value);
  }
  return value as AbortSignal;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
  return d[a.length]![b.length]!;
}

/**
 * Reject option names that are not known, suggesting the closest known name
 * ("Unknown option 'factor' in options: did you mean 'factors'?").
 */
export function knownOptions(name: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalid(name, 'an options object', options);
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    let best = '';
    let bestDist = Infinity;
    for (const k of known) {
      const dist = editDistance(key, k);
      if (dist < bestDist) [best, bestDist] = [k, dist];
    }
    const hint = bestDist <= Math.max(2, Math.floor(key.length / 3)) ? `: did you mean '${best}'?` : `; known options: ${known.join(', ')}`;
    throw new InvalidArgumentError(`Unknown option '${key}' in ${name}${hint}`);
  }
}
