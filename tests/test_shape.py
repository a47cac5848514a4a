"""The shape of bark_core, as a specification that can fail.

Every module is parsed (never imported) and every import counted: at module level, inside functions and under
`if TYPE_CHECKING:` alike. Imports flow one way, with no circle, through the layers

    constants, version <- models <- voices <- generation <- pipeline <- studio

(`testing` may use models, voices and generation; the package root re-exports for users and only a command line
above everything imports it).
No module is over 350 lines, no function over 60; each subpackage's `__init__` is a short docstring (plus
re-exports at most); the public API imports from `bark_core`; docs/architecture.md lists every module. The last
test plants a violation of each rule in a scratch package and checks that the rule catches it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bark_core"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60
MAX_INIT_DOCSTRING_LINES = 3
# Lower layers first: a module may import its own layer and those below it. A command line (`cli`, `__main__`) is
# an app over everything, developer tools and the package root included.
LAYERS = {"constants": 0, "version": 0, "models": 1, "voices": 2, "generation": 3, "pipeline": 4, "studio": 5,
          "cli": 6, "__main__": 6}
ROOT_LAYER = 5  # the package root re-exports the engine's public names for users (nothing from studio or testing)
APP_LAYER = 6
TESTING = "testing"  # developer tools: may use models, voices and generation (and the pipeline inside functions)
PUBLIC_API = ("BarkPipeline", "Voice", "BarkResult", "GenerationCancelled", "ModelFilesUnavailable", "Runtime",
              "Sampling", "SAMPLING", "LongFormSettings", "StreamSettings", "StreamChunk", "GPTConfig",
              "FineGPTConfig", "PRESETS", "generate_semantic", "generate_coarse", "generate_fine", "decode_codes",
              "LongTextWarning", "__version__")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the imported module (the most specific one that exists)
    line: int
    at_import_time: bool  # at module level (TYPE_CHECKING blocks included), not inside a function


def parse_package(package: Path) -> dict[str, tuple[Path, ast.Module]]:
    """Dotted module name -> (path, syntax tree) for every .py file under `package`."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = (path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return out


def _function_level_nodes(tree: ast.Module) -> set[int]:
    return {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            for n in ast.walk(f)}


def imports_of(name: str, path: Path, tree: ast.Module, modules: set[str]) -> list[Import]:
    """Every import inside the package that module `name` makes, wherever it is in the file."""
    root = next(iter(modules)).split(".")[0]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    in_functions = _function_level_nodes(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            if target == root or target.startswith(root + "."):
                while target not in modules:  # `import bark_core.x.y` of a name, not a module: its module
                    target = target.rpartition(".")[0]
                out.append(Import(name, target, node.lineno, id(node) not in in_functions))
    return out


def import_graph(package: Path) -> list[Import]:
    parsed = parse_package(package)
    return [i for name, (path, tree) in parsed.items() for i in imports_of(name, path, tree, set(parsed))]


def find_cycle(edges: list[Import]) -> list[str] | None:
    """One circle of modules importing each other, if there is one."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        if e.source != e.target:
            graph.setdefault(e.source, set()).add(e.target)
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def layer_violations(edges: list[Import]) -> list[str]:
    """Imports against the flow: upwards, into the package root, into `testing`, or from `testing` beyond its
    reach."""
    out = []
    for e in edges:
        source, target = e.source.split(".")[1:2], e.target.split(".")[1:2]
        rank = LAYERS.get(source[0], -1) if source else ROOT_LAYER  # testing: see below
        where = f"{e.source} imports {e.target} (line {e.line})"
        if not target:
            if rank < APP_LAYER:
                out.append(f"{where}: the package root is for users (import the module that defines the name)")
        elif target[0] == TESTING:
            if source[:1] != [TESTING] and rank < APP_LAYER:
                out.append(f"{where}: nothing in the engine uses the developer tools")
        elif source[:1] == [TESTING]:
            reach = LAYERS["generation"] if e.at_import_time else LAYERS["pipeline"]
            if LAYERS[target[0]] > reach:
                out.append(f"{where}: testing uses models, voices and generation (the pipeline inside functions)")
        elif LAYERS[target[0]] > rank or (not source and LAYERS[target[0]] == ROOT_LAYER):
            out.append(f"{where}: {source[0] if source else 'the package root'} is below {target[0]}")
    return out


def long_modules(package: Path) -> list[str]:
    return [f"{path.relative_to(package.parent)}: {n} lines" for path in sorted(package.rglob("*.py"))
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]


def long_functions(package: Path) -> list[str]:
    """Functions and methods (nested ones too) longer than MAX_FUNCTION_LINES, from `def` to their last line."""
    out = []
    for path, tree in parse_package(package).values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    out.append(f"{path.relative_to(package.parent)}:{node.lineno} {node.name}: {n} lines")
    return out


def init_violations(package: Path) -> list[str]:
    """Subpackage __init__ files that are more than a short docstring and re-exports from their own modules."""
    out = []
    for init in sorted(package.glob("*/__init__.py")):
        tree, where = ast.parse(init.read_text(encoding="utf-8")), init.relative_to(package.parent)
        doc = ast.get_docstring(tree, clean=False)
        if doc is None:
            out.append(f"{where}: no docstring saying what lives there")
        elif len(doc.strip().splitlines()) > MAX_INIT_DOCSTRING_LINES:
            out.append(f"{where}: a docstring of {len(doc.strip().splitlines())} lines (at most "
                       f"{MAX_INIT_DOCSTRING_LINES})")
        for node in tree.body[1 if doc is not None else 0 :]:
            reexport = isinstance(node, ast.ImportFrom) and node.level == 1
            names = isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["__all__"]
            if not (reexport or names):
                out.append(f"{where}:{node.lineno}: code in an __init__ (only re-exports and __all__)")
    return out


def unlisted_modules(package: Path, doc: str) -> list[str]:
    """Modules that docs/architecture.md's map (list items "- `path/inside/the/package.py` — what it holds") does
    not name (subpackages' __init__ files aside: the map names their folders), and entries that are not modules."""
    named = set(re.findall(r"^- `([\w/]+\.py)`", doc, flags=re.MULTILINE))
    modules = {str(p.relative_to(package)) for p in package.rglob("*.py")}
    required = {m for m in modules if "/" not in m or not m.endswith("/__init__.py")}
    return ([f"not in the map: {m}" for m in sorted(required - named)]
            + [f"in the map but not a module: {m}" for m in sorted(named - modules)])


# The specification -------------------------------------------------------------------------------------------


def test_no_import_circles():
    assert find_cycle(import_graph(PACKAGE)) is None, " -> ".join(find_cycle(import_graph(PACKAGE)) or [])


def test_imports_flow_down_the_layers():
    assert layer_violations(import_graph(PACKAGE)) == []


def test_every_module_belongs_to_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or
            (p / "__init__.py").exists()}
    assert tops - {"__init__"} <= set(LAYERS) | {TESTING}


def test_no_module_over_350_lines():
    assert long_modules(PACKAGE) == []


def test_no_function_over_60_lines():
    assert long_functions(PACKAGE) == []


def test_each_subpackage_init_says_in_a_few_lines_what_lives_there():
    assert init_violations(PACKAGE) == []


def test_the_public_api_imports_from_the_package():
    import bark_core

    missing = [name for name in PUBLIC_API if not hasattr(bark_core, name)]
    assert missing == [] and set(PUBLIC_API) <= set(bark_core.__all__)
    assert bark_core.Runtime.__module__ == "bark_core.models.runtime" and bark_core.SAMPLING[0].name == "text_temp"


def test_the_architecture_map_lists_every_module():
    assert unlisted_modules(PACKAGE, ARCHITECTURE.read_text(encoding="utf-8")) == []


def test_the_checks_catch_planted_violations(tmp_path):
    """Each rule above, broken once in a scratch package shaped like bark_core, reports the break."""
    pkg = tmp_path / "bark_core"
    files = {
        "__init__.py": '"""Root."""\nfrom .pipeline import P\nfrom .studio import s\n',
        "constants.py": "X = 1\n",
        "models/__init__.py": '"""One.\nTwo.\nThree.\nFour."""\nSETTING = 1\n',
        "models/a.py": "from ..generation import b\n",  # upwards (and with b: a circle)
        "generation/__init__.py": '"""Generation."""\nfrom .b import f\n',
        "generation/b.py": "from ..models import a\n\n\ndef f():\n" + "    x = 1\n" * 60
                           + "    from ..testing import t\n",
        "voices/__init__.py": '"""Voices."""\n',
        "voices/v.py": "from .. import X\n",  # the package root
        "pipeline.py": "from .generation.b import f\nP = f\n" + "\n" * 350,
        "testing/__init__.py": '"""Tools."""\n',
        "testing/t.py": "from ..pipeline import P\n\n\ndef g():\n    from ..studio import s\n",
        "studio/__init__.py": '"""Studio."""\n',
        "studio/s.py": "from .. import constants\n\n\ndef h():\n    from .. import cli\n",
        "cli.py": "from . import X\nfrom .studio import s\nfrom .testing import t\n",  # an app: all allowed
    }
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    edges = import_graph(pkg)
    assert set(find_cycle(edges)) == {"bark_core.models.a", "bark_core.generation.b"}
    found = "\n".join(layer_violations(edges))
    for expected in ("bark_core.models.a imports bark_core.generation.b", "bark_core.voices.v imports bark_core ",
                     "bark_core.generation.b imports bark_core.testing.t",
                     "bark_core.testing.t imports bark_core.pipeline (line 1)",
                     "bark_core.testing.t imports bark_core.studio.s", "bark_core imports bark_core.studio.s",
                     "bark_core.studio.s imports bark_core.cli (line 5)"):
        assert expected in found, (expected, found)
    assert "bark_core.cli imports" not in found and "bark_core imports bark_core.pipeline" not in found
    assert [m.split(":")[0] for m in long_modules(pkg)] == ["bark_core/pipeline.py"]
    assert [f.split()[1] for f in long_functions(pkg)] == ["f:"]
    assert len(init_violations(pkg)) == 2 and "4 lines" in init_violations(pkg)[0]
    assert unlisted_modules(pkg, "- `pipeline.py` — P\n- `models/a.py` — a\n- `gone.py` — g\n`voices/v.py`") == [
        "not in the map: __init__.py", "not in the map: cli.py", "not in the map: constants.py",
        "not in the map: generation/b.py",
        "not in the map: studio/s.py", "not in the map: testing/t.py", "not in the map: voices/v.py"] + [
        "in the map but not a module: gone.py"]
    assert find_cycle([e for e in edges if e.source not in ("bark_core.generation.b", "bark_core.studio.s")]) is None
