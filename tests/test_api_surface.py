"""The documented public surface of every study (issue 18, item 2).

Each study package re-exports its public names in ``__all__``; ``docs/api.md`` lists them, one table per
study, with one example each.  These tests import every public name, check that each class and function has
a docstring of its own, that the docs list exactly the names of ``__all__``, and run each study's example.

Regenerate the tables of docs/api.md after a change of ``__all__``:
    .venv/bin/python tests/test_api_surface.py > /tmp/names.md     (then paste each study's table)
"""
from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from attnlab.studies import STUDY_MODULES

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"

# what the docs say of the public names that are data, not classes or functions
DATA = {
    "STUDY": "the study object: name, presets, tasks(config), finalize, claims(), figures (what `attnlab run` runs)",
    "PRESETS": "{preset: config overrides} of `smoke`, `quick` and `paper`",
    "EXPERIMENTS": "the experiment registry: task kind -> `fn(config, params) -> {table: DataFrame}`",
    "VARIANT_SETTINGS": "{variant: config overrides} of the paper's variant experiments (Tables 3-5)",
    "ACTIVATIONS": "the activations the study trains with manual gradients (any registry entry works too)",
}


def public(path: str) -> dict[str, object]:
    """name -> object for every name in the package's ``__all__``."""
    module = importlib.import_module(path)
    names = getattr(module, "__all__", None)
    assert names, f"{path} has no __all__"
    assert len(set(names)) == len(names), f"{path}.__all__ repeats a name"
    return {n: getattr(module, n) for n in names}


def own_doc(obj) -> str:
    """The object's own docstring (not inherited; not a dataclass's generated signature). A Study class is
    documented by its ``title`` and ``summary`` (what ``attnlab list`` and the report show)."""
    from attnlab.study import Study

    if inspect.isclass(obj) and issubclass(obj, Study) and obj.__dict__.get("summary"):
        return f"{obj.title}.\n\n{obj.summary}" if obj.__dict__.get("title") else obj.summary
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__") or ""
        if doc.startswith(f"{obj.__name__}("):  # dataclasses write the signature when there is no docstring
            doc = ""
        return inspect.cleandoc(doc) if doc else ""
    return inspect.cleandoc(obj.__doc__) if getattr(obj, "__doc__", None) else ""


def describe(name: str, obj) -> str:
    """One line for the docs table."""
    if inspect.isclass(obj) or inspect.isfunction(obj):
        text = " ".join(own_doc(obj).split("\n\n")[0].split())
    else:
        text = DATA.get(name, "")
    text = text if len(text) <= 200 else text[:197] + "..."
    return text.replace("|", "\\|")


def kind(obj) -> str:
    if inspect.isclass(obj):
        return "class"
    if inspect.isfunction(obj):
        return "function"
    return f"`{type(obj).__name__}`"


def listing(study: str) -> str:
    """The docs table of one study's public names."""
    lines = ["| name | kind | what it is |", "|---|---|---|"]
    for name, obj in public(STUDY_MODULES[study]).items():
        lines.append(f"| `{name}` | {kind(obj)} | {describe(name, obj)} |")
    return "\n".join(lines)


def docs_sections() -> dict[str, str]:
    """study -> its section of docs/api.md (from its '### `study`' heading to the next heading)."""
    text = DOCS.read_text(encoding="utf-8")
    parts = re.split(r"^### `([a-z-]+)`.*$", text, flags=re.M)
    return {parts[i]: parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


@pytest.mark.parametrize("study", list(STUDY_MODULES))
def test_every_public_name_imports_and_has_a_docstring(study):
    names = public(STUDY_MODULES[study])
    assert "STUDY" in names and any(n.endswith("Config") for n in names), "config and STUDY are public"
    undocumented = [n for n, obj in names.items()
                    if (inspect.isclass(obj) or inspect.isfunction(obj)) and not own_doc(obj)]
    assert not undocumented, f"{study}: public names without a docstring of their own: {undocumented}"
    data = [n for n, obj in names.items() if not (inspect.isclass(obj) or inspect.isfunction(obj))]
    unexplained = [n for n in data if n not in DATA]
    assert not unexplained, f"{study}: public data names without a description in DATA (this file): {unexplained}"


@pytest.mark.parametrize("study", list(STUDY_MODULES))
def test_docs_list_exactly_the_public_names(study):
    section = docs_sections().get(study)
    assert section is not None, f"docs/api.md has no section for {study}"
    listed = re.findall(r"^\| `([A-Za-z_][A-Za-z0-9_]*)` \|", section, flags=re.M)
    assert sorted(listed) == sorted(public(STUDY_MODULES[study])), (
        f"{study}: docs/api.md lists {sorted(set(listed) - set(public(STUDY_MODULES[study])))} not in __all__ and "
        f"misses {sorted(set(public(STUDY_MODULES[study])) - set(listed))}; regenerate with "
        f"`python tests/test_api_surface.py`")


@pytest.mark.parametrize("study", list(STUDY_MODULES))
def test_the_docs_example_of_each_study_runs(study, capsys):
    blocks = re.findall(r"```python\n(.*?)```", docs_sections()[study], flags=re.S)
    assert len(blocks) == 1, f"{study}: one example in docs/api.md"
    exec(compile(blocks[0], f"docs/api.md ({study} example)", "exec"), {"__name__": "docs_example"})  # noqa: S102


if __name__ == "__main__":
    for s in STUDY_MODULES:
        print(f"\n### `{s}`\n\n{listing(s)}")
