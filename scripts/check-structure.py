#!/usr/bin/env python3
"""Checks the source layout: no module import circles, no overlong files.

1. Fails when a crate's top-level modules import each other in a circle.

For every crate under canisters/, crates/ and tests/ (each directory with a
Cargo.toml and a src/), the top-level modules are the files and directories
directly under src/ (lib.rs and main.rs are the root, not a module). Module A
depends on B when a non-test source file of A names `crate::B`. A cycle in
that graph (A -> B -> ... -> A) is what makes a newcomer read five files to
follow one flow, so scripts/test.sh runs this and a cycle fails the run.

Test code is skipped: files named tests.rs or under a tests/ directory of
src/, and everything after a line `#[cfg(test)]` in a file (the convention
here is a trailing `mod tests`).

2. Fails when a Rust source file (tests included) has more than MAX_LINES
lines: past that a file holds more than one concern.

Usage: scripts/check-structure.py [ROOT]   (default: the repository)
"""

import re
import sys
from pathlib import Path

MAX_LINES = 700

CRATE_PATH = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
CRATE_GROUP = re.compile(r"\bcrate::\{")
NAME = re.compile(r"[a-z_][a-z0-9_]*")


def named_modules(text: str):
    """Top-level names after `crate::`, including those in `crate::{a, b::c}`."""
    yield from CRATE_PATH.findall(text)
    for m in CRATE_GROUP.finditer(text):
        depth, start, i = 1, m.end(), m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        group, depth, item = text[start : i - 1], 0, ""
        for ch in group + ",":
            if ch == "," and depth == 0:
                head = NAME.match(item.strip())
                if head:
                    yield head.group(0)
                item = ""
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            item += ch


def crates(root: Path):
    for group in ("canisters", "crates", "tests"):
        for manifest in sorted((root / group).glob("*/Cargo.toml")):
            src = manifest.parent / "src"
            if src.is_dir():
                yield manifest.parent, src


def top_module(src: Path, file: Path):
    rel = file.relative_to(src)
    if len(rel.parts) == 1 and rel.stem in ("lib", "main"):
        return None
    return rel.parts[0].removesuffix(".rs")


def is_test_file(src: Path, file: Path) -> bool:
    parts = file.relative_to(src).parts
    return file.name == "tests.rs" or "tests" in parts[:-1]


def non_test_text(src: Path, file: Path) -> str:
    text = file.read_text(encoding="utf-8")
    cut = text.find("#[cfg(test)]")
    text = text if cut < 0 else text[:cut]
    # Comments (doc links included) are not imports.
    text = re.sub(r"//[^\n]*", "", text)
    rel = file.relative_to(src).parts
    if len(rel) == 1 or (len(rel) == 2 and rel[1] == "mod.rs"):
        # In a top-level module, `super::x` is `crate::x`.
        text = re.sub(r"\bsuper::", "crate::", text)
    return text


def graph(src: Path):
    modules = {
        p.name.removesuffix(".rs")
        for p in src.iterdir()
        if (p.suffix == ".rs" and p.stem not in ("lib", "main")) or p.is_dir()
    }
    edges = {m: set() for m in modules}
    for file in src.rglob("*.rs"):
        module = top_module(src, file)
        if module is None or module not in edges or is_test_file(src, file):
            continue
        for target in named_modules(non_test_text(src, file)):
            if target in modules and target != module:
                edges[module].add(target)
    return edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    failed = False
    for crate, src in crates(root):
        edges = graph(src)
        for component in cycles(edges):
            failed = True
            links = ", ".join(
                f"{a} -> {b}" for a in component for b in sorted(edges[a]) if b in component
            )
            print(f"{crate.relative_to(root)}: modules in a circle: {' '.join(component)} ({links})")
        for file in sorted(crate.rglob("*.rs")):
            lines = file.read_text(encoding="utf-8").count("\n")
            if lines > MAX_LINES and "target" not in file.relative_to(root).parts:
                failed = True
                print(f"{file.relative_to(root)}: {lines} lines (at most {MAX_LINES})")
    if not failed:
        print(f"no module import circles, no source file over {MAX_LINES} lines")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
