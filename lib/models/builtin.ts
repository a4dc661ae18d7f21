/**
 * Registers every built-in model kind with the registry (imported by the CLI,
 * the service and loadModel, so any saved model file can be loaded).
 * Registering a kind twice is harmless (lib/index.ts registers some too).
 */
import { registerModel } from './registry.js';
import { PureSvdModel } from './puresvd.js';
import { ItemKnnModel } from './itemknn.js';
import { UserKnnModel } from './userknn.js';
import { PopularModel } from './popular.js';
import { RandomModel } from './random.js';
import { AlsModel } from './als.js';
import { HybridRecommender } from '../hybrid/recommender.js';

registerModel('puresvd', (s) => PureSvdModel.fromState(s));
registerModel('itemknn', (s) => ItemKnnModel.fromState(s));
registerModel('userknn', (s) => UserKnnModel.fromState(s));
registerModel('popular', (s) => PopularModel.fromState(s));
registerModel('random', (s) => RandomModel.fromState(s));
registerModel('als', (s) => AlsModel.fromState(s));
registerModel('hybrid', (s) => HybridRecommender.fromState(s));
