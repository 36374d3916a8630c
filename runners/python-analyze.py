"""Static analysis of Python task code for forewarm (src/analysis/python-analyzer.ts).

Default: read one source from stdin, print one JSON object.
`--serve`: line protocol, one JSON request `{"id": n, "source": "..."}` per stdin line and one
`{"id": n, "result": {...}}` per stdout line, so the server keeps one interpreter warm.

Metric definitions (mirrored by the TypeScript analyzer for JavaScript):
- linesOfCode: lines carrying at least one token other than a comment or layout token
  (NL/NEWLINE/INDENT/DEDENT/ENDMARKER); a multi-line string marks every line it spans.
- cyclomatic: 1 + if/elif + ternary + for/async for + while + except handler + each extra
  operand of and/or (a and b and c = 2) + each for/if clause of a comprehension + each match case
  except the irrefutable `case _:`.
- functionCount: def + async def + lambda.
- halsteadVolume: N * log2(n). Operands: non-keyword names, numbers, strings, True/False/None.
  Operators: every OP token and every other keyword. Distinct by token text.
- imports: top-level package of `import a.b` and `from a.b import c` (relative imports excluded),
  plus importlib.import_module("x") / __import__("x") with a string literal.
"""

import ast
import io
import json
import keyword
import math
import re
import sys
import tokenize

LAYOUT = {
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
    tokenize.COMMENT,
}
# Python 3.12 splits f-strings into several tokens; their literal parts are operands.
FSTRING_MIDDLE = getattr(tokenize, "FSTRING_MIDDLE", None)
FSTRING_EDGES = {getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_END") if hasattr(tokenize, n)}
OPERAND_KEYWORDS = {"True", "False", "None"}
IMPORT_LINE = re.compile(r"^\s*(?:import\s+([A-Za-z_][\w.]*)|from\s+([A-Za-z_][\w.]*)\s+import\b)", re.M)


def top_level(name):
    return name.split(".")[0]


def collect_imports(tree):
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(top_level(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(top_level(node.module))
        elif isinstance(node, ast.Call) and node.args:
            f = node.func
            dynamic = (isinstance(f, ast.Name) and f.id == "__import__") or (
                isinstance(f, ast.Attribute)
                and f.attr == "import_module"
                and isinstance(f.value, ast.Name)
                and f.value.id == "importlib"
            )
            arg = node.args[0]
            if dynamic and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if not arg.value.startswith("."):
                    found.add(top_level(arg.value))
    return sorted(found)


def cyclomatic(tree):
    points = 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.IfExp, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler)):
            points += 1
        elif isinstance(node, ast.BoolOp):
            points += len(node.values) - 1
        elif isinstance(node, ast.comprehension):
            points += 1 + len(node.ifs)
        elif hasattr(ast, "match_case") and isinstance(node, ast.match_case):
            wildcard = isinstance(node.pattern, ast.MatchAs) and node.pattern.pattern is None
            if not (wildcard and node.guard is None):
                points += 1
    return 1 + points


def function_count(tree):
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    return sum(1 for node in ast.walk(tree) if isinstance(node, kinds))


def token_metrics(source):
    lines = set()
    operators, operands = {}, {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in LAYOUT:
            continue
        for row in range(tok.start[0], tok.end[0] + 1):
            lines.add(row)
        if tok.type in FSTRING_EDGES:
            continue
        text = tok.string
        if tok.type == tokenize.NAME:
            is_operator = keyword.iskeyword(text) and text not in OPERAND_KEYWORDS
            bucket = operators if is_operator else operands
        elif tok.type in (tokenize.NUMBER, tokenize.STRING) or tok.type == FSTRING_MIDDLE:
            bucket = operands
        elif tok.type == tokenize.OP:
            bucket = operators
        else:  # ERRORTOKEN and friends: count as operators so they are not lost
            bucket = operators
        bucket[text] = bucket.get(text, 0) + 1
    total = sum(operators.values()) + sum(operands.values())
    distinct = len(operators) + len(operands)
    volume = total * math.log2(distinct) if distinct > 1 else 0.0
    return len(lines), round(volume, 6)


def fallback_imports(source):
    found = set()
    for m in IMPORT_LINE.finditer(source):
        found.add(top_level(m.group(1) or m.group(2)))
    return sorted(found)


def analyze(source):
    try:
        tree = ast.parse(source)
        loc, volume = token_metrics(source)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        return failed(f"{where}{exc.msg}", fallback_imports(source))
    except (ValueError, RecursionError, MemoryError, tokenize.TokenError) as exc:
        return failed(f"{type(exc).__name__}: {exc}", fallback_imports(source))
    return {
        "linesOfCode": loc,
        "cyclomatic": cyclomatic(tree),
        "functionCount": function_count(tree),
        "halsteadVolume": volume,
        "imports": collect_imports(tree),
        "analysisError": None,
    }


def failed(message, imports):
    return {
        "linesOfCode": None,
        "cyclomatic": None,
        "functionCount": None,
        "halsteadVolume": None,
        "imports": imports,
        "analysisError": message,
    }


def serve():
    sys.setrecursionlimit(10000)
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            return
        request = None
        try:
            request = json.loads(line)
            result = analyze(request["source"])
            reply = {"id": request["id"], "result": result}
        except Exception as exc:  # never die on one bad request
            reply = {"id": request.get("id") if isinstance(request, dict) else None, "error": repr(exc)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def main():
    if "--serve" in sys.argv[1:]:
        serve()
        return
    source = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    print(json.dumps(analyze(source)))


if __name__ == "__main__":
    main()
