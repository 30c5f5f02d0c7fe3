"""The CLI's error paths: usage errors as click shows them, bad addresses refused before Ray
starts, and a last-resort handler that makes even a bug one line and a log file."""

from __future__ import annotations

import pytest

from orchestrator.cli import _main as cli
from orchestrator.cli import main
from tests.conftest import REPO

pytestmark = pytest.mark.unit

QUICKSTART = str(REPO / "configs" / "quickstart.yaml")


@pytest.mark.parametrize("argv, prog", [
    (["results", "--format", "xlsx"], "orch results"),
    (["jobs", "list"], "orch jobs list"),
    (["plot", "nosuchkind"], "orch plot"),
    (["run"], "orch run"),
    ([], "orch"),
])
def test_a_usage_error_is_the_error_line_and_where_help_is(argv, prog, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{prog}: error: ")
    assert lines[1] == f"Try '{prog} --help' for help."


@pytest.mark.parametrize("address", ["", "head", "head:0", "head:70000", "::1:6379", "http://head:8265", "a b:1"])
def test_a_malformed_run_address_is_refused_before_ray_or_the_store(address, tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["run", QUICKSTART, "--address", address, "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("orch run: error: --address") and "\n" not in err
    assert not store.exists()


@pytest.mark.parametrize("argv", [["submit", QUICKSTART, "--address", "head:99999"],
                                  ["jobs", "list", "--address", "ray://head:10001"],
                                  ["jobs", "logs", "raysubmit_x", "--address", ""]])
def test_a_malformed_jobs_address_is_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "error: --address" in err and "\n" not in err


def test_an_unexpected_error_is_one_line_and_a_log_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def broken(args):
        return {}["a bug"]

    monkeypatch.setitem(cli._COMMANDS, "compact", broken)
    assert main(["compact", "--store", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("orch compact: internal error: KeyError: 'a bug'")
    (log,) = (tmp_path / "cache" / "orch" / "crashes").iterdir()
    assert str(log) in err
    text = log.read_text()
    assert text.startswith("orch compact --store") and "Traceback (most recent call last)" in text and "broken" in text
