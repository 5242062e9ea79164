"""The progress bar: tqdm on a terminal, one summary line in a pipe, nothing with --quiet."""

import io

from vidcolor.stream.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_shows_a_bar_with_frames_rate_and_eta():
    out = Terminal()
    p = Progress("film.mp4", total=10, stream=out)
    p.update(5)
    p.write("vidcolor: warning: something")
    p.update(5)
    p.close()
    text = out.getvalue()
    assert "film.mp4" in text and "10/10" in text and "frame/s" in text and "<" in text  # elapsed<remaining
    assert "vidcolor: warning: something" in text


def test_pipe_gets_one_summary_line_and_quiet_gets_nothing():
    out = io.StringIO()
    p = Progress("film.mp4", total=10, stream=out)
    for _ in range(10):
        p.update(1)
    assert out.getvalue() == ""  # nothing while it runs
    p.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("film.mp4: 10/10 frames in")
    quiet = io.StringIO()
    q = Progress("film.mp4", total=10, quiet=True, stream=quiet)
    q.update(10)
    q.write("warning")
    q.close()
    assert quiet.getvalue() == ""


def test_absolute_counts_from_a_resumed_run():
    out = Terminal()
    p = Progress("x", stream=out)
    p(100, 200)  # resumed after 100 frames
    p(150, 200)
    assert p.done == 150 and p.start == 100 and p.bar.n == 150 and p.bar.total == 200
    p(260, 250)  # an estimated total (MKV) that was short
    assert p.bar.total >= 260
    p.close()
