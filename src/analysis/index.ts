export { analyzeCode, CodeAnalyzer, type CodeAnalyzerOptions, closeSharedAnalyzer } from "./analyzer.js";
export {
  type AnalysisRuntime,
  type CodeAnalysis,
  dependenciesFromImports,
  failedAnalysis,
} from "./code-analysis.js";
export { JavaScriptAnalyzer } from "./js-worker-analyzer.js";
export { LruCache } from "./lru-cache.js";
export { DEFAULT_PYTHON_HELPER, PythonAnalyzer } from "./python-analyzer.js";
