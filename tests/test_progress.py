"""Progress on stderr only for work long enough to need it; --quiet silences it."""

import sys

from transferkit import progress


def test_a_bar_only_for_many_batches_and_never_when_quiet(capsys):
    assert progress.batch_progress([1, 2], None) == [1, 2]  # no description: no bar at all
    assert list(progress.batch_progress(list(range(progress.LONG_WORK_BATCHES)), "tag")) == list(range(20))
    assert capsys.readouterr().err == ""
    assert list(progress.batch_progress(list(range(progress.LONG_WORK_BATCHES + 1)), "tag")) == list(range(21))
    out, err = capsys.readouterr()
    assert "tag" in err and "21" in err and out == ""
    progress.set_quiet(True)
    try:
        list(progress.batch_progress(list(range(50)), "tag"))
        assert capsys.readouterr().err == ""
    finally:
        progress.set_quiet(False)


def test_status_lines_on_a_terminal_only(capsys, monkeypatch):
    progress.status("loading")
    assert capsys.readouterr().err == ""  # a pipe or log file: the one-line error contract holds
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    progress.status("loading")
    assert capsys.readouterr().err == "loading\n"
