"""The package's layers: every import of a migr_hf module (at module level or inside a function) points to its own
layer or a lower one, and the subpackages import each other without a circle."""

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "migr_hf"

# Lowest first. A module belongs to the first layer listing its top-level name (subpackage or module of migr_hf);
# within a layer, imports may go either way as long as they form no circle between top-level names.
LAYERS = (
    ("vocabulary", ("version", "lazy", "schema", "labels", "parsing", "conversation", "media")),
    ("services", ("services",)),
    ("classifiers", ("classifiers",)),
    ("data", ("data",)),
    ("generation", ("generation",)),
    ("models", ("models",)),
    ("rewards and evaluation", ("rewards", "evaluation")),
    ("trainers", ("trainers",)),
    ("testing", ("testing",)),
    ("applications", ("apps",)),
    ("synthetic benchmark", ("synthetic",)),
    ("analysis", ("analysis",)),
    ("commands", ("commands", "cli")),
    ("package face", ("__init__",)),
)
LAYER_OF = {name: index for index, (_, names) in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level(module: str) -> str:
    """``migr_hf.data.builder`` -> ``data``; the package itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute name) of every migr_hf module or name the module at ``path`` (its text: ``source``, else
    the file's) imports, at any depth of its code."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    source = path.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "migr_hf"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "migr_hf":
                continue
            if node.module is None or target == "migr_hf":  # `from .. import schema`: the names are modules
                found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return found


def import_edges() -> list[tuple[str, int, str, str]]:
    """(file, line, importing top-level name, imported top-level name) over every module of migr_hf."""
    edges = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        source = top_level(module_name(path))
        for line, target in imported_modules(path):
            edges.append((str(path.relative_to(PACKAGE_DIR.parent)), line, source, top_level(target)))
    return edges


def test_every_module_has_a_layer():
    names = {top_level(module_name(path)) for path in PACKAGE_DIR.rglob("*.py")}
    assert names - set(LAYER_OF) == set(), "add the new module or subpackage to LAYERS"
    assert set(LAYER_OF) - names == set(), "LAYERS names a module that no longer exists"


def test_readme_architecture_names_every_layer_in_order():
    """The README's map names every module and subpackage of LAYERS, in the order of the layers."""
    readme = (PACKAGE_DIR.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    names = [name for _, layer in LAYERS for name in layer if name != "__init__"]
    files = [f"{name}/" if (PACKAGE_DIR / name).is_dir() else f"{name}.py" for name in names]
    positions = [section.find(file) for file in files]
    assert -1 not in positions, [file for file, position in zip(files, positions) if position == -1]
    layer_starts = [min(section.find(files[names.index(name)]) for name in layer) for _, layer in LAYERS[:-1]]
    assert layer_starts == sorted(layer_starts)


def test_every_import_names_a_module_that_exists():
    unknown = [f"{file}:{line}: imports {target}" for file, line, _, target in import_edges() if target not in LAYER_OF]
    assert unknown == []


def test_no_import_runs_up_a_layer():
    upward = [
        f"{file}:{line}: {source} ({LAYERS[LAYER_OF[source]][0]}) imports {target} ({LAYERS[LAYER_OF[target]][0]})"
        for file, line, source, target in import_edges()
        if target in LAYER_OF and LAYER_OF[target] > LAYER_OF[source]
    ]
    assert upward == []


def test_no_circle_between_top_level_names():
    graph: dict[str, set[str]] = {}
    for _, _, source, target in import_edges():
        if source != target:
            graph.setdefault(source, set()).add(target)
    circle = find_circle(graph)
    assert circle is None, " -> ".join(circle or [])


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of ``graph`` as a closed path, or ``None`` (iterative depth-first search)."""
    state: dict[str, str] = {}
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph.get(start, ())))]
        state[start] = "open"
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = "done"
                stack.pop()
            elif state.get(child) == "open":
                return path[path.index(child) :] + [child]
            elif child not in state:
                state[child] = "open"
                path.append(child)
                stack.append(iter(sorted(graph.get(child, ()))))
    return None


@pytest.mark.parametrize(
    ("graph", "circle"),
    [
        ({"data": {"models"}, "models": {"data"}}, ["data", "models", "data"]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b", "c"}, "b": {"c"}}, None),
    ],
)
def test_find_circle_finds_circles(graph, circle):
    assert find_circle(graph) == circle


def test_imports_are_resolved_like_python():
    """Relative, absolute, package-level and function-level imports are all seen."""
    path = PACKAGE_DIR / "data" / "modality_importance.py"
    names = {name for _, name in imported_modules(path)}
    assert {"migr_hf.labels", "migr_hf.schema", "migr_hf.data.jsonl", "migr_hf.data.records"} <= names
    code = (
        "import os\nfrom .. import schema\nfrom migr_hf.media import probe_media\n"
        "def load():\n    from ..models.migr_omni import mi_estimation\n"
    )
    assert imported_modules(path, code) == [
        (2, "migr_hf.schema"),
        (3, "migr_hf.media"),
        (5, "migr_hf.models.migr_omni"),
    ]
