"""Validates real answers of the server against the schemas its /openapi.json documents.

argv[1]: the document; argv[2]: a JSON list of {path, status, body}. Each answer is checked
against its operation's 200 schema (success) or its default schema (errors) with
jsonschema's Draft 2020-12 validator. Object schemas are closed first (no property the
schema does not name), so an undocumented field fails as surely as a missing one.
Prints one line per failure and exits 1 if there is any.
"""
import copy
import json
import sys

from jsonschema import Draft202012Validator


def closed(schema):
    if isinstance(schema, dict):
        out = {k: closed(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [closed(v) for v in schema]
    return schema


doc = json.load(open(sys.argv[1]))
answers = json.load(open(sys.argv[2]))
components = closed(copy.deepcopy(doc["components"]))
failures = []
for a in answers:
    op = doc["paths"][a["path"]]["post"]
    key = "200" if a["status"] == 200 else "default"
    schema = op["responses"][key]["content"]["application/json"]["schema"]
    if schema.get("type") == "object" and "properties" not in schema:
        failures.append(f"{a['path']} {a['status']}: documented as a bare object")
        continue
    root = dict(closed(schema), components=components)
    for error in Draft202012Validator(root).iter_errors(a["body"]):
        where = "/".join(str(p) for p in error.absolute_path)
        failures.append(f"{a['path']} {a['status']} at /{where}: {error.message[:300]}")
for f in failures:
    print(f)
sys.exit(1 if failures else 0)
