"""The API against its own spec: schemathesis generates requests from /openapi.json and sends them to real gunicorn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import servers

pytestmark = pytest.mark.slow
ST = Path(sys.executable).with_name("st")
EXAMPLES = 50  # per operation: bounded, so the run takes about a minute


BATCH = "/api/v1/predict/batch"
# A well-formed request may still be unreadable (a blank image is 422 no_digit): that is not a defect. A batch
# answers an image that is not one with that image's error in a 200, by design, so negative data passes there.
EXCLUDED = {
    "--exclude-path": "positive_data_acceptance",
    "--include-path": "positive_data_acceptance,negative_data_rejection",
}


@pytest.mark.parametrize("paths", ["--exclude-path", "--include-path"], ids=["single-image routes", "batch"])
def test_every_answer_conforms_to_the_spec_and_none_is_a_5xx(mnist_dir, tmp_path: Path, paths: str) -> None:
    server = servers.gunicorn(2, env={"CORRECTIONS_DB": f"sqlite:///{tmp_path / 'corrections.db'}"})  # loopback only
    try:
        run = subprocess.run(
            [str(ST), "run", server.url + "/openapi.json", "--max-examples", str(EXAMPLES), "--checks", "all",
             "--exclude-checks", EXCLUDED[paths], paths, BATCH, "--seed", "20261202", "--no-color"],
            capture_output=True, text=True, timeout=900, cwd=tmp_path,  # its cache, not in the repository
        )  # fmt: skip
    finally:
        server.stop()
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "generated" in run.stdout and "failure" not in run.stdout.split("SUMMARY")[-1].lower()
    assert ("Selected: 1/" in run.stdout) == (paths == "--include-path")
