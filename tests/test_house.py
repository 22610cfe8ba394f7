"""The house rules of the source, read from the files themselves: every import of fractalvid
names a module that exists, no two modules import each other round a circle, and no private
name is imported from another module."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"fractalvid": ROOT / "fractalvid", "fractalvid.gen": ROOT / "gen",
           "fractalvid.shards": ROOT / "shards", "fractalvid.pipelines": ROOT / "pipelines"}


def _modules() -> dict[str, Path]:
    """{dotted name: file} of every module of the package, as setup.cfg's package_dir maps
    the folders."""
    found = {}
    for package, folder in FOLDERS.items():
        for path in folder.glob("*.py"):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found[name] = path
    return found


def _imports(path: Path, name: str):
    """(module imported, names taken from it, line) for every import in the file, at any depth
    (a function's local import counts too); relative imports resolved."""
    package = name if path.stem == "__init__" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            yield base, [a.name for a in node.names], node.lineno


def _graph():
    modules = _modules()
    edges, problems = {m: set() for m in modules}, []
    for name, path in modules.items():
        for target, names, line in _imports(path, name):
            if not target.startswith("fractalvid"):
                continue
            for full in [f"{target}.{n}" for n in names if f"{target}.{n}" in modules] or \
                    [target]:
                if full not in modules:
                    problems.append(f"{path.name}:{line}: {full} is no module of fractalvid")
                    continue
                if full != name:
                    edges[name].add(full)
                if full == target:
                    private = [n for n in names if n.startswith("_") and n != "__version__"]
                    if private:
                        problems.append(f"{path.name}:{line}: takes private {private} of {full}")
    return edges, problems


def _cycles(edges):
    """The import circles: each as the list of modules round it."""
    found, index, low, stack, on, counter = [], {}, {}, [], set(), [0]

    def visit(v):  # Tarjan's strongly connected components
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
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_import_names_a_module_and_takes_no_private_name():
    _, problems = _graph()
    assert problems == []


def test_no_modules_import_each_other_round_a_circle():
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_the_checks_see_a_circle_and_a_private_name(tmp_path):
    """The checker itself: a planted circle and a planted private import are found, and a
    relative import is resolved as Python resolves it."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _cycles(edges) == [["a", "b", "c"]]
    fake = tmp_path / "planted.py"
    fake.write_text("from fractalvid.shards.reader import _worker\nfrom .store import Store\n")
    got = list(_imports(fake, "fractalvid.shards.planted"))
    assert got == [("fractalvid.shards.reader", ["_worker"], 1),
                   ("fractalvid.shards.store", ["Store"], 2)]
