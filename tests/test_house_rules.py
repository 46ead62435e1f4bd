"""House rules that keep medwb usable: a light import, a headless core, ruff-clean code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ["torch", "captum", "lifelines", "sksurv", "pandas", "pydicom", "SimpleITK", "highdicom",
         "matplotlib", "skimage", "scipy", "nibabel", "ipywidgets", "IPython"]


def test_import_medwb_loads_no_heavy_package():
    code = f"import sys, medwb; heavy = {HEAVY!r}; print(','.join(m for m in heavy if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import medwb pulled in: {out.stdout.strip()}"


def test_public_names_resolve():
    import medwb

    for name in medwb.__all__:
        assert getattr(medwb, name) is not None, name


def test_core_never_imports_a_jupyter_package():
    pattern = re.compile(r"^\s*(import|from)\s+(ipywidgets|IPython|ipyniivue|itkwidgets|anywidget|jupyter\w*)\b",
                         re.M)
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "medwb").rglob("*.py") if pattern.search(p.read_text())]
    assert not offenders, f"medwb/ is headless; these import a Jupyter package: {offenders}"


def test_code_is_ruff_clean():
    ruff = Path(sys.executable).with_name("ruff")
    out = subprocess.run([str(ruff), "check", "medwb", "widgets", "tests", "bench", "notebooks", "course", "docs", "conftest.py"], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]


def _medwb_import_graph() -> dict[str, set[str]]:
    """Every import between medwb modules, deferred ones (inside functions) and TYPE_CHECKING ones included."""
    import ast

    root = REPO / "medwb"
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            # importing one's own parent package runs its __init__ first anyway: not an edge
            graph[name] |= {t for t in targets if t in modules and t != name and not name.startswith(t + ".")}
    return graph


def test_medwb_has_no_import_circle_not_even_through_deferred_imports():
    graph = _medwb_import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert circles == [], f"import circles in medwb: {circles}"


def test_no_module_swaps_its_class():
    offenders = [str(p.relative_to(REPO)) for p in [*(REPO / "medwb").rglob("*.py"), *(REPO / "widgets").rglob("*.py")]
                 if re.search(r"\.__class__\s*=", p.read_text())]
    assert offenders == []


def test_explain_is_a_plain_function_also_after_the_old_import_path_is_used():
    code = ("import inspect, medwb; from medwb.explain import Region, localisation; import medwb.explain; "
            "import medwb.attribution as a; "
            "print(inspect.isfunction(medwb.explain), medwb.explain is a.explain, Region is a.Region, "
            "localisation is a.localisation)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True"] * 4


# The layers of medwb, bottom first: a module may import its own layer and the layers below, never one
# above, not even through a deferred import (docs/architecture.md draws this picture). Each name is a
# top-level module or package of medwb; "medwb" is the package's face (medwb/__init__.py).
LAYERS: list[tuple[str, set[str]]] = [
    ("data", {"volume"}),
    ("grid and records", {"orientation", "transforms", "provenance", "paths"}),
    ("reading", {"io", "cohort", "convert"}),
    ("writing and the demo", {"export", "deid", "demo"}),
    ("shared rules", {"masks", "viz"}),
    ("models", {"models"}),
    ("analysis", {"attribution", "explain", "features", "survival", "readers"}),
    ("runs and course", {"pipeline", "report", "teaching", "__main__", "medwb"}),
]


def _layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_every_medwb_module_has_a_layer():
    placed = set().union(*(names for _, names in LAYERS))
    units = {_layer_of(m) for m in _medwb_import_graph()}
    assert units <= placed, (f"medwb modules without a layer: {sorted(units - placed)}. Fix: add each to LAYERS "
                             "in tests/test_house_rules.py (and to the picture in docs/architecture.md).")


def test_lower_layers_never_import_upper_ones():
    rank = {name: i for i, (_, names) in enumerate(LAYERS) for name in names}
    up = []
    for module, targets in sorted(_medwb_import_graph().items()):
        for target in sorted(targets):
            a, b = _layer_of(module), _layer_of(target)
            if a in rank and b in rank and rank[b] > rank[a]:
                up.append(f"{module} ({LAYERS[rank[a]][0]}) imports {target} ({LAYERS[rank[b]][0]})")
    assert up == [], "imports that reach up a layer:\n" + "\n".join(up)


def test_the_architecture_picture_names_every_layer_and_module():
    doc = (REPO / "docs" / "architecture.md").read_text()
    missing = [name for _, names in LAYERS for name in sorted(names - {"medwb"})
               if f"{name}.py" not in doc and f"{name}/" not in doc]
    missing += [title for title, _ in LAYERS if title not in doc]
    assert missing == [], f"docs/architecture.md does not show: {missing}. Fix: add them to its picture."
