"""The house rules of docs/architecture.md: which package may import which, the engine never
imports gradio, and the page loads without torch, transformers or datasets."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "finetune_core"
ENGINE = {"errors", "charts", "config", "runs", "host", "hub/net", "model", "freeze_plan"}
ENGINE |= {"jsonfiles", "inert"}
ENGINE |= {"data", "hub", "predict", "export", "train", "preflight", "jobs"}
BASE = {"errors", "config", "runs", "model"}
ALLOWED: dict[str, set[str]] = {  # docs/architecture.md, "Import rules"
    "errors": set(),
    "inert": set(),
    "charts": {"inert"},
    "jsonfiles": set(),
    "config": {"errors"},
    "runs": {"errors", "jsonfiles"},
    "host": {"errors", "config", "runs"},
    "hub/net": {"errors", "host"},
    "model": {"errors", "config", "hub/net", "jsonfiles", "host"},
    "freeze_plan": {"errors", "config", "model", "hub/net"},
    "data": {"errors", "config", "model", "hub/net", "host", "jsonfiles"},
    "hub": BASE | {"data", "hub/net", "host"},
    "predict": BASE | {"data", "host"},
    "export": BASE | {"data", "hub", "hub/net", "host", "predict"},
    "train": BASE | {"data", "hub", "hub/net", "export", "host", "freeze_plan", "predict", "inert"},
    "preflight": BASE | {"data", "hub", "hub/net", "train", "host", "freeze_plan"},
    "jobs": BASE | {"jsonfiles", "train", "export", "predict", "host"},
    "ui": ENGINE,
    "cli": ENGINE | {"ui"},
    "__main__": {"cli"},
    "finetune_core": set(),
}


def unit_of(module: str) -> str:
    """finetune_core.hub.search -> "hub"; finetune_core.hub.net -> "hub/net"; .runs -> "runs"."""
    parts = module.split(".")[1:] or ["finetune_core"]
    if parts[:2] == ["hub", "net"]:
        return "hub/net"
    return parts[0]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, *, top_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, those inside functions included."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_unit_has_a_rule():
    assert {unit_of(module_name(p)) for p in sources()} <= set(ALLOWED)


def test_packages_import_only_what_the_rules_allow():
    broken = []
    for path in sources():
        here = unit_of(module_name(path))
        for line, name in imports(path):
            if not name.startswith("finetune_core."):
                continue
            target = unit_of(_existing(name))
            if target != here and target not in ALLOWED[here]:
                broken.append(f"{path.relative_to(ROOT)}:{line}: {here} imports {target}")
    assert not broken, "\n".join(broken)


def _existing(name: str) -> str:
    """The module a dotted import name refers to (`from finetune_core import runs` names the
    module finetune_core.runs; `from finetune_core.runs import RunDir` names a class in it)."""
    parts = name.split(".")
    while len(parts) > 1:
        path = ROOT.joinpath(*parts)
        if path.with_suffix(".py").is_file() or path.is_dir():
            break
        parts = parts[:-1]
    return ".".join(parts)


def test_the_engine_never_imports_gradio_even_lazily():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sources()
        if unit_of(module_name(path)) in ENGINE
        for line, name in imports(path)
        if name.split(".")[0] == "gradio"
    ]
    assert not offenders


def test_model_and_data_reach_the_hub_only_inside_functions():
    """hub/__init__ imports the cards, which import model and data: a module-level import the
    other way round would be a cycle."""
    for path in [
        *sorted((PACKAGE / "model").glob("*.py")),
        *sorted((PACKAGE / "data").glob("*.py")),
    ]:
        top = [n for _, n in imports(path, top_level_only=True)]
        assert not [n for n in top if n.startswith("finetune_core.hub")], path


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_importing_the_whole_engine_loads_no_gradio():
    engine = sorted(
        module_name(p)
        for p in sources()
        if unit_of(module_name(p)) in ENGINE | {"cli", "__main__", "finetune_core"}
        and p.name != "__main__.py"
    )
    code = "import importlib, sys\n"
    code += f"for m in {engine!r}: importlib.import_module(m)\n"
    code += "print(sorted(m for m in sys.modules if m.split('.')[0] == 'gradio'))"
    assert run_python(code) == "[]"


def test_the_page_loads_without_the_training_libraries():
    code = "import sys, finetune_core.ui.app\n"
    code += "print(sorted({'torch', 'transformers', 'datasets'} & set(sys.modules)))"
    assert run_python(code) == "[]"
