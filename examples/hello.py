# A minimal python3 task: forewarm calls `handler` with the task's JSON input.
import json


def handler(data):
    return {"greeting": "hello %s" % (data or {}).get("name", "world"), "keys": sorted(json.loads(json.dumps(data or {})))}
