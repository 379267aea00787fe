"""The test tree mirrors the source tree, and no test module imports another.

The tests of ``passes/fusion/`` live in ``tests/passes/fusion/``, those of ``compiler/ir/`` in
``tests/compiler/ir/``, the doc checks in ``tests/docs/``: a test file's folder under
``tests/`` names a folder of the repository. Helpers shared by several test modules live in
``tests/support/`` and fixtures in ``tests/conftest.py``, so a test module never imports
another one (pytest would collect the imported tests twice over, and a helper's home would
depend on which test happened to need it first). Directly under ``tests/`` sit only the
checks of the repository as a whole (``WHOLE_REPOSITORY``).

Each rule is a function over a tree root, checked on this repository and, so that it is seen
to fail, on a small tree written into ``tmp_path`` that breaks it.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from tests.conftest import REPO

#: test files that check the repository as a whole, and so mirror no single folder
WHOLE_REPOSITORY = {"test_layout_of_tests.py", "test_architecture.py"}
#: folders under tests/ that mirror no source folder, and why
NOT_MIRRORED = {
    # the fuzz suite drives the whole CLI (every frontend, the pipeline, every target) with
    # mutated model files; its kept reproducers include .ir files, which are not FileCheck tests
    "fuzz",
}
#: folders whose modules must not import test modules
SCANNED = ("tests", "bench")


def _is_test_file(path: Path) -> bool:
    return (path.name.startswith("test_") and path.suffix == ".py") or path.suffix == ".ir"


def _module_parts(path: Path, root: Path) -> list[str]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_test_modules(path: Path, root: Path) -> set[str]:
    """Dotted names of the ``tests.`` modules named ``test_*`` that ``path`` imports.

    ``root`` is the directory on ``sys.path`` (the repository); relative imports are resolved
    against ``path``'s package. Imports anywhere in the file count, inside functions too.
    """
    here = _module_parts(path, root)
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package[: len(package) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            candidates = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in candidates:
            parts = name.split(".")
            test_at = [i for i, p in enumerate(parts) if p.startswith("test_")]
            if parts[0] == "tests" and test_at:
                found.add(".".join(parts[: test_at[0] + 1]))
    return found


def imports_of_test_modules(root: Path, folders: tuple[str, ...] = SCANNED) -> list[str]:
    """``file: module`` for every import of a test module under ``folders`` of ``root``."""
    bad = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            for mod in sorted(imported_test_modules(path, root)):
                bad.append(f"{path.relative_to(root).as_posix()}: {mod}")
    return bad


def misplaced_tests(root: Path) -> list[str]:
    """Test files (``test_*.py``, FileCheck ``*.ir``) under ``root/tests`` whose folder does
    not mirror a folder of ``root``, or a module (``tests/compiler/cli/`` for the tests of
    ``compiler/cli.py``); directly under ``tests/`` only ``WHOLE_REPOSITORY``, and anything
    under the folders of ``NOT_MIRRORED``."""
    tests = root / "tests"
    bad = []
    for path in sorted(tests.rglob("*")):
        if not path.is_file() or not _is_test_file(path):
            continue
        rel = path.parent.relative_to(tests)
        if rel == Path("."):
            ok = path.name in WHOLE_REPOSITORY
        elif rel.parts[0] in NOT_MIRRORED:
            ok = True
        else:
            mirrored = root / rel
            ok = rel.parts[0] not in ("tests", "support") and (
                mirrored.is_dir() or mirrored.with_suffix(".py").is_file())
        if not ok:
            bad.append(path.relative_to(root).as_posix())
    return bad


def folders_without_init(root: Path) -> list[str]:
    """Folders between ``root/tests`` and a test file that are not packages (without
    ``__init__.py`` pytest would import two same-named test files as one module)."""
    tests = root / "tests"
    missing = set()
    for path in tests.rglob("test_*.py"):
        folder = path.parent
        while folder != tests.parent:
            if not (folder / "__init__.py").exists():
                missing.add(folder.relative_to(root).as_posix())
            folder = folder.parent
    return sorted(missing)


def duplicate_test_names(root: Path) -> list[str]:
    """Test file names used more than once anywhere under ``root/tests``."""
    names = Counter(p.name for p in (root / "tests").rglob("test_*.py"))
    return sorted(n for n, c in names.items() if c > 1)



# -- this repository --------------------------------------------------------------------------


def test_no_module_imports_a_test_module():
    assert imports_of_test_modules(REPO) == [], "move shared helpers to tests/support/"


def test_test_files_mirror_the_source_tree():
    assert misplaced_tests(REPO) == []


def test_test_folders_are_packages():
    assert folders_without_init(REPO) == []


def test_test_file_names_are_unique():
    assert duplicate_test_names(REPO) == []


def test_the_checks_see_the_mirrored_folders():
    # the layout rules would pass vacuously on an empty tree
    found = {p.relative_to(REPO / "tests").parts[0] for p in (REPO / "tests").rglob("test_*.py")}
    assert {"compiler", "passes", "targets"} <= found


# -- the checks fail on a tree that breaks the rules ------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_imports_of_test_modules_are_found_in_every_form(tmp_path):
    root = _write(tmp_path, {
        "tests/__init__.py": "",
        "tests/support/__init__.py": "",
        "tests/support/helpers.py": "def f():\n    from tests.a import test_x\n",
        "tests/a/__init__.py": "",
        "tests/a/test_x.py": "from .test_y import h\nfrom . import test_z\n",
        "tests/a/test_y.py": "import tests.a.test_z\nfrom tests.a.test_x import g as test_g\n",
        "tests/a/test_z.py": "from tests.support.helpers import f\nfrom tests.conftest import X\n"
                             "from ..support import helpers\nimport test_outside_tests\n",
        "bench/run.py": "from tests.a.test_x import g\n",
    })
    assert imports_of_test_modules(root) == [
        "tests/a/test_x.py: tests.a.test_y",
        "tests/a/test_x.py: tests.a.test_z",
        "tests/a/test_y.py: tests.a.test_x",
        "tests/a/test_y.py: tests.a.test_z",
        "tests/support/helpers.py: tests.a.test_x",
        "bench/run.py: tests.a.test_x",
    ]


def test_misplaced_tests_are_found(tmp_path):
    root = _write(tmp_path, {
        "passes/fusion/fuse.py": "",
        "compiler/cli.py": "",
        "tests/compiler/cli/test_cli.py": "",
        "tests/compiler/nope/test_nope.py": "",
        "tests/test_layout_of_tests.py": "",
        "tests/test_flat.py": "",
        "tests/passes/fusion/test_fuse.py": "",
        "tests/passes/fusion/fuse.ir": "",
        "tests/passes/fusion/data.txt": "",
        "tests/passes/nowhere/test_gone.py": "",
        "tests/passes/nowhere/gone.ir": "",
        "tests/support/test_helper.py": "",
        "tests/fuzz/test_fuzz.py": "",
        "tests/fuzz/regressions/ir/abc.ir": "",
    })
    assert misplaced_tests(root) == [
        "tests/compiler/nope/test_nope.py",
        "tests/passes/nowhere/gone.ir",
        "tests/passes/nowhere/test_gone.py",
        "tests/support/test_helper.py",
        "tests/test_flat.py",
    ]


def test_missing_packages_and_duplicate_names_are_found(tmp_path):
    root = _write(tmp_path, {
        "tests/__init__.py": "",
        "tests/passes/cleanup/__init__.py": "",
        "tests/passes/cleanup/test_dce.py": "",
        "tests/compiler/__init__.py": "",
        "tests/compiler/test_dce.py": "",
    })
    assert folders_without_init(root) == ["tests/passes"]
    assert duplicate_test_names(root) == ["test_dce.py"]
