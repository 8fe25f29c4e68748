"""The report page (vidlens.report): escaping, relative links, missing figures, JSON, resumable steps."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from vidlens.report import (
    Figure,
    Report,
    Section,
    Step,
    StepResult,
    Table,
    collect_report,
    load_report,
    load_step,
    render_html,
    run_steps,
    save_report,
    step_path,
)

from conftest import run_cli

EVIL = "<script>alert(1)</script>"
ODD = f"figures/{EVIL.replace('/', '_')} a#b.gif"  # a file name a browser must not misread
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


class _Elements(HTMLParser):
    """Every start tag of a page with its attributes, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> _Elements:
    parser = _Elements()
    parser.feed(path.read_text())
    return parser


def sample_report() -> Report:
    return Report(
        title=f"demo of {EVIL}",
        intro="A 3D ConvNet against a single-frame net.",
        sections=[
            Section(
                title="Train and evaluate",
                intro="Two nets, same budget.\n\nSecond paragraph.",
                seconds=12.5,
                tables=[Table(["class", "hit@1"], [[EVIL, 0.75], ["MoveUp", 1.0]], caption="per class")],
                figures=[
                    Figure("figures/confusion.png", f"confusion of {EVIL}", "why", "vidlens evaluate RUN"),
                    Figure("figures/maps.mp4", "feature maps", "motion", "vidlens featuremaps V"),
                    Figure(ODD, "odd name", "", ""),
                ],
            )
        ],
    )


def write_figures(out: Path) -> None:
    (out / "figures").mkdir(parents=True)
    (out / "figures/confusion.png").write_bytes(PNG)
    (out / "figures/maps.mp4").write_bytes(b"\0\0\0\x18ftypisom")
    (out / ODD).write_bytes(b"GIF89a")


def test_user_strings_are_escaped_text(tmp_path):
    write_figures(tmp_path)
    page = render_html(sample_report(), tmp_path)
    assert page == tmp_path / "index.html"
    parsed = parse(page)
    assert [t for t, _ in parsed.tags if t == "script"] == []  # no script element at all
    text = "".join(parsed.text)
    assert EVIL in text  # shown as text: in the title, the table and the caption
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.read_text()


def test_links_are_relative_and_media_elements_fit(tmp_path):
    write_figures(tmp_path)
    parsed = parse(render_html(sample_report(), tmp_path))
    media = [(t, a) for t, a in parsed.tags if t in ("img", "video")]
    assert [t for t, _ in media] == ["img", "video", "img"]
    video = dict(media[1][1])
    assert all(k in video for k in ("muted", "loop", "autoplay", "playsinline"))
    for _tag, attrs in parsed.tags:
        for key in ("src", "href"):
            if key in attrs:
                assert "://" not in attrs[key] and not attrs[key].startswith("/"), attrs[key]
    srcs = [a["src"] for _, a in media]
    assert srcs[0] == "figures/confusion.png"
    assert srcs[2] == "figures/%3Cscript%3Ealert%281%29%3C_script%3E%20a%23b.gif"  # a real file name, encoded
    assert parsed.tags[0][0] == "html" and not any(t == "link" for t, _ in parsed.tags)  # CSS inline


def test_missing_figures_are_warned_not_drawn(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures/confusion.png").write_bytes(PNG)
    page = render_html(sample_report(), tmp_path)
    parsed = parse(page)
    assert [a["src"] for t, a in parsed.tags if t in ("img", "video")] == ["figures/confusion.png"]
    text = "".join(parsed.text)
    assert "2 figure(s) missing" in text
    assert "figures/maps.mp4" in text


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x.png", "a/../../x.png", "C:/x.png", "a\\b.png", ""])
def test_figure_paths_must_stay_inside_the_report(bad):
    with pytest.raises(ValueError, match="relative"):
        Figure(bad, "x")


def test_json_round_trip(tmp_path):
    report = sample_report()
    save_report(report, tmp_path)
    assert load_report(tmp_path) == report
    assert json.loads((tmp_path / "report.json").read_text())["title"] == report.title


def test_load_report_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="vidlens demo --out"):
        load_report(tmp_path)


# ---------------------------------------------------------------------------------------- resumable steps


def toy_steps(calls: list[str], fail: set[str]) -> list[Step]:
    def make(name: str):
        def run(out: Path, done):
            calls.append(name)
            if name in fail:
                raise RuntimeError(f"{name} failed")
            value = sum(v["value"] for v in done.values()) + 1
            return StepResult(Section(f"step {name}", tables=[Table(["value"], [[value]])]), {"value": value})

        return Step(name, run)

    return [make(n) for n in ("a", "b", "c")]


def test_steps_resume_after_a_failure(tmp_path):
    calls: list[str] = []
    with pytest.raises(RuntimeError, match="b failed"):
        run_steps(tmp_path, toy_steps(calls, {"b"}), log=lambda _: None)
    assert calls == ["a", "b"]
    assert load_step(tmp_path, "a") is not None and load_step(tmp_path, "b") is None
    calls.clear()
    done = run_steps(tmp_path, toy_steps(calls, set()), log=lambda _: None)
    assert calls == ["b", "c"]  # a is reused, b runs again, c runs
    assert [done[n]["outputs"]["value"] for n in "abc"] == [1, 2, 4]
    calls.clear()
    run_steps(tmp_path, toy_steps(calls, set()), log=lambda _: None)
    assert calls == []  # everything finished: nothing redone


def test_redo_and_only(tmp_path):
    calls: list[str] = []
    run_steps(tmp_path, toy_steps(calls, set()), log=lambda _: None)
    calls.clear()
    run_steps(tmp_path, toy_steps(calls, set()), redo={"b"}, log=lambda _: None)
    assert calls == ["b"]
    calls.clear()
    step_path(tmp_path, "c").unlink()
    run_steps(tmp_path, toy_steps(calls, set()), only={"a"}, log=lambda _: None)
    assert calls == []  # a is finished and not asked to be redone; c is not wanted
    with pytest.raises(ValueError, match="the steps are: a, b, c"):
        run_steps(tmp_path, toy_steps(calls, set()), redo={"z"}, log=lambda _: None)


def test_changed_settings_rerun_a_step_and_those_that_need_it(tmp_path):
    """A finished step whose settings changed runs again, and so do the steps that need it (but not one
    that does not); a step finished before is cleaned first, an interrupted one is not (it resumes)."""
    calls: list[str] = []
    cleaned: list[str] = []

    def steps(size: int, fail: set[str] = frozenset()) -> list[Step]:
        def make(name: str):
            def run(out: Path, done):
                calls.append(name)
                if name in fail:
                    raise RuntimeError(f"{name} failed")
                return StepResult(Section(name), {"size": size})

            return run

        return [
            Step("data", make("data"), settings={"size": size}),
            Step("train", make("train"), settings={"k": (1,)}, needs=("data",), clean=cleaned.append),
            Step("other", make("other")),
        ]

    logged: list[str] = []
    run_steps(tmp_path, steps(1), log=logged.append)
    calls.clear()
    run_steps(tmp_path, steps(1), log=logged.append)  # a tuple saved as a list still compares equal
    assert calls == [] and cleaned == []
    logged.clear()
    run_steps(tmp_path, steps(2), log=logged.append)
    assert calls == ["data", "train"] and cleaned == [tmp_path]
    assert any("its settings changed" in line for line in logged)
    assert any("data ran again" in line for line in logged)
    calls.clear(), cleaned.clear()
    with pytest.raises(RuntimeError, match="train failed"):
        run_steps(tmp_path, steps(2, fail={"train"}), redo={"train"}, log=logged.append)
    assert cleaned == [tmp_path] and load_step(tmp_path, "train") is None  # not finished any more
    calls.clear(), cleaned.clear()
    run_steps(tmp_path, steps(2), log=logged.append)
    assert calls == ["train"] and cleaned == []  # interrupted: it resumes, nothing is removed


def test_a_step_needs_its_inputs_finished(tmp_path):
    def run(out, done):
        return StepResult(Section("x"))

    with pytest.raises(ValueError, match="z \\(needed by b\\)"):
        run_steps(tmp_path, [Step("a", run), Step("b", run, needs=("z",))], log=lambda _: None)
    with pytest.raises(RuntimeError, match="needs a, which has not finished"):
        run_steps(tmp_path, [Step("a", run), Step("b", run, needs=("a",))], only={"b"}, log=lambda _: None)


def test_highlights_lead_the_page_and_backticks_are_code(tmp_path):
    report = Report(
        "t",
        "Run `vidlens demo` first.",
        sections=[Section("one", highlights=[f"The 3D net wins; {EVIL}"]), Section("two", "a `b")],
    )
    page = render_html(report, tmp_path).read_text()
    assert "<code>vidlens demo</code>" in page
    assert "a `b" in page  # an unmatched backtick stays as it is
    glance = page.index("At a glance")
    assert glance < page.index('<section id="s1">')
    assert "The 3D net wins; &lt;script&gt;" in page and '<a href="#s1">' in page


def test_collect_report_from_steps(tmp_path):
    run_steps(tmp_path, toy_steps([], set()), log=lambda _: None)
    report = collect_report(tmp_path, title="toy")
    assert [s.title for s in report.sections] == ["step a", "step b", "step c"]
    assert all(s.seconds is not None for s in report.sections)
    save_report(report, tmp_path)
    assert collect_report(tmp_path).title == "toy"  # the saved title is kept
    only = collect_report(tmp_path, steps=["c", "a"])  # the steps named, in that order
    assert [s.title for s in only.sections] == ["step c", "step a"]


def test_collect_report_without_steps_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="vidlens demo --out"):
        collect_report(tmp_path)


def test_cli_report_rebuilds_the_page_from_steps(tmp_path, capsys):

    run_steps(tmp_path, toy_steps([], set()), log=lambda _: None)
    status, written, _, err = run_cli(capsys, "report", tmp_path, "--title", EVIL)
    assert status == 0, err
    assert set(written) == {"report.json", "index.html"}
    parsed = parse(written["index.html"])
    assert EVIL in "".join(parsed.text) and not any(t == "script" for t, _ in parsed.tags)
    assert "step c" in "".join(parsed.text)
    status, written, _, err = run_cli(capsys, "report", tmp_path)  # the title is kept
    assert EVIL in "".join(parse(written["index.html"]).text)


def test_cli_report_on_an_empty_folder_says_what_to_run(tmp_path, capsys):

    status, _, _, err = run_cli(capsys, "report", tmp_path)
    assert status == 2 and "vidlens demo --out" in err
