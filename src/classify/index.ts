export { codeTokens, jaccard, minHashSignature, shingles, signatureSimilarity } from "./code-similarity.js";
export {
  describeInput,
  type InputDescription,
  type InputKind,
  looksLikeBase64,
  sizeClassOf,
} from "./input-features.js";
export {
  type EstimatorFeatures,
  METRICS,
  type Metric,
  type ObservedUsage,
  type QuantileEstimate,
  type ResourceEstimate,
  ResourceEstimator,
  type ResourceEstimatorOptions,
} from "./resource-estimator.js";
export {
  CLASSIFIER_DEFAULTS,
  type Classification,
  type ClassifierState,
  type ClassifyFeatures,
  TaskClassifier,
  type TaskClassifierOptions,
} from "./task-classifier.js";
