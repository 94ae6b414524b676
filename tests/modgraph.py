#!/usr/bin/env python3
"""The module graph of src/, from its `#include "x.h"` lines, and the
claims docs/design.md makes about the code that a grep can keep true.

    python3 tests/modgraph.py            check: exit 1, naming the cycle or
                                         the broken claim, if there is one
    python3 tests/modgraph.py --print    also print the graph (module: what
                                         it includes), bottom layer first

A module is a file stem: src/loop.c and src/loop.h are module `loop`, and
a .c including its own .h is no edge.  Two kinds of file map otherwise:

  * cmd.h, cmd_table.c and every cmd_*.c are module `cmd`: the command
    table and its handlers are one glue module whose rows are split into
    files by object (cmd_service.c, cmd_fd.c, ...).
  * X_impl.h is a module of its own, `X_impl`: the inside of a family of
    files (service_impl.h: struct service, shared by service.c, svc_child.c
    and svc_ready.c).  So every file that includes it sits above it, and
    the inside cannot call up into the family: what it needs from above
    comes through a callback (the service listener).

An edge A -> B means some file of A includes B's header.  The graph must
have no cycle: if two modules need each other, one of them is missing a
callback (../shared/STYLE.md, docs/design.md "Layering").

Only the standard library; stdout is the report, the exit code the verdict.
"""

import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
# Headers the build makes (in the build directory), which are no module.
GENERATED = {"usage.h"}     # --help's options, from docs/daemonproxy.1
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(filename):
    stem = filename.rsplit(".", 1)[0]
    if stem == "cmd" or stem.startswith("cmd_"):
        return "cmd"
    return stem


def read_sources(src):
    files = {}
    for name in sorted(os.listdir(src)):
        if name.endswith((".c", ".h")):
            with open(os.path.join(src, name), encoding="utf-8") as f:
                files[name] = f.read()
    return files


def build_graph(files):
    graph = {}
    for name, text in files.items():
        mod = module_of(name)
        deps = graph.setdefault(mod, set())
        for inc in INCLUDE.findall(text):
            if inc in GENERATED:
                continue
            if inc not in files:
                sys.exit(f"modgraph: {name} includes \"{inc}\", which is not in src/")
            dep = module_of(inc)
            if dep != mod:
                deps.add(dep)
    return graph


def find_cycle(graph):
    """One cycle as a list of modules (first == last), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {m: WHITE for m in graph}
    stack = []

    def visit(m):
        colour[m] = GREY
        stack.append(m)
        for d in sorted(graph[m]):
            if colour[d] == GREY:
                return stack[stack.index(d):] + [d]
            if colour[d] == WHITE:
                c = visit(d)
                if c:
                    return c
        stack.pop()
        colour[m] = BLACK
        return None

    for m in sorted(graph):
        if colour[m] == WHITE:
            c = visit(m)
            if c:
                return c
    return None


def components(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, on, stack, out = {}, {}, set(), [], []

    def visit(m):
        index[m] = low[m] = len(index)
        stack.append(m)
        on.add(m)
        for d in graph[m]:
            if d not in index:
                visit(d)
                low[m] = min(low[m], low[d])
            elif d in on:
                low[m] = min(low[m], index[d])
        if low[m] == index[m]:
            comp = []
            while True:
                d = stack.pop()
                on.discard(d)
                comp.append(d)
                if d == m:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for m in sorted(graph):
        if m not in index:
            visit(m)
    return out


def layers(graph):
    """Modules by height: 0 includes nothing of src/, n includes up to n-1."""
    height = {}

    def h(m):
        if m not in height:
            height[m] = 1 + max((h(d) for d in graph[m]), default=-1)
        return height[m]

    for m in graph:
        h(m)
    return height


# --- claims ------------------------------------------------------------------
# Each: what docs/design.md says, and a check over the sources (name -> text)
# that returns the offending "file:line: text" strings.

COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def code_only(text):
    """text without its comments, each replaced by as many newlines."""
    return COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def lines_matching(files, pattern, keep):
    rx = re.compile(pattern)
    out = []
    for name, text in files.items():
        if not keep(name):
            continue
        for i, line in enumerate(code_only(text).splitlines(), 1):
            if rx.search(line):
                out.append(f"src/{name}:{i}: {line.strip()}")
    return out


# A directive in a string literal of src/, and those fmt.c formats (fmt.h).
STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
DIRECTIVE = re.compile(r"%[-+ #0]*(?:\*|\d+)?(?:\.(?:\*|\d+))?(hh|h|ll|l|z|j|t)?(.?)")


def unformattable(files):
    out = []
    for name, text in files.items():
        if name == "fmt.c":     # its literals are output, not formats
            continue
        for i, line in enumerate(code_only(text).splitlines(), 1):
            for lit in STRING.findall(line):
                for m in DIRECTIVE.finditer(lit[1:-1]):
                    length, conv = m.groups()
                    if conv and (conv in "diuoxX" or (conv in "cs%" and not length)):
                        continue
                    out.append(f"src/{name}:{i}: {m.group(0)!r} in {lit}")
    return out


CLAIMS = [
    ("the daemon links no stdio: it formats with fmt.c (fmt_snprintf) and writes with sys.c",
     lambda f: lines_matching(f, r"\b(v?s?n?printf|v?fprintf|v?dprintf|fputs|puts|putchar|"
                                 r"fopen|fdopen|fflush|fwrite|fgets|getline)\s*\(",
                              lambda n: n != "fmt.c")),
    ("format strings use only the directives fmt.c formats (fmt.h)", unformattable),
    ("every EINTR retry loop lives in sys.c",
     lambda f: lines_matching(f, r"errno\s*==\s*EINTR", lambda n: n != "sys.c")),
    ("spawn.c is the only place a process is created",
     lambda f: lines_matching(f, r"\b(fork|vfork|clone|clone3|posix_spawn)\s*\(",
                              lambda n: n != "spawn.c")),
    ("unused parameters are allowed (-Wno-unused-parameter): no (void)x; casts",
     lambda f: lines_matching(f, r"^\s*\(void\)\s*[A-Za-z_]\w*\s*;", lambda n: True)),
]


def main(argv):
    files = read_sources(SRC)
    graph = build_graph(files)
    failed = False
    if "--print" in argv:
        height = layers(graph) if not find_cycle(graph) else {m: 0 for m in graph}
        for m in sorted(graph, key=lambda m: (height[m], m)):
            print(f"{height[m]:2} {m}: {' '.join(sorted(graph[m]))}".rstrip())
    cycle = find_cycle(graph)
    if cycle:
        print("modgraph: include cycle: " + " -> ".join(cycle))
        for comp in components(graph):
            print(f"modgraph: {len(comp)} modules in one cycle: {' '.join(comp)}")
        failed = True
    for claim, check in CLAIMS:
        bad = check(files)
        if bad:
            print(f"modgraph: the claim \"{claim}\" is broken:")
            for b in bad:
                print("  " + b)
            failed = True
    if not failed:
        print(f"modgraph: {len(graph)} modules, no include cycle, {len(CLAIMS)} claims hold")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
