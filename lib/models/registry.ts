/**
 * Model kinds and persistence: `kind` -> the class's static fromState, and
 * saveModel / loadModel over the model file container (lib/io/modelfile.ts).
 */
import { InvalidArgumentError, UnsupportedVersionError } from '../errors.js';
import type { ModelState, Persistable, Recommender } from '../recommender.js';
import { readModelFile, writeModelFile, type ModelFileInfo, type ReadModelFileOptions } from '../io/modelfile.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../native.js';

/** A trained model that can be saved. */
export type PersistableRecommender = Recommender & Persistable;

export type ModelLoader = (state: ModelState) => PersistableRecommender;

/** This package's version (stored in every model file). */
export const packageVersion: string = (() => {
  try {
    return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

const loaders = new Map<string, ModelLoader>();

/**
 * Register how to rebuild models of `kind` from their state. Built-in models
 * are registered below; a custom Recommender can register itself too.
 */
export function registerModel(kind: string, fromState: ModelLoader): void {
  if (typeof kind !== 'string' || kind === '') throw new InvalidArgumentError(`Expected a non-empty string for kind but received ${String(kind)}`);
  if (typeof fromState !== 'function') throw new InvalidArgumentError(`Expected a function (state) => model for fromState of kind '${kind}'`);
  loaders.set(kind, fromState);
}

/** Kinds that can be loaded. */
export function modelKinds(): string[] {
  return [...loaders.keys()].sort();
}

/** Rebuild a model from its state. @throws UnsupportedVersionError for a kind this fastrec does not know. */
export function modelFromState(state: ModelState): PersistableRecommender {
  const load = loaders.get(state.kind);
  if (!load) {
    throw new UnsupportedVersionError(
      `this fastrec (${packageVersion}) cannot load models of kind '${state.kind}' (it knows: ${modelKinds().join(', ') || 'none'}); the file may come from a newer fastrec: upgrade it`,
    );
  }
  return load(state);
}

export interface SaveModelOptions {
  /** Extra information stored in the file (shown by `fastrec info`). */
  metadata?: Record<string, unknown>;
  /** Prebuilt search indexes stored with the model (e.g. from buildServingIndexes), by name. */
  indexes?: Record<string, Uint8Array>;
}

function isPersistable(model: unknown): model is PersistableRecommender {
  return typeof model === 'object' && model !== null && typeof (model as Persistable).toState === 'function';
}

/**
 * Save a trained model to one file, atomically (a crash mid-save leaves the
 * previous file intact).
 */
export async function saveModel(model: PersistableRecommender, path: string, options: SaveModelOptions = {}): Promise<void> {
  if (!isPersistable(model)) throw new InvalidArgumentError('Expected a fastrec model with toState() for model');
  const state = model.toState();
  writeModelFile(path, state, { fastrec: packageVersion, createdAt: new Date().toISOString(), ...(options.metadata ?? {}) }, options.indexes ?? {});
}

export interface LoadedModel {
  model: PersistableRecommender;
  /** The state the model was built from (its arrays are views into the file's buffer). */
  state: ModelState;
  info: ModelFileInfo;
}

/** Load a model file and its description. */
export function openModel(path: string, options: ReadModelFileOptions = {}): LoadedModel {
  const { state, info } = readModelFile(path, options);
  return { model: modelFromState(state), state, info };
}

/**
 * Load a model saved with saveModel.
 * @throws CorruptFileError, UnsupportedVersionError, IoError.
 */
export async function loadModel(path: string, options: ReadModelFileOptions = {}): Promise<PersistableRecommender> {
  // Imported here, not at the top: the model modules import this one.
  await import('./builtin.js');
  return openModel(path, options).model;
}
