import ts from "typescript";
import { type CodeAnalysis, failedAnalysis, halsteadVolume } from "./code-analysis.js";

const K = ts.SyntaxKind;

const OPERAND_KINDS = new Set<ts.SyntaxKind>([
  K.Identifier,
  K.PrivateIdentifier,
  K.NumericLiteral,
  K.BigIntLiteral,
  K.StringLiteral,
  K.RegularExpressionLiteral,
  K.NoSubstitutionTemplateLiteral,
  K.TemplateHead,
  K.TemplateMiddle,
  K.TemplateTail,
  K.JsxText,
  K.TrueKeyword,
  K.FalseKeyword,
  K.NullKeyword,
  K.ThisKeyword,
  K.SuperKeyword,
]);

const DECISION_KINDS = new Set<ts.SyntaxKind>([
  K.IfStatement,
  K.ForStatement,
  K.ForInStatement,
  K.ForOfStatement,
  K.WhileStatement,
  K.DoStatement,
  K.CaseClause,
  K.CatchClause,
  K.ConditionalExpression,
]);

const SHORT_CIRCUIT_OPERATORS = new Set<ts.SyntaxKind>([
  K.AmpersandAmpersandToken,
  K.BarBarToken,
  K.QuestionQuestionToken,
  K.AmpersandAmpersandEqualsToken,
  K.BarBarEqualsToken,
  K.QuestionQuestionEqualsToken,
]);

/** Parse errors are only exposed on an internal field; transpileModule is the public fallback. */
function syntaxErrors(
  sourceFile: ts.SourceFile,
  source: string,
  kind: ts.ScriptKind,
): readonly ts.Diagnostic[] {
  const internal = (sourceFile as unknown as { parseDiagnostics?: readonly ts.Diagnostic[] })
    .parseDiagnostics;
  if (internal) return internal;
  const out = ts.transpileModule(source, {
    reportDiagnostics: true,
    fileName: kind === ts.ScriptKind.TS ? "task.ts" : "task.js",
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  return out.diagnostics ?? [];
}

function describeDiagnostic(sourceFile: ts.SourceFile, d: ts.Diagnostic): string {
  const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
  if (d.start === undefined) return text;
  const { line, character } = sourceFile.getLineAndCharacterOfPosition(d.start);
  return `line ${line + 1}, col ${character + 1}: ${text}`;
}

function parse(
  source: string,
  kind: ts.ScriptKind,
): { file: ts.SourceFile; errors: readonly ts.Diagnostic[] } {
  const fileName = kind === ts.ScriptKind.TS ? "task.ts" : "task.js";
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, kind);
  return { file, errors: syntaxErrors(file, source, kind) };
}

function isStringLiteralLike(node: ts.Node | undefined): node is ts.StringLiteralLike {
  return node !== undefined && ts.isStringLiteralLike(node);
}

function moduleSpecifierOf(node: ts.Node): string | null {
  if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
    return isStringLiteralLike(node.moduleSpecifier) ? node.moduleSpecifier.text : null;
  }
  if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
    const expr = node.moduleReference.expression;
    return isStringLiteralLike(expr) ? expr.text : null;
  }
  if (ts.isCallExpression(node)) {
    const callee = node.expression;
    const isDynamicImport = callee.kind === K.ImportKeyword;
    const isRequire = ts.isIdentifier(callee) && callee.text === "require";
    const arg = node.arguments[0];
    if ((isDynamicImport || isRequire) && isStringLiteralLike(arg)) return arg.text;
  }
  return null;
}

function hasBody(node: ts.Node): boolean {
  if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) return true;
  if (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  ) {
    return node.body !== undefined;
  }
  return false;
}

interface StructureCounts {
  decisionPoints: number;
  functions: number;
  imports: Set<string>;
}

function walkStructure(root: ts.Node): StructureCounts {
  const counts: StructureCounts = { decisionPoints: 0, functions: 0, imports: new Set() };
  const visit = (node: ts.Node): void => {
    if (DECISION_KINDS.has(node.kind)) counts.decisionPoints++;
    else if (ts.isBinaryExpression(node) && SHORT_CIRCUIT_OPERATORS.has(node.operatorToken.kind)) {
      counts.decisionPoints++;
    }
    if (hasBody(node)) counts.functions++;
    const spec = moduleSpecifierOf(node);
    if (spec !== null) counts.imports.add(spec);
    ts.forEachChild(node, visit);
  };
  visit(root);
  return counts;
}

function isJsDoc(kind: ts.SyntaxKind): boolean {
  return kind >= K.FirstJSDocNode && kind <= K.LastJSDocNode;
}

/** Lines of code and Halstead counts from the leaf tokens of the syntax tree (no comments in it). */
function walkTokens(file: ts.SourceFile): { linesOfCode: number; volume: number } {
  const lines = new Set<number>();
  const operators = new Map<string, number>();
  const operands = new Map<string, number>();
  const visit = (node: ts.Node): void => {
    if (isJsDoc(node.kind)) return;
    const children = node.getChildren(file);
    if (children.length > 0) {
      for (const child of children) visit(child);
      return;
    }
    const start = node.getStart(file);
    const end = node.getEnd();
    // Zero-width leaves are empty lists, EOF and tokens the parser invented while recovering.
    if (end <= start || node.kind === K.EndOfFileToken || node.kind === K.JsxTextAllWhiteSpaces) return;
    const first = file.getLineAndCharacterOfPosition(start).line;
    const last = file.getLineAndCharacterOfPosition(end - 1).line;
    for (let l = first; l <= last; l++) lines.add(l);
    const bucket = OPERAND_KINDS.has(node.kind) ? operands : operators;
    const key = node.getText(file);
    bucket.set(key, (bucket.get(key) ?? 0) + 1);
  };
  visit(file);
  let total = 0;
  for (const n of operators.values()) total += n;
  for (const n of operands.values()) total += n;
  return { linesOfCode: lines.size, volume: halsteadVolume(total, operators.size + operands.size) };
}

/**
 * Analyses JavaScript (or TypeScript) source. It is parsed as JavaScript first, since that is what
 * the node runner executes; source that only parses as TypeScript is analysed as TypeScript.
 */
export function analyzeJavaScript(source: string): CodeAnalysis {
  let parsed = parse(source, ts.ScriptKind.JS);
  if (parsed.errors.length > 0) {
    const asTs = parse(source, ts.ScriptKind.TS);
    if (asTs.errors.length === 0) parsed = asTs;
  }
  const structure = walkStructure(parsed.file);
  const imports = [...structure.imports].sort();
  const firstError = parsed.errors[0];
  if (firstError) return failedAnalysis(describeDiagnostic(parsed.file, firstError), imports);
  const tokens = walkTokens(parsed.file);
  return {
    linesOfCode: tokens.linesOfCode,
    cyclomatic: 1 + structure.decisionPoints,
    functionCount: structure.functions,
    halsteadVolume: tokens.volume,
    imports,
    analysisError: null,
  };
}
