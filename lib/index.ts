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
export { PureSvdModel, type PureSvdOptions } from './models/puresvd.js';
export { ItemKnnModel, type ItemKnnOptions } from './models/itemknn.js';
export { UserKnnModel, type UserKnnOptions } from './models/userknn.js';
export { type KnnSimilarity, type KnnOptions } from './models/neighbourhood.js';
export { PopularModel, type PopularOptions, type PopularMode } from './models/popular.js';
export { RandomModel, type RandomOptions } from './models/random.js';
// ---- persistence (model files) ----
export { saveModel, loadModel, openModel, registerModel, modelKinds, modelFromState, type PersistableRecommender, type SaveModelOptions, type LoadedModel } from './models/registry.js';
export { readModelFile, writeModelFile, inspectModelFile, decodeModelFile, type ModelFileInfo, type SectionInfo, type ReadModelFileOptions } from './io/modelfile.js';
// evaluation (lib/evaluate)
export * from './evaluate/index.js';
// ---- svdknn: model kinds for loadModel ----
import { registerModel as registerSvdKnnModel } from './models/registry.js';
import { PureSvdModel as PureSvdForRegistry } from './models/puresvd.js';
import { ItemKnnModel as ItemKnnForRegistry } from './models/itemknn.js';
import { UserKnnModel as UserKnnForRegistry } from './models/userknn.js';
import { PopularModel as PopularForRegistry } from './models/popular.js';
import { RandomModel as RandomForRegistry } from './models/random.js';
registerSvdKnnModel('puresvd', (s) => PureSvdForRegistry.fromState(s));
registerSvdKnnModel('itemknn', (s) => ItemKnnForRegistry.fromState(s));
registerSvdKnnModel('userknn', (s) => UserKnnForRegistry.fromState(s));
registerSvdKnnModel('popular', (s) => PopularForRegistry.fromState(s));
registerSvdKnnModel('random', (s) => RandomForRegistry.fromState(s));
// ---- hybrid ranking layer (lib/hybrid) ----
export {
  HybridRecommender,
  defaultSources,
  temporalCut,
  type HybridOptions,
  type HybridFitOptions,
  type HybridRecommendOptions,
  type HybridRecommendations,
  type DiversityOptions,
  type LearnWeightsOptions,
  type LearnedWeights,
} from './hybrid/recommender.js';
export {
  ModelSource,
  ItemToItemSource,
  ContentSource,
  ComplementSource,
  TrendingSource,
  PopularSource,
  NewArrivalsSource,
  CategoryAffinitySource,
  ColdStartSource,
  FactorSource,
  RepurchaseSource,
  type FactorModelLike,
  type VectorRetriever,
  type FactorSourceOptions,
  type CandidateSource,
  type CandidateList,
} from './hybrid/sources.js';
export { ContentModel, type ContentOptions } from './hybrid/content.js';
export { buildItemFeatures, categoryCodes, type ItemFeatureMatrix, type ItemFeatureOptions, type CategoryCodes } from './hybrid/features.js';
export { tokenize, fitTfIdf, tfIdfVector } from './hybrid/text.js';
export { intraListDiversity, selectDiverse } from './hybrid/diversity.js';
export type { Rules, ItemPredicate, Boost, Pin, Dedupe } from './hybrid/rules.js';
export type { Evidence, EvidenceKind, Reason } from './hybrid/evidence.js';
export type { Context as HybridContext, Catalog as HybridCatalog, Request as HybridRequest } from './hybrid/catalog.js';
export type { Normalization } from './hybrid/normalize.js';
// ---- als ----
export { AlsModel, resolveAlsOptions, type AlsOptions, type ResolvedAlsOptions, type FoldInResult, type PartialFitOptions, type RatingMetrics } from './models/als.js';
// ---- ann ----
export { HnswIndex, ExactIndex, AnnScorer, AnnFilter, flattenVectors, type AnnMetric, type Vectors, type HnswOptions, type AddOptions, type AnnSearchOptions, type AnnBatchOptions, type Neighbors, type BatchNeighbors, type AnnScorerOptions, type ScoredItems } from './ann.js';
export { seededRandom } from './random.js';
export { EXACT_AUTO_PRUNE_MIN, type ExactIndexOptions, type ExactSearchOptions, type ExactNeighbors, type ExactBatchNeighbors } from './ann.js';
// ---- cli: the serving indexes stored in model files (fastrec train --ann) ----
export { buildServingIndexes } from './server/model.js';
export type { AlsExplanation } from './models/als.js';
export { ANN_STORAGES, type AnnStorage } from './ann.js';
