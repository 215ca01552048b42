"""The engine room knows nothing of videos: taskmanager/ imports only itself and the models it stores."""

import ast
from pathlib import Path

import videos.taskmanager

ALLOWED = ("videos.taskmanager", "videos.models")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file of the package imports, by absolute name (`from videos import x` is videos.x)."""
    package = ["videos", "taskmanager"]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parent = ".".join(package[: len(package) + 1 - node.level]) if node.level else ""
            module = ".".join(part for part in (parent, node.module) if part)
            if module in ("videos", "videos.taskmanager"):  # names imported from a package are its modules
                found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, module))
    return found


def test_taskmanager_imports_nothing_of_videos_but_its_models():
    package = Path(videos.taskmanager.__file__).parent
    files = sorted(package.glob("*.py"))
    assert len(files) >= 8  # the walk sees the package
    offending = [
        f"{path.name}:{line} imports {name}"
        for path in files
        for line, name in imported_modules(path)
        if (name == "videos" or name.startswith("videos.")) and not name.startswith(ALLOWED)
    ]
    assert offending == []


def test_the_walk_catches_an_import_of_the_app(tmp_path):
    bad = tmp_path / "bad.py"
    lines = ["from videos.media import process", "import videos.services.tasks"]
    lines += ["from videos import jobs", "from .. import api"]
    bad.write_text("\n".join(lines))
    names = [name for _, name in imported_modules(bad)]
    assert names == ["videos.media", "videos.services.tasks", "videos.jobs", "videos.api"]
