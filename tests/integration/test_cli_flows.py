"""The command line as the README documents it: its CLI block run line by line on a local
target of its own, each exit status of the README's table, and output written for a terminal
(flags named as flags, no Python attribute hints)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import joblib
import pandas as pd
import pytest

from ops.modelfiles.demo_model import DemoModel
from ops.modelfiles.versions import PROJECT_ROOT
from reintento_local.process import free_port

pytestmark = pytest.mark.slow  # a local target of its own, the README's whole flow

PYTHON_HINTS = re.compile(
    r"`\.\w+|\.as_frame\(\)|\.results\b|pass \w+=|confirm='|\bops\.\w+\(|run_batch\(\)"
)


def readme_flow() -> list[str]:
    """The commands of the README's "documented CLI flow" block, in order."""
    text = (PROJECT_ROOT / "README.md").read_text()
    block = text.split("The documented CLI flow", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.strip().splitlines()]


class Cli:
    """``python -m ops`` as a user runs it, on a private local target, in a work folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {
            **os.environ,
            "REINTENTO_LOCAL_PORT": str(free_port()),
            "REINTENTO_STATE_DIR": str(folder / ".local-target"),
        }

    def __call__(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ops", *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def shell(self, line: str) -> subprocess.CompletedProcess[str]:
        """One line of the README's block, as bash runs it (``python`` is this environment's)."""
        command = line.replace("python -m ops", f"{sys.executable} -m ops")
        return subprocess.run(
            ["bash", "-c", command],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory, demo_model: DemoModel) -> Iterator[Cli]:
    folder = tmp_path_factory.mktemp("cli")
    (folder / "models").mkdir()
    (folder / "models" / "mejor_modelo.pkl").write_bytes(demo_model.path.read_bytes())
    # new.pkl: the same model saved compressed (other bytes: a new upload for the canary)
    joblib.dump(joblib.load(demo_model.path), folder / "new.pkl", compress=3)
    runner = Cli(folder)
    yield runner
    runner("local", "stop")


def _interrupted(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "ops", *args],
        cwd=cli.folder,
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(8)  # started, and following
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_every_exit_status_of_the_readme_table(cli: Cli, tmp_path: Path) -> None:
    table = (PROJECT_ROOT / "README.md").read_text().split("### Exit statuses and errors")[1]
    assert all(f"| {code} |" in table for code in (0, 1, 2, 130))
    assert cli("deploy", "--yes").returncode == 0
    assert cli("upload-model").returncode == 0
    # 2: a wrong value, a missing file, input or a model the function refuses, no confirmation,
    # no credentials: one line, no traceback
    forged = tmp_path / "other.pkl"
    body = (cli.folder / "models" / "mejor_modelo.pkl").read_bytes()
    import sklearn

    forged.write_bytes(body.replace(sklearn.__version__.encode(), b"1.6.0"))
    refusals = {
        "wrong value": ("upload-model", "new.pkl", "--percent", "500"),
        "missing file": ("upload-model", "nope.pkl"),
        "refused input": ("predict", "--rows", '{"not_a_feature": 1}'),
        "refused model": ("upload-model", str(forged)),
        "refused model, checked": ("check-model", str(forged)),
        "no confirmation": ("teardown",),
        "no credentials": ("status", "--target", "aws"),
    }
    no_credentials = {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for case, args in refusals.items():
        saved = dict(cli.env)
        if case == "no credentials":
            for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
                cli.env.pop(var, None)
            cli.env.update(no_credentials)
        done = cli(*args)
        cli.env = saved
        assert done.returncode == 2, (case, done.stdout[-800:], done.stderr[-800:])
        assert "Traceback" not in done.stderr, case
        assert not PYTHON_HINTS.search(done.stdout + done.stderr), (case, done.stderr)
    assert "--confirm Reintento-dev-Service" in cli("teardown").stderr
    # 2 too: a batch whose every row the function refuses (a label column kept in), saying why
    labelled = cli.folder / "labelled.csv"
    cli.shell(f"python -m ops sample-rows --n 40 > {tmp_path}/rows.jsonl")
    pd.read_json(tmp_path / "rows.jsonl", lines=True).assign(label=1).to_csv(labelled, index=False)
    all_refused = cli("run-batch", str(labelled))
    assert all_refused.returncode == 2, all_refused.stdout
    assert "every row refused; the first: label: unexpected feature" in all_refused.stdout
    # AND --json is strict JSON (the error rows' empty numbers are null, not NaN)
    as_json = cli("run-batch", str(labelled), "--json")
    json.loads(as_json.stdout, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    # AND a reader that stops reading (`| head`) is no error of ours
    piped = cli.shell("python -m ops sample-rows --n 100000 | head -1; echo ${PIPESTATUS[0]}")
    assert piped.stdout.splitlines()[-1] == "0" and "error" not in piped.stderr
    # 1: status of a stage with nothing deployed
    nothing = cli("status", "--stage", "never")
    assert nothing.returncode == 1 and "not deployed" in nothing.stdout
    assert cli("status").returncode == 0
    # 130: interrupted (Ctrl-C while following the log)
    stopped = _interrupted(cli, "logs", "--follow")
    assert stopped.returncode == 130 and "interrupted" in stopped.stderr


# last: the README's flow ends by stopping the local target the tests above used
def test_the_readme_flow_runs_as_written(cli: Cli) -> None:
    lines = readme_flow()
    assert lines[0] == ". .venv/bin/activate"  # what the README says to do first
    outputs: dict[str, str] = {}
    for line in lines[1:]:
        # the canary's bake is the README's minute (a few seconds here)
        done = cli.shell(line.replace("--bake-minutes 1 ", "--bake-minutes 0.05 "))
        # THEN every documented command succeeds, and says nothing meant for Python
        assert done.returncode == 0, (line, done.stdout[-1500:], done.stderr[-1500:])
        assert not PYTHON_HINTS.search(done.stdout + done.stderr), (line, done.stdout)
        outputs[line] = done.stdout

    def output(verb: str) -> str:  # the output of the (last) line running this verb
        return next(out for line, out in reversed(outputs.items()) if f"ops {verb}" in line)

    predicted = output("predict")
    assert "p_0" in predicted and "p_1" in predicted  # --probabilities: a row per line
    assert len(pd.read_parquet(cli.folder / "results.parquet")) == 20_000
    assert "results written to results.parquet (20,000 rows)" in output("run-batch")
    assert "LIVE now (100% of calls)" in output("list-models")
    assert 0 < len(output("logs").splitlines()) <= 50
    assert re.match(r"stopped the local target \(pid \d+", output("local stop"))
    # AND stopping again says it was not running
    again = cli("local", "stop")
    assert again.returncode == 0 and "was not running" in again.stdout
