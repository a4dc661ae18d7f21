/**
 * Typed errors. Every error fastrec throws is a {@link FastrecError} with a
 * stable `code`; native code throws plain errors carrying the same codes,
 * which {@link fromNative} turns into these classes.
 */

/** Stable error codes, shared with native/core/common/error.cpp. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FITTED'
  | 'UNKNOWN_ID'
  | 'DIMENSION_MISMATCH'
  | 'CORRUPT_FILE'
  | 'UNSUPPORTED_VERSION'
  | 'CUDA_UNAVAILABLE'
  | 'ABORTED'
  | 'OUT_OF_MEMORY'
  | 'IO_ERROR'
  | 'PARSE_ERROR'
  | 'NATIVE_LOAD_FAILED'
  | 'INTERNAL';

/** Base class of every fastrec error. */
export class FastrecError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An argument has the wrong type, shape or value. The message names it, the expectation and what was received. */
export class InvalidArgumentError extends FastrecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/** A model method that needs a trained model was called before `fit`. */
export class NotFittedError extends FastrecError {
  constructor(message = 'the model is not fitted: call fit(dataset) first (or load a saved model)') {
    super('NOT_FITTED', message);
  }
}

/** A user or item id that the model or dataset does not know. */
export class UnknownIdError extends FastrecError {
  readonly kind: 'user' | 'item';
  readonly id: unknown;
  constructor(kind: 'user' | 'item', id: unknown, hint = '') {
    super('UNKNOWN_ID', `unknown ${kind} id ${JSON.stringify(id)}${hint ? `: ${hint}` : ''}`);
    this.kind = kind;
    this.id = id;
  }
}

/** Arrays or matrices whose sizes do not fit together. */
export class DimensionMismatchError extends FastrecError {
  constructor(message: string) {
    super('DIMENSION_MISMATCH', message);
  }
}

/** A file that is truncated, damaged or not a fastrec file. */
export class CorruptFileError extends FastrecError {
  constructor(message: string) {
    super('CORRUPT_FILE', message);
  }
}

/** A file written by a newer fastrec. */
export class UnsupportedVersionError extends FastrecError {
  constructor(message: string) {
    super('UNSUPPORTED_VERSION', message);
  }
}

/** A GPU was requested but fastrec was built without CUDA or no device is usable. */
export class CudaUnavailableError extends FastrecError {
  constructor(message: string) {
    super('CUDA_UNAVAILABLE', message);
  }
}

/** The operation was cancelled through its AbortSignal. */
export class AbortError extends FastrecError {
  constructor(message = 'the operation was aborted') {
    super('ABORTED', message);
  }
}

/** Native code could not allocate the memory it needed. */
export class OutOfMemoryError extends FastrecError {
  constructor(message: string) {
    super('OUT_OF_MEMORY', message);
  }
}

/** Reading or writing a file failed. */
export class IoError extends FastrecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('IO_ERROR', message, options);
  }
}

/** A malformed row in an input file: names the file, line and column. */
export class ParseError extends FastrecError {
  readonly file: string;
  readonly line: number;
  readonly column: string | undefined;
  constructor(file: string, line: number, column: string | undefined, problem: string) {
    super('PARSE_ERROR', `${file}:${line}${column ? ` column "${column}"` : ''}: ${problem}`);
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

/** The native addon could not be loaded. The message says why and what to run. */
export class NativeLoadError extends FastrecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NATIVE_LOAD_FAILED', message, options);
  }
}

const byCode: Record<string, (message: string) => FastrecError> = {
  INVALID_ARGUMENT: (m) => new InvalidArgumentError(m),
  NOT_FITTED: (m) => new NotFittedError(m),
  DIMENSION_MISMATCH: (m) => new DimensionMismatchError(m),
  CORRUPT_FILE: (m) => new CorruptFileError(m),
  UNSUPPORTED_VERSION: (m) => new UnsupportedVersionError(m),
  CUDA_UNAVAILABLE: (m) => new CudaUnavailableError(m),
  ABORTED: (m) => new AbortError(m),
  OUT_OF_MEMORY: (m) => new OutOfMemoryError(m),
  IO_ERROR: (m) => new IoError(m),
};

/**
 * Convert an error thrown by the native addon into the matching typed error.
 * `callerStack` (captured before an async call) replaces the native stack so
 * that the trace points at the user's code.
 */
export function fromNative(err: unknown, callerStack?: string): unknown {
  if (err instanceof FastrecError || !(err instanceof Error)) return err;
  const code = (err as Error & { code?: string }).code;
  const make = code ? byCode[code] : undefined;
  const typed = make ? make(err.message) : new FastrecError('INTERNAL', err.message, { cause: err });
  if (callerStack) typed.stack = `${typed.name}: ${typed.message}\n${callerStack}`;
  return typed;
}
