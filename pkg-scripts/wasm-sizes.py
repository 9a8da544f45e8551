#!/usr/bin/env python3
"""Where a wasm's bytes go: code size per crate (from the name section) and per section.

    pkg-scripts/wasm-sizes.py FILE.wasm [--top N] [--crate NAME]

Needs a module that still has its name section (wasm-bindgen's output before wasm-opt
--strip-debug, e.g. target/wasm32-unknown-unknown/release/wasm_ln.wasm). A function is counted
under the crate its name starts with (for `<A as B>::f`, A's crate): generic code lands in the
crate that defines it, which is where a cut has to be made anyway.
"""
import re
import sys
from collections import Counter


def leb(data, i):
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def sections(data):
    i = 8
    while i < len(data):
        sid = data[i]
        size, j = leb(data, i + 1)
        yield sid, data[j:j + size], j + size - i
        i = j + size


def crate_of(name):
    n = name.lstrip("<&*").replace("mut ", "").replace("dyn ", "").replace("const ", "")
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)", n)
    return m.group(1) if m else "?"


def main():
    path = sys.argv[1]
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 25
    only = sys.argv[sys.argv.index("--crate") + 1] if "--crate" in sys.argv else None
    data = open(path, "rb").read()
    imported_funcs = 0
    bodies = []
    names = {}
    per_section = Counter()
    for sid, body, total in sections(data):
        if sid == 0:
            nlen, k = leb(body, 0)
            cname = body[k:k + nlen].decode()
            per_section["custom:" + cname] += total
            if cname == "name":
                k += nlen
                while k < len(body):
                    sub = body[k]
                    ssize, k2 = leb(body, k + 1)
                    if sub == 1:
                        count, p = leb(body, k2)
                        for _ in range(count):
                            idx, p = leb(body, p)
                            ln, p = leb(body, p)
                            names[idx] = body[p:p + ln].decode("utf-8", "replace")
                            p += ln
                    k = k2 + ssize
            continue
        per_section[{1: "type", 2: "import", 3: "function", 5: "memory", 6: "global", 7: "export",
                     9: "elem", 10: "code", 11: "data", 12: "datacount"}.get(sid, str(sid))] += total
        if sid == 2:
            count, p = leb(body, 0)
            for _ in range(count):
                for _ in range(2):
                    ln, p = leb(body, p)
                    p += ln
                kind = body[p]
                p += 1
                if kind == 0:
                    _, p = leb(body, p)
                    imported_funcs += 1
                elif kind == 1:
                    p += 1
                    flags = body[p]; p += 1
                    _, p = leb(body, p)
                    if flags & 1:
                        _, p = leb(body, p)
                elif kind == 2:
                    flags = body[p]; p += 1
                    _, p = leb(body, p)
                    if flags & 1:
                        _, p = leb(body, p)
                elif kind == 3:
                    p += 2
        if sid == 10:
            count, p = leb(body, 0)
            for n in range(count):
                size, q = leb(body, p)
                bodies.append((imported_funcs + n, q + size - p))
                p = q + size
    print(f"{path}: {len(data):,} bytes")
    for k, v in per_section.most_common():
        print(f"  section {k:<28} {v:>10,}")
    by_crate = Counter()
    funcs = []
    for idx, size in bodies:
        name = names.get(idx, f"func{idx}")
        c = crate_of(name)
        by_crate[c] += size
        funcs.append((size, name, c))
    print("code by crate:")
    for c, v in by_crate.most_common(top):
        print(f"  {c:<36} {v:>10,}")
    print("largest functions:")
    for size, name, c in sorted(funcs, reverse=True)[:top]:
        if only and c != only:
            continue
        print(f"  {size:>8,}  {name[:150]}")
    if only:
        print(f"functions of {only}:")
        for size, name, c in sorted((f for f in funcs if f[2] == only), reverse=True)[:top]:
            print(f"  {size:>8,}  {name[:150]}")


if __name__ == "__main__":
    main()
