"""Partial responses (the ``fields`` standard parameter) as Google's APIs answer them.

``fields=nextPageToken,items(id,etag,start/dateTime)`` keeps only what it names: commas separate
selections, ``a/b`` selects inside an object, ``a(b,c)`` several fields inside ``a`` (inside every
element when ``a`` is a list), ``*`` everything at that level. A selection naming a field the
response's schema does not have is a 400. What a client did not ask for is not in the answer, so a
client that compares fields it never asked for sees them missing — as it would with Google.
"""

from __future__ import annotations

import re
from typing import Any

Tree = dict[str, "Tree | None"]  # field → what to keep inside it (None: all of it)
_TOKEN = re.compile(r"\s*([A-Za-z0-9_$.*-]+|[(),/])")


def parse(text: str) -> Tree:
    """The selection tree of a ``fields`` value; a malformed one is a ``ValueError``."""
    tokens = _tokens(text)
    tree, pos = _list(tokens, 0)
    if pos != len(tokens):
        raise ValueError(f"Invalid field selection {text}")
    return tree


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"Invalid field selection {text}")
        out.append(match.group(1))
        pos = match.end()
    return out


def _list(tokens: list[str], pos: int) -> tuple[Tree, int]:
    tree: Tree = {}
    while True:
        pos = _item(tokens, pos, tree)
        if pos < len(tokens) and tokens[pos] == ",":
            pos += 1
            continue
        return tree, pos


def _item(tokens: list[str], pos: int, into: Tree) -> int:
    path = []
    while True:
        if pos >= len(tokens) or tokens[pos] in "(),/":
            raise ValueError("Invalid field selection")
        path.append(tokens[pos])
        pos += 1
        if pos < len(tokens) and tokens[pos] == "/":
            pos += 1
            continue
        break
    sub: Tree | None = None
    if pos < len(tokens) and tokens[pos] == "(":
        sub, pos = _list(tokens, pos + 1)
        if pos >= len(tokens) or tokens[pos] != ")":
            raise ValueError("Invalid field selection")
        pos += 1
    node = into
    for name in path[:-1]:
        child = node.get(name, {})
        if child is None:  # already selected whole
            return pos
        node[name] = child
        node = child
    last = path[-1]
    if sub is None or node.get(last, {}) is None:
        node[last] = None
    else:
        node[last] = _merge(node.get(last) or {}, sub)
    return pos


def _merge(a: Tree, b: Tree) -> Tree:
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
        else:
            mine = out[key]
            out[key] = None if mine is None or value is None else _merge(mine, value)
    return out


def check(tree: Tree, schema: dict[str, Any], doc: dict[str, Any]) -> None:
    """Every field the selection names exists in ``schema`` (a discovery schema); else ``ValueError``."""
    schema = _resolve(schema, doc)
    for name, sub in tree.items():
        if name == "*":
            continue
        props = schema.get("properties", {})
        if name in props:
            inner = props[name]
        elif "additionalProperties" in schema:
            inner = schema["additionalProperties"]
        else:
            raise ValueError(f"Invalid field selection {name}")
        if sub:
            check(sub, inner, doc)


def _resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in schema:
            schema = doc["schemas"][schema["$ref"]]
        elif schema.get("type") == "array":
            schema = schema.get("items", {})
        else:
            return schema


def select(value: Any, tree: Tree | None) -> Any:
    """``value`` with only what ``tree`` selects (lists: in each element)."""
    if tree is None:
        return value
    if isinstance(value, list):
        return [select(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    if "*" in tree:
        return {k: select(v, tree[k] if k in tree else tree["*"]) for k, v in value.items()}
    return {k: select(value[k], sub) for k, sub in tree.items() if k in value}
