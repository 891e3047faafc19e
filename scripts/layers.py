#!/usr/bin/env python3
"""Checks the core's module layering (run by `make lint`).

Reads every `crate::<module>` path in core/src (use lines and inline paths, comments and doc
links excluded) and fails when
  - the transport layer (`net`) imports a module above it (anything but the leaves listed in
    NET_MAY_IMPORT), or
  - two modules import each other, directly or through a longer cycle.

The umbrella `error` module names every family's error type (each defined in its own module)
and is imported by the modules above the transport; it is the one node left out of the cycle
check. `net` may not import it (the transport reports `ConnectionError`, not `crate::Error`).
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "core", "src")
UMBRELLA = {"error"}
NET_MAY_IMPORT = {"slot", "reply", "command", "config", "lockfree"}
PATH = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
USE_GROUP = re.compile(r"\buse\s+crate::\{([^;]*)\};", re.S)


def module_of(rel):
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def strip_comments(text):
    out = []
    for line in text.splitlines():
        code = line.split("//", 1)[0]
        out.append(code)
    return "\n".join(out)


def imports():
    graph = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, ROOT)
            mod = module_of(rel)
            if mod in ("lib", "main"):
                continue
            text = strip_comments(open(path, encoding="utf-8").read())
            # `#[cfg(test)] mod tests` blocks may reach anywhere; only library code counts.
            cut = re.search(r"#\[cfg\(test\)\]\s*mod\s+tests", text)
            if cut:
                text = text[: cut.start()]
            targets = set(PATH.findall(text))
            for group in USE_GROUP.findall(text):
                for item in re.split(r",", group):
                    name = item.strip().split("::")[0].strip("{} \n")
                    if name:
                        targets.add(name)
            deps = graph.setdefault(mod, set())
            for t in targets:
                if t != mod and t not in ("Error", "Result", "self", "super"):
                    deps.add(t)
    return graph


def main():
    graph = imports()
    problems = []
    # The transport stands below the umbrella error too: it speaks in its own error types.
    for dep in sorted(graph.get("net", set()) & (UMBRELLA | {"Error", "Result"})):
        problems.append(f"net imports crate::{dep}; the transport reports its own error types")
    # `crate::Error` / `crate::Result` are the umbrella's re-exports.
    for deps in graph.values():
        deps -= UMBRELLA
        deps.discard("Error")
        deps.discard("Result")
    for dep in sorted(graph.get("net", set()) - NET_MAY_IMPORT):
        problems.append(f"net imports {dep}, which stands above the transport layer")
    nodes = sorted(m for m in graph if m not in UMBRELLA)
    # Cycles: Tarjan's strongly connected components.
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w in UMBRELLA or w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    for comp in comps:
        edges = [f"{a} -> {b}" for a in comp for b in sorted(graph[a]) if b in comp]
        problems.append("import cycle among " + ", ".join(comp) + ": " + "; ".join(edges))
    if "-v" in sys.argv or problems:
        for m in nodes:
            print(f"{m}: {', '.join(sorted(d for d in graph[m] if d in graph)) or '-'}")
    for p in problems:
        print("layers: " + p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
