#!/usr/bin/env python3
"""Reports import cycles among a crate's top-level modules (exit 1 if there is one).

usage: module-cycles.py [crate/src ...]   (default: crates/core/src)
       module-cycles.py --self-test

A module depends on another when its files name it: `crate::other` in a `use` or a path,
or `super::other` from a file directly inside it. Test modules (`#[cfg(test)] mod tests`
to the end of the file) are not counted: they may reach anywhere.
"""
import os
import re
import sys


def module_of(src, path):
    rel = os.path.relpath(path, src)
    head = rel.split(os.sep)[0]
    return head[:-3] if head.endswith(".rs") else head


def strip_tests(text):
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
    return text[: cut.start()] if cut else text


def graph(src):
    files = []
    for root, _, names in os.walk(src):
        files += [os.path.join(root, n) for n in names if n.endswith(".rs")]
    modules = {module_of(src, f) for f in files} - {"lib", "main"}
    edges = {m: set() for m in modules}
    # Names the crate root re-exports (`pub use engine::{Engine, Caller}`) belong to their module.
    reexports = {}
    for root_file in ("lib.rs", "main.rs"):
        path = os.path.join(src, root_file)
        if not os.path.exists(path):
            continue
        for module, names in re.findall(r"pub use ([a-z_][a-z0-9_]*)::\{?([^;]*)\}?;", open(path).read()):
            for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", names):
                reexports[name] = module
    for f in files:
        me = module_of(src, f)
        if me not in modules:
            continue
        text = strip_tests(open(f, encoding="utf-8").read())
        # Lines that are comments do not import anything.
        text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))
        named = set(re.findall(r"\bcrate::([A-Za-z_][A-Za-z0-9_]*)", text))
        # `use crate::{a, b::c}` groups
        for group in re.findall(r"\bcrate::\{([^}]*)\}", text):
            named |= set(re.findall(r"(?:^|[,\s{])([A-Za-z_][A-Za-z0-9_]*)", group))
        # `super::x` from a file directly under src/<me>/ means src/<me>'s sibling only when
        # the file is src/<me>.rs or src/<me>/mod.rs; deeper files' super is inside <me>.
        rel = os.path.relpath(f, src).split(os.sep)
        if len(rel) == 1 or rel[-1] == "mod.rs" and len(rel) == 2:
            named |= set(re.findall(r"\bsuper::([A-Za-z_][A-Za-z0-9_]*)", text))
        named = {reexports.get(n, n) for n in named}
        edges[me] |= {n for n in named if n in modules and n != me}
    return edges


def sccs(edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
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
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def self_test():
    """The check finds a planted cycle (through a root re-export too) and passes a layered crate."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "lib.rs"), "w").write("mod a;\nmod b;\nmod c;\npub use c::Thing;\n")
        open(os.path.join(d, "a.rs"), "w").write("use crate::b::f;\n")
        open(os.path.join(d, "b.rs"), "w").write("fn g() -> crate::Thing { todo!() }\n")
        open(os.path.join(d, "c.rs"), "w").write("// crate::a is named only in a comment\n")
        assert not sccs(graph(d)), "a layered crate has no cycle"
        open(os.path.join(d, "c.rs"), "w").write("use super::a;\n#[cfg(test)]\nmod tests { use crate::b; }\n")
        assert sccs(graph(d)) == [["a", "b", "c"]], sccs(graph(d))


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        print("module-cycles: self-test passed")
        return
    srcs = sys.argv[1:] or ["crates/core/src"]
    bad = False
    for src in srcs:
        edges = graph(src)
        for comp in sccs(edges):
            bad = True
            print(f"{src}: import cycle among {len(comp)} modules: {', '.join(comp)}")
            for m in comp:
                inside = sorted(edges[m] & set(comp))
                print(f"  {m} -> {', '.join(inside)}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
