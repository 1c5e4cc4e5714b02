"""docs/ names code that exists.

Every backticked `path.py:name` reference in docs/*.md and README.md resolves (the file
exists and defines the name), every relative Markdown link points to a file, every page
of the guide is there with its sections, and the guide's Python snippets run.
"""

import ast
import functools
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LECTURE_PAGES = ("fine-tuning.md", "layer-transfer.md", "multi-task.md", "progressive.md",
                 "domain-adversarial.md", "zero-shot-attributes.md", "convex-combination.md",
                 "self-taught.md")
GUIDE_PAGES = ("README.md", "engine.md") + LECTURE_PAGES
LECTURE_HEADINGS = ("## The formula", "## Where the code is", "## The experiment")
IMAGE_LIMIT = 300 * 1024  # bytes per figure in docs/images/

# `src/tlcore/transfer/finetune.py:L2SP.forward`: a whole backticked span
REFERENCE = re.compile(r"`([\w./-]+\.pyx?):([A-Za-z_][\w.]*)`")
# `src/tlcore/kernels/backends/threads.py` or `src/tlcore/transfer/`: a path into the repository
REPO_PATH = re.compile(r"`((?:src|tests|bench|csrc|examples|tools|docs)/[\w./-]*)`")
# folders the benchmarks write (git ignores them): absent from a fresh clone
WRITTEN_BY_COMMANDS = ("bench/results",)
# ](target) or ](target "title"): links and images
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def pages():
    """Every page the checks read: docs/*.md and the top-level README.md."""
    return sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]


def page_id(path):
    return str(path.relative_to(ROOT))


def _defined(body, parts):
    """Whether the statements ``body`` define ``parts[0]`` (then, inside that class,
    ``parts[1]``, and so on): def, class, assignment or annotated assignment."""
    name, rest = parts[0], parts[1:]
    for node in body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return not rest or _defined(node.body, rest)
        if rest:
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return True
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, ast.AnnAssign) else [])
        for target in targets:
            names = target.elts if isinstance(target, ast.Tuple) else [target]
            if any(isinstance(t, ast.Name) and t.id == name for t in names):
                return True
    return False


@functools.lru_cache(maxsize=None)
def _module_body(path):
    return ast.parse(path.read_text(), filename=str(path)).body


def missing(reference):
    """None if ``path:name`` resolves, else what is missing."""
    path, name = reference.split(":", 1)
    file = ROOT / path
    if not file.is_file():
        return f"no file {path}"
    if file.suffix == ".pyx":
        pattern = rf"^\s*c?p?def\b[^\n(=]*\b{re.escape(name)}\s*[(=]"
        found = re.search(pattern, file.read_text(), re.M) is not None
    else:
        found = _defined(_module_body(file), name.split("."))
    return None if found else f"{path} defines no {name}"


def test_every_page_of_the_guide_exists():
    absent = [name for name in GUIDE_PAGES if not (DOCS / name).is_file()]
    assert not absent, f"docs/ lacks {absent}"


@pytest.mark.parametrize("page", LECTURE_PAGES)
def test_lecture_page_has_its_sections_in_order(page):
    assert (DOCS / page).is_file(), f"docs/{page} is missing"
    text = (DOCS / page).read_text()
    lines = text.splitlines()
    assert lines and lines[0].startswith("# "), f"docs/{page} must open with '# <title>'"
    places = [next((i for i, line in enumerate(lines) if line.strip() == heading), None)
              for heading in LECTURE_HEADINGS]
    absent = [h for h, at in zip(LECTURE_HEADINGS, places) if at is None]
    assert not absent, f"docs/{page} lacks the heading(s) {absent}"
    assert places == sorted(places), f"docs/{page}: the headings must come in the order " \
                                     f"{LECTURE_HEADINGS}"
    code_section = "\n".join(lines[places[1]:places[2]])
    assert REFERENCE.search(code_section), \
        f"docs/{page}: 'Where the code is' names no `src/tlcore/<path>.py:<name>`"


@pytest.mark.parametrize("page", LECTURE_PAGES)
def test_lecture_page_shows_a_figure_from_docs_images(page):
    images = [target for target in LINK.findall((DOCS / page).read_text())
              if target.startswith("images/") and target.endswith(".png")]
    assert images, f"docs/{page} shows no figure from docs/images/"


@pytest.mark.parametrize("page", pages(), ids=page_id)
def test_code_references_resolve(page):
    text = page.read_text()
    problems = [f"{page_id(page)}: `{path}:{name}`: {missing(f'{path}:{name}')}"
                for path, name in REFERENCE.findall(text) if missing(f"{path}:{name}")]
    problems += [f"{page_id(page)}: `{path}`: no such file or folder"
                 for path in REPO_PATH.findall(text)
                 if not (ROOT / path).exists() and not path.startswith(WRITTEN_BY_COMMANDS)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", pages(), ids=page_id)
def test_relative_links_point_to_files(page):
    problems = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # http(s), mailto, or an anchor on the same page
        path = target.split("#", 1)[0]
        if not (page.parent / path).exists():
            problems.append(f"{page_id(page)}: link ]({target}) points to no file")
    assert not problems, "\n".join(problems)


def test_figures_are_small():
    too_big = [f"{p.name}: {p.stat().st_size // 1024} KB"
               for p in sorted((DOCS / "images").glob("*")) if p.stat().st_size > IMAGE_LIMIT]
    assert not too_big, f"docs/images/ figures over {IMAGE_LIMIT // 1024} KB: {too_big}"


def python_blocks():
    """(page, number, code) of every ```python block of docs/*.md."""
    return [pytest.param(page, number, block, id=f"{page_id(page)}-block{number}")
            for page in sorted(DOCS.glob("*.md"))
            for number, block in enumerate(PYTHON_BLOCK.findall(page.read_text()), 1)]


@pytest.mark.parametrize("page, number, block", python_blocks())
def test_python_snippets_run(page, number, block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a snippet may write files
    namespace = {}
    exec(compile(block, f"{page_id(page)} (python block {number})", "exec"), namespace)
    assert set(namespace) - {"__builtins__"}, f"{page_id(page)} block {number} defines nothing"


def test_the_checker_finds_what_is_missing():
    assert missing("src/tlcore/autograd.py:Tensor") is None
    assert missing("src/tlcore/autograd.py:Function.backward") is None
    assert missing("src/tlcore/autograd.py:_state") is None  # a module-level assignment
    assert missing("src/tlcore/experiments/experiment.py:Option.default") is None  # a field
    assert missing("csrc/_native.pyx:hinge_max_forward") is None
    assert missing("src/tlcore/autograd.py:Tensor.no_such_method") == \
        "src/tlcore/autograd.py defines no Tensor.no_such_method"
    assert missing("src/tlcore/autograd.py:no_such_name") is not None
    assert missing("src/tlcore/no_such_file.py:Tensor") == "no file src/tlcore/no_such_file.py"
    assert missing("csrc/_native.pyx:no_such_kernel") is not None
    assert REFERENCE.findall("see `src/a.py:B.c` and `src/b.pyx:d`, not `a.py` or `x:y`") == \
        [("src/a.py", "B.c"), ("src/b.pyx", "d")]
