/**
 * fastrec: recommendation engines with a C++/SIMD core.
 */
export * from './errors.js';
export { simd, simdLevels, hardwareThreads } from './native.js';
export { IdMap, type Id } from './data/idmap.js';
export { Interactions, DEFAULT_EVENT_WEIGHTS, type InteractionRecord, type InteractionColumns, type InteractionsOptions } from './data/interactions.js';
export { Dataset, csrRow, type DatasetOptions, type EventLog } from './data/dataset.js';
export { FeatureTable, type FeatureKind, type FeatureRow, type FeatureSchema, type FeatureValue } from './data/features.js';
export { applyWeighting, type Weighting } from './data/weighting.js';
export type { CsrArrays, CombineRule } from './binding.js';
export { readInteractions, readFeatures, type ReadInteractionsOptions, type ReadFeaturesOptions, type ReadResult, type InteractionColumnMap, type FileFormat } from './io/readers.js';
export { parseCsv, fileChunks, type CsvRecord } from './io/csv.js';
// ---- svdknn ----
export { truncatedSvd, type TruncatedSvdOptions, type TruncatedSvdResult } from './svd.js';
// ---- persistence (model files) ----
export { saveModel, loadModel, openModel, registerModel, modelKinds, modelFromState, type PersistableRecommender, type SaveModelOptions, type LoadedModel } from './models/registry.js';
export { readModelFile, writeModelFile, inspectModelFile, decodeModelFile, type ModelFileInfo, type SectionInfo, type ReadModelFileOptions } from './io/modelfile.js';
// ---- als ----
export { AlsModel, resolveAlsOptions, type AlsOptions, type ResolvedAlsOptions, type FoldInResult, type PartialFitOptions, type RatingMetrics } from './models/als.js';
