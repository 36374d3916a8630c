export { AnalysisWorker } from "./analysis-worker.js";
export {
  analyzeCode,
  CodeAnalyzer,
  type CodeAnalyzerOptions,
  closeSharedAnalyzer,
  type FingerprintResult,
} from "./analyzer.js";
export {
  type AnalysisRuntime,
  type CodeAnalysis,
  dependenciesFromImports,
  failedAnalysis,
} from "./code-analysis.js";
export { LruCache } from "./lru-cache.js";
export { DEFAULT_PYTHON_HELPER, PythonAnalyzer } from "./python-analyzer.js";
