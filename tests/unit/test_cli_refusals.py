"""No traceback reaches a user: every CLI command refuses wrong values with one `error:` line
and exit status 2, before anything runs (no local target is started: none is reachable)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops import cli
from reintento_local.process import free_port

NOT_INT = st.sampled_from(["", "x", "1.5", "1e3", "nan", "0x10", "\x00", "9" * 400, "-5", "-1"])
NOT_NUMBER = st.sampled_from(["", "x", "nan", "inf", "-inf", "\x07", "1e999", "-5", "9" * 400])
BAD_TEXT = st.sampled_from(["", "\x00", "a\nb", "\x1b[31m", "x" * 5000])
BAD_NAME = st.one_of(
    st.sampled_from(["", "bad_stage!", "-dev", "1dev", "a" * 40, "dev prod", "dév", "\x00"]),
    st.text(min_size=1, max_size=50).filter(
        lambda s: not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,31}", s)
    ),
)
BAD_STACK = st.sampled_from(["", "Reintento_dev!", "-x", "x" * 200, "\x00"])
BAD_REGION = st.sampled_from(["", "us_east_1", "useast1", "US-EAST-1", "mars-1", "x" * 80, "\x00"])
BAD_JSON = st.sampled_from(["notjson", "{", "[1, 2", "'a'", "", "\x00", "1", "null", '"text"'])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-files")
    found = {
        "garbage.pkl": b"\x00\x01 not a pickle",
        "text.pkl": b"hello",
        "binary.csv": b"\xff\xfe\x00\x00garbage",
        "broken.jsonl": b'{"a": 1}\n{broken',
        "rows.txt": b"a,b\n1,2\n",
        "empty.csv": b"",
    }
    for name, body in found.items():
        (root / name).write_bytes(body)
    return {name: root / name for name in found} | {"missing": root / "nope" / "m.pkl"}


def bad_paths(files: dict[str, Path], *names: str) -> st.SearchStrategy[str]:
    return st.sampled_from([str(files[n]) for n in names])


def cases(files: dict[str, Path]) -> st.SearchStrategy[list[str]]:
    """A command line with exactly one wrong value, for every command and each of its flags."""
    model_files = bad_paths(files, "garbage.pkl", "text.pkl", "missing", "rows.txt")
    row_files = bad_paths(files, "binary.csv", "broken.jsonl", "missing", "rows.txt", "empty.csv")
    # a batch keeps a line that is not JSON as that row's error record: not a wrong file there
    batch_files = bad_paths(files, "binary.csv", "missing", "rows.txt", "empty.csv")
    global_flags = [("--stage", BAD_NAME), ("--region", BAD_REGION), ("--profile", BAD_TEXT)]
    per_command: dict[str, list[tuple[str | None, st.SearchStrategy[str]]]] = {
        "deploy": [
            (
                "-c",
                st.sampled_from(
                    [
                        "memory_mb=abc",
                        "memory_mb=-5",
                        "nokey",
                        "=1",
                        "typo=1",
                        "timeout_seconds=9999",
                    ]
                ),
            )
        ],
        "upload-model": [
            (None, model_files),
            ("--rollout", st.sampled_from(["blue-green", "", "CANARY", "\x00"])),
            ("--percent", st.sampled_from(["0", "100", "x", "-5", "9" * 400])),
            ("--bake-minutes", st.sampled_from(["-1", "x", "1441", "nan"])),
        ],
        "rollback-model": [],
        "list-models": [],
        "predict": [("--rows", BAD_JSON), ("--file", row_files)],
        "run-batch": [(None, batch_files)],
        "logs": [("--since", NOT_NUMBER), ("--pattern", BAD_TEXT)],
        "metrics": [("--since", NOT_NUMBER)],
        "drift": [
            ("--since", st.sampled_from(["", "x", "nan", "59", "-5", "9" * 400])),
            ("--version", st.sampled_from(["", "live", "$LATEST", "1.5", "-1", "\x00"])),
            ("--batch", st.sampled_from(["", "run", "20261205T120000", "x" * 200, "\x00"])),
        ],
        "estimate-cost": [
            ("--invocations", NOT_INT),
            ("--memory-mb", st.sampled_from(["0", "64", "10241", "x", "-5"])),
            ("--duration-ms", NOT_NUMBER),
            ("--batch-rows", NOT_INT),
        ],
        "status": [],
        "teardown": [("--confirm", BAD_STACK), ("--confirm-model-store", BAD_STACK)],
        "local": [(None, st.sampled_from(["", "restart", "START", "\x00"]))],
        "train-demo": [
            ("--rows", st.sampled_from(["0", "10", "x", "-5", "9" * 400])),
            ("--path", st.sampled_from(["model.txt", ""])),
        ],
        "sample-rows": [
            ("--n", st.sampled_from(["0", "-1", "x", "9" * 400, "20000000"])),
            ("--seed", NOT_INT),
        ],
        "run-notebooks": [("-p", st.sampled_from(["NOEQUALS", "=1", "UNKNOWN_PARAM=1"]))],
    }

    @st.composite
    def one(draw: Any) -> list[str]:
        command = draw(st.sampled_from(sorted(per_command)))
        flags = per_command[command] + global_flags
        flag, values = draw(st.sampled_from(flags))
        value = draw(values)
        argv = [command]
        if command == "local" and flag is not None:
            argv.append("status")
        if flag is None:
            argv.append(value)
        else:
            argv.append(f"{flag}={value}")
        if command == "local" and flag is None:
            pass
        if command == "deploy":
            argv.append("--dry-run")
        return argv

    return one()


def test_every_command_refuses_wrong_values_with_one_error_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a private state folder: if a refusal were missed, a local target would start there
    state = files["missing"].parent.parent / "state"
    monkeypatch.setenv("REINTENTO_LOCAL_PORT", str(free_port()))
    monkeypatch.setenv("REINTENTO_STATE_DIR", str(state))

    @settings(
        max_examples=400,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(argv=cases(files))
    def run(argv: list[str]) -> None:
        code = cli.main(argv)
        out, err = capsys.readouterr()
        assert code == 2, (argv, code, out[-500:], err[-500:])
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, (argv, err)
        assert "Traceback" not in err and "Traceback" not in out, (argv, err)

    run()
    assert not (state / "server.json").exists(), "a wrong value started the local target"


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "--rows", "notjson"],
        ["deploy", "--stage", "bad_stage!"],
        ["estimate-cost", "--invocations", "-5"],
    ],
)
def test_the_issues_examples(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.usefixtures("no_aws_credentials")
def test_status_on_aws_without_credentials_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli.main(["status", "--target", "aws"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: no AWS credentials") and "Traceback" not in err
    # --debug shows the chained detail
    assert cli.main(["status", "--target", "aws", "--debug"]) == 2
    assert "NoCredentialsError" in capsys.readouterr().err
