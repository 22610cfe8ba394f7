"""The house rules of the source, read from the files themselves: the stages import each
other by relative imports that lead to their files on disk, every import of fractalvid names a
module that exists, no two modules import each other round a circle, and no private
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


STAGES = ("gen", "shards", "pipelines")


def _on_disk(path: Path, node: ast.ImportFrom) -> list[str]:
    """What is wrong with one import of a stage's module, read as a path from its file (as a
    reader, grep or an editor follows it): an absolute fractalvid import names no folder of
    the repository (the stages install under another name), and a relative one must name a
    file or folder that exists, or a name defined in the package it names."""
    if node.level == 0:
        if (node.module or "").split(".")[0] == "fractalvid":
            return [f"from {node.module}: names no path on disk; import it relatively"]
        return []
    folder = path.parent
    for _ in range(node.level - 1):
        folder = folder.parent
    parts = node.module.split(".") if node.module else []
    target = folder.joinpath(*parts)
    if parts and not (target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()):
        return [f"from {'.' * node.level}{node.module}: no {target.parent.name}/{target.name}.py"]
    if not parts or (target / "__init__.py").is_file():
        # from . import x / from ..shards import x: each x a module there
        return [f"from {'.' * node.level}{node.module or ''} import {a.name}: no such module"
                for a in node.names if not (target / f"{a.name}.py").is_file()]
    return []


def _disk_problems(folders=STAGES, root: Path = ROOT) -> list[str]:
    problems = []
    for stage in folders:
        for path in sorted((root / stage).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom):
                    problems += [f"{stage}/{path.name}:{node.lineno}: {p}"
                                 for p in _on_disk(path, node)]
    return problems


def test_the_stages_imports_lead_to_their_files():
    assert _disk_problems() == []


def test_an_import_that_leads_nowhere_is_named(tmp_path):
    """The on-disk check itself, on a planted tree: an absolute import, a missing file and a
    missing module of a package are each named; good relative imports pass."""
    (tmp_path / "gen").mkdir()
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "__init__.py").write_text("")
    (tmp_path / "shards" / "codec.py").write_text("")
    (tmp_path / "gen" / "rng.py").write_text("")
    (tmp_path / "gen" / "a.py").write_text(
        "from .rng import x\nfrom ..shards.codec import y\nfrom ..shards import codec\n"
        "from fractalvid.gen.rng import x\nfrom .nothing import z\nfrom ..shards import gone\n")
    got = _disk_problems(("gen",), tmp_path)
    assert [p.split(":")[1] for p in got] == ["4", "5", "6"]
    assert "import it relatively" in got[0] and "gen/nothing.py" in got[1] and "gone" in got[2]


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
