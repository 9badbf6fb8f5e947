"""The docs cannot drift: measured numbers come from the reports, settings and error codes from the code."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from datasets import examples
from evaluate import report
from server import config, errors

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FILE_NAME = re.compile(r"[\w./-]*\w\.(?:py|json|onnx|html|css|js|lua|png|md|txt)\b")
DIR_NAME = re.compile(r"(?<![\w/.-])\w[\w-]*/(?![\w.])")


def readme() -> str:
    return README.read_text()


def section(text: str, heading: str) -> str:
    """The text under a '## heading' line, up to the next '## '."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"README.md has no '## {heading}' section"
    return match.group(1)


def table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of each row of the markdown table whose header line starts with header (header and rule left out)."""
    lines = text.splitlines()
    start = next((k for k, line in enumerate(lines) if line.startswith(header)), None)
    assert start is not None, f"no table headed {header!r}"
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    # a cell may hold an escaped \| (not a column border)
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def unquoted(cell: str) -> str:
    """A cell's text without its code quotes; "(empty)" stands for the empty string."""
    return "" if cell == "(empty)" else cell.removeprefix("`").removesuffix("`")


def shown(default: object) -> str:
    """A setting's default as the README shows it: paths relative to the repository, 45.0 as 45."""
    if isinstance(default, Path):
        return default.relative_to(ROOT).as_posix() if default.is_relative_to(ROOT) else default.as_posix()
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def test_results_are_rendered_from_the_artifacts_now():
    """docs/results.md and README's results block are exactly what `make report` gives today."""
    wanted = report.rendered(report.load(), readme())
    for path, text in wanted.items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: run `make report`"


def test_a_changed_measurement_makes_the_docs_stale():
    """The staleness check sees one changed number in a report (guards against comparing a file with itself)."""
    reports = report.load()
    before = report.rendered(reports, readme())
    reports["bench"]["http"]["service_1_connection"]["p50_ms"] += 1.0
    reports["evaluation"]["measured"] = {"date": "2099-01-01", "commit": "0000000"}
    after = report.rendered(reports, readme())
    assert before[report.RESULTS] != after[report.RESULTS]
    assert before[report.README] != after[report.README]


def test_every_report_says_when_and_at_which_commit_it_was_measured():
    for name, data in report.load().items():
        measured = data.get("measured")
        assert measured, f"artifacts/{name}.json has no 'measured' field"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", measured["date"]), name
        assert re.fullmatch(r"[0-9a-f]{7,40}(\+dirty)?|unknown", measured["commit"]), name


def test_report_rendering_is_deterministic():
    reports = report.load()
    assert report.render_results(reports) == report.render_results(report.load())


def test_readme_fits_in_200_lines():
    assert len(readme().splitlines()) <= 200


def test_configuration_table_is_the_code():
    """Exactly the variables server.config.settings() reads, with the same defaults."""
    rows = table_rows(section(readme(), "Configuration"), "| variable | default |")
    documented = {unquoted(row[0]): unquoted(row[1]) for row in rows}
    assert len(documented) == len(rows), "a variable is listed twice"
    in_code = {name: shown(default) for name, default, _ in config.settings()}
    assert documented == in_code


def test_error_table_is_the_code():
    """Every error code the server answers, with its status, and nothing else."""
    rows = table_rows(section(readme(), "API"), "| status | code |")
    documented = {unquoted(row[1]): int(row[0]) for row in rows}
    assert documented == {name: code.status_code for name, code in errors.CODES.items()}


def test_layout_names_only_what_exists():
    """Every file and folder the layout names is in the tree (relative to its top folder, or below it)."""
    block = re.search(r"```\n(.*?)```", section(readme(), "Layout: what calls what"), flags=re.S)
    assert block, "the layout section has no code block"
    missing, top = [], ROOT
    for line in block.group(1).splitlines():
        first = re.match(r"(\w+)/\s", line)
        if first:
            top = ROOT / first.group(1)
            line = line[first.end() :]
        for name in FILE_NAME.findall(line) + DIR_NAME.findall(line):
            name = name.rstrip("/")
            if not ((top / name).exists() or (ROOT / name).exists() or any(top.rglob(name))):
                missing.append(f"{top.relative_to(ROOT)}/{name}")
        if first and not top.is_dir():
            missing.append(f"{top.relative_to(ROOT)}/")
    assert not missing, f"the README's layout names what does not exist: {missing}"


@pytest.mark.parametrize("doc", ["docs/results.md", "docs/experiments.md", "docs/architecture.md"])
def test_readme_links_resolve(doc):
    assert f"({doc})" in readme()
    assert (ROOT / doc).is_file()


def test_the_example_images_are_what_datasets_examples_makes() -> None:
    for name, data in examples.examples().items():
        assert (examples.FOLDER / name).read_bytes() == data, f"run python -m datasets.examples ({name})"


@pytest.mark.slow
def test_the_readmes_curl_commands_run_as_written(gunicorn_server) -> None:
    """Each curl line of the README, against real gunicorn from the repository's root: the answers it promises."""
    commands = [line for line in readme().splitlines() if line.startswith("curl ")]
    answers = []
    for command in commands:
        command = command.replace("http://127.0.0.1:8000", gunicorn_server.url)
        done = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)
        answers.append(json.loads(done.stdout))
    assert [a.get("digit", a.get("text")) for a in answers] == [7, 4, "2026"]
