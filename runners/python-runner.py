"""Runner for `python3` environments of forewarm's process backend.

Protocol: one JSON request per line on stdin; one JSON response per line on fd 3, so that the
task's own print output (fd 1 and 2) can never corrupt it. A reader thread owns stdin and exits the
process at EOF, so the runner dies with the server even while a task is busy.
"""

import importlib
import importlib.util
import json
import os
import queue
import re
import resource
import sys
import threading
import time
import traceback

MAX_ERROR_CHARS = 4000
SELF = os.path.abspath(__file__)

_modules = {}


def _open_channels():
    proto_in = os.fdopen(os.dup(0), "rb")
    # Task code that reads stdin must not eat protocol lines.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(os.devnull)
    os.set_inheritable(3, False)
    proto_out = os.fdopen(3, "wb")
    return proto_in, proto_out


PROTO_IN, PROTO_OUT = _open_channels()


def send_raw(text):
    PROTO_OUT.write(text.encode("utf-8") + b"\n")
    PROTO_OUT.flush()


def send(message):
    send_raw(json.dumps(message, allow_nan=False))


def describe(exc):
    tb = exc.__traceback__
    # Frames of the runner itself say nothing about the task.
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == SELF:
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb)).strip()
    # The end of a Python traceback carries the message: keep the tail.
    return text if len(text) <= MAX_ERROR_CHARS else "..." + text[-MAX_ERROR_CHARS:]


def cpu_ms():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) * 1000.0


class NoFunction(Exception):
    pass


def load(path):
    mod = _modules.get(path)
    if mod is None:
        name = "forewarm_task_%d" % len(_modules)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError("cannot load a module from %s" % path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            del sys.modules[name]
            raise
        _modules[path] = mod
    return mod


def handle_import(req):
    per_module = {}
    t0 = time.perf_counter()
    for dep in req["modules"]:
        t = time.perf_counter()
        try:
            importlib.import_module(dep)
        except BaseException as exc:  # noqa: BLE001 - any failure is reported, not fatal
            kind = "oom" if isinstance(exc, MemoryError) else "import"
            send({"id": req["id"], "ok": False, "kind": kind, "module": dep, "error": describe(exc)})
            return
        per_module[dep] = (time.perf_counter() - t) * 1000.0
    send({"id": req["id"], "ok": True, "ms": (time.perf_counter() - t0) * 1000.0, "perModule": per_module})


def handle_load(req):
    # Imports the task module without calling anything: what a shadow's warm-up does.
    t0 = time.perf_counter()
    try:
        load(req["modulePath"])
    except BaseException as exc:  # noqa: BLE001 - reported, not fatal
        kind = "oom" if isinstance(exc, MemoryError) else "import"
        send({"id": req["id"], "ok": False, "kind": kind, "error": describe(exc)})
        return
    send({"id": req["id"], "ok": True, "ms": (time.perf_counter() - t0) * 1000.0})


def handle_call(req):
    c0 = cpu_ms()
    t0 = time.perf_counter()
    stage = "import"
    try:
        mod = load(req["modulePath"])
        f = getattr(mod, req["fn"], None)
        if not callable(f):
            raise NoFunction('module %s has no function named "%s"' % (req["modulePath"], req["fn"]))
        stage = "call"
        result = f(req.get("input"))
        wall = (time.perf_counter() - t0) * 1000.0
        cpu = cpu_ms() - c0
        try:
            output_json = json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as exc:
            send({"id": req["id"], "ok": False, "kind": "error", "wallMs": wall, "cpuMs": cpu,
                  "error": "output is not JSON-serialisable: %s" % exc})
            return
        head = json.dumps({"id": req["id"], "ok": True, "wallMs": wall, "cpuMs": cpu,
                           "outputBytes": len(output_json.encode("utf-8"))})
        # Spliced in as text so the output is serialised exactly once.
        send_raw(head[:-1] + ',"output":' + output_json + "}")
    except BaseException as exc:  # noqa: BLE001 - task failures are results, not runner failures
        if isinstance(exc, MemoryError):
            kind = "oom"
        elif isinstance(exc, NoFunction):
            kind = "nofn"
        else:
            kind = "import" if stage == "import" else "error"
        text = describe(exc) if not isinstance(exc, NoFunction) else str(exc)
        send({"id": req["id"], "ok": False, "kind": kind, "error": text,
              "wallMs": (time.perf_counter() - t0) * 1000.0, "cpuMs": cpu_ms() - c0})


# The server writes each request's id first.
LEADING_ID = re.compile(rb'\s*\{"id":(\d+)[,}]')


def refuse_undecodable(line, error):
    # Answered under its id when it can be read, so the request fails now rather than at its timeout.
    m = LEADING_ID.match(line)
    if m:
        send({"id": int(m.group(1)), "ok": False, "kind": "error", "error": error})
    else:
        send({"type": "protocol-error", "error": error})


def read_requests(q):
    for line in PROTO_IN:
        q.put(line)
    # The server closed the channel or died: nothing more will ever be asked of this runner.
    os._exit(0)


def main():
    q = queue.Queue()
    threading.Thread(target=read_requests, args=(q,), daemon=True).start()
    send({"type": "ready", "pid": os.getpid(), "runtime": "python3", "version": sys.version.split()[0]})
    while True:
        line = q.get()
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except RecursionError:
            # Nested deeper than the interpreter's recursion limit, which json applies too: this
            # request is refused, the runner lives on.
            refuse_undecodable(line, "request nested too deeply to decode (Python's recursion limit is %d)"
                               % sys.getrecursionlimit())
            continue
        except ValueError as exc:
            refuse_undecodable(line, "request is not valid JSON: %s" % exc)
            continue
        op = req.get("op")
        if op == "import":
            handle_import(req)
        elif op == "call":
            handle_call(req)
        elif op == "load":
            handle_load(req)
        else:
            send({"id": req.get("id"), "ok": False, "kind": "error", "error": "unknown op %r" % op})


if __name__ == "__main__":
    main()
