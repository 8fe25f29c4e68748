"""The demo's report: a page a person opens in a browser, built from results that were computed elsewhere.

A :class:`Report` is a title and :class:`Section` s; a section holds intro text, how long its step took,
:class:`Table` s and :class:`Figure` s (a relative path to a PNG/GIF/MP4 next to the page, a caption, one
sentence on why it matters and the command that reproduces it). :func:`render_html` writes ``DIR/index.html``:
one self-contained page (no scripts, nothing fetched from the network, relative links to its figures) where
every string is escaped, so a class folder named ``<script>`` shows as text. A figure whose file is missing is
listed as a visible warning instead of a broken element.

The same module runs the steps that fill a report, resumably (:func:`run_steps`): a step is a name and a
function; when it finishes its section and outputs are written to ``DIR/steps/<name>.json``, so a rerun skips
it, an interrupted run resumes at the first unfinished step, and :func:`collect_report` rebuilds the page from
those files without computing anything (``vidlens report DIR``).
"""

from __future__ import annotations

import html
import json
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from vidlens.io import atomic_write_json, atomic_write_text

__all__ = [
    "BrowserCheck",
    "Figure",
    "Report",
    "Section",
    "Step",
    "StepResult",
    "Table",
    "check_in_browser",
    "check_relative",
    "collect_report",
    "find_chromium",
    "load_report",
    "load_step",
    "render_html",
    "run_steps",
    "save_report",
    "step_path",
]

REPORT_JSON = "report.json"
INDEX_HTML = "index.html"
STEPS_DIR = "steps"
VIDEO_SUFFIXES = {".mp4": "video/mp4", ".webm": "video/webm"}
IMAGE_SUFFIXES = {".png", ".gif", ".jpg", ".jpeg", ".svg"}


@dataclass
class Table:
    """A metrics table: a header and rows of cells (numbers are shown as given, strings escaped)."""

    header: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class Figure:
    """One picture or animation of the report."""

    path: str  # relative to the report's folder, with forward slashes: "figures/confusion.png"
    caption: str  # what it shows
    why: str = ""  # why it matters: one sentence tying it to the seed it comes from
    command: str = ""  # the command that reproduces it

    def __post_init__(self) -> None:
        check_relative(self.path)


@dataclass
class Section:
    """One step of the story: what it did, how long it took, its tables and figures."""

    title: str
    intro: str = ""
    seconds: float | None = None
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    # The step's findings in a sentence each: the page lists them "at a glance", above the sections.
    highlights: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Section:
        return cls(
            title=data["title"],
            intro=data.get("intro", ""),
            seconds=data.get("seconds"),
            highlights=list(data.get("highlights", [])),
            tables=[Table(**t) for t in data.get("tables", [])],
            figures=[Figure(**f) for f in data.get("figures", [])],
        )


@dataclass
class Report:
    """The whole page: a title, an introduction and the sections in order."""

    title: str
    intro: str = ""
    sections: list[Section] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        return cls(
            title=data["title"],
            intro=data.get("intro", ""),
            sections=[Section.from_dict(s) for s in data.get("sections", [])],
        )


def check_relative(path: str) -> None:
    """Raise unless ``path`` is a relative path inside the report's folder (the page must move as one piece)."""
    p = PurePosixPath(path)
    if not path or p.is_absolute() or "\\" in path or ".." in p.parts or ":" in p.parts[0]:
        raise ValueError(
            f"figure path {path!r} must be relative to the report's folder, with forward slashes and no '..'"
            " (copy or write the figure under the report's folder and give its path from there)"
        )


def save_report(report: Report, out_dir: str | os.PathLike) -> Path:
    """Write ``report`` to ``out_dir/report.json``, atomically."""
    return atomic_write_json(Path(out_dir) / REPORT_JSON, report.to_dict())


def load_report(out_dir: str | os.PathLike) -> Report:
    """The report saved in ``out_dir/report.json``."""
    path = Path(out_dir) / REPORT_JSON
    if not path.is_file():
        raise FileNotFoundError(f"no {REPORT_JSON} in {out_dir}; run `vidlens demo --out {out_dir}` first")
    return Report.from_dict(json.loads(path.read_text()))


# ----------------------------------------------------------------------------------------------- the page

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.45; color: #222; }
h1 { margin-bottom: .2rem; }
section { border-top: 1px solid #ccc; margin-top: 2rem; padding-top: 1rem; }
.seconds { color: #666; font-size: .9rem; font-weight: normal; }
table { border-collapse: collapse; margin: 1rem 0; }
caption { text-align: left; font-style: italic; padding-bottom: .3rem; }
th, td { border: 1px solid #bbb; padding: .25rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(26rem, 1fr)); gap: 1.5rem; }
figure { margin: 1rem 0; min-width: 0; }
figure img, figure video { width: 100%; border: 1px solid #ddd; }
figure img[src$=".gif"] { image-rendering: pixelated; }  /* small frames and kernels, enlarged sharply */
figcaption .why { color: #444; }
code, pre { background: #f4f4f4; font-size: .85rem; }
pre { padding: .3rem .5rem; white-space: pre-wrap; }
.missing { background: #fff3cd; border: 1px solid #e0b000; padding: .5rem 1rem; }
.glance { background: #eef5ff; border: 1px solid #9bbbe0; padding: .2rem 1rem; }
.glance h2 { font-size: 1.1rem; }
"""


def _e(value: Any) -> str:
    """A value as escaped HTML text."""
    return html.escape(str(value), quote=True)


def _text(value: str) -> str:
    """Prose as escaped HTML, with `backticked` spans shown as code."""
    parts = _e(value).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: leave them all as they are
        return _e(value)
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return _e(value)


def _href(path: str) -> str:
    """A relative path as an escaped, percent-encoded URL (spaces, '#', '?' in a file name stay literal)."""
    return _e(quote(path, safe="/"))


def _table_html(table: Table) -> str:
    parts = ["<table>"]
    if table.caption:
        parts.append(f"<caption>{_e(table.caption)}</caption>")
    parts.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in table.header) + "</tr>")
    for row in table.rows:
        parts.append("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>")
    parts.append("</table>")
    return "\n".join(parts)


def _figure_html(figure: Figure) -> str:
    suffix = PurePosixPath(figure.path).suffix.lower()
    src = _href(figure.path)
    alt = _e(figure.caption)
    if suffix in VIDEO_SUFFIXES:
        media = (
            f'<video src="{src}" muted loop autoplay playsinline controls '
            f'title="{alt}"><a href="{src}">{_e(figure.path)}</a></video>'
        )
    elif suffix in IMAGE_SUFFIXES:
        media = f'<a href="{src}"><img src="{src}" alt="{alt}"></a>'
    else:
        media = f'<a href="{src}">{_e(figure.path)}</a>'
    parts = [f"<figure>{media}", f"<figcaption><p>{_e(figure.caption)}</p>"]
    if figure.why:
        parts.append(f'<p class="why"><strong>Why it matters:</strong> {_e(figure.why)}</p>')
    if figure.command:
        parts.append(f"<pre><code>{_e(figure.command)}</code></pre>")
    parts.append("</figcaption></figure>")
    return "\n".join(parts)


def _seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def render_html(report: Report, out_dir: str | os.PathLike) -> Path:
    """Write ``out_dir/index.html`` for ``report``, atomically, and return its path.

    Figures are linked relative to ``out_dir``; a figure whose file is not there is listed in a warning at
    the top and in its section instead of being drawn as a broken element."""
    out_dir = Path(out_dir)
    missing = [f for s in report.sections for f in s.figures if not (out_dir / f.path).is_file()]
    body = [f"<h1>{_e(report.title)}</h1>"]
    if report.intro:
        body.append(f"<p>{_text(report.intro)}</p>")
    if missing:
        items = "".join(f"<li><code>{_e(f.path)}</code></li>" for f in missing)
        body.append(
            f'<div class="missing"><strong>{len(missing)} figure(s) missing</strong> '
            "(rerun the step that makes them):<ul>" + items + "</ul></div>"
        )
    glance = [
        f'<li>{_text(h)} <a href="#s{i}">(section {i})</a></li>'
        for i, section in enumerate(report.sections, 1)
        for h in section.highlights
    ]
    if glance:
        body.append('<div class="glance"><h2>At a glance</h2><ul>' + "".join(glance) + "</ul></div>")
    if report.sections:
        contents = "".join(
            f'<li><a href="#s{i}">{_e(s.title)}</a></li>' for i, s in enumerate(report.sections, 1)
        )
        body.append(f"<nav><ol>{contents}</ol></nav>")
    for i, section in enumerate(report.sections, 1):
        took = f' <span class="seconds">({_e(_seconds(section.seconds))})</span>' if section.seconds else ""
        parts = [f'<section id="s{i}">', f"<h2>{i}. {_e(section.title)}{took}</h2>"]
        if section.intro:
            parts.extend(f"<p>{_text(p)}</p>" for p in section.intro.split("\n\n"))
        parts.extend(_table_html(t) for t in section.tables)
        if section.figures:
            parts.append('<div class="figures">')
        for figure in section.figures:
            if any(figure is m for m in missing):
                parts.append(
                    f'<p class="missing">missing figure <code>{_e(figure.path)}</code>: {_e(figure.caption)}</p>'
                )
            else:
                parts.append(_figure_html(figure))
        if section.figures:
            parts.append("</div>")
        parts.append("</section>")
        body.append("\n".join(parts))
    if report.sections:
        times = Table(
            ["step", "time"],
            [[s.title, _seconds(s.seconds) or "-"] for s in report.sections],
            caption="How long each step took",
        )
        total = sum(s.seconds or 0.0 for s in report.sections)
        times.rows.append(["total", _seconds(total)])
        body.append(f'<section id="times"><h2>Time</h2>{_table_html(times)}</section>')
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(report.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
    return atomic_write_text(out_dir / INDEX_HTML, page)


# ---------------------------------------------------------------------------------------- resumable steps


@dataclass
class StepResult:
    """What a step made: its section of the report and outputs later steps use (JSON values: paths as str)."""

    section: Section
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Step:
    """A named unit of work. ``run(out_dir, done)`` gets the outputs of the steps before it by name.

    ``settings`` (JSON values) is what the step's result depends on besides its inputs: a finished step whose
    recorded settings differ (another size, another dataset) is run again. ``needs`` names the earlier steps
    whose outputs it uses: when one of them runs again, so does this one. ``clean(out_dir)``, when given,
    removes what a finished step left behind before it runs again (a step that was interrupted instead
    resumes: nothing is removed)."""

    name: str
    run: Callable[[Path, Mapping[str, dict[str, Any]]], StepResult]
    settings: dict[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    clean: Callable[[Path], None] | None = None


def step_path(out_dir: str | os.PathLike, name: str) -> Path:
    """Where step ``name`` records that it is done: ``out_dir/steps/<name>.json``."""
    return Path(out_dir) / STEPS_DIR / f"{name}.json"


def load_step(out_dir: str | os.PathLike, name: str) -> dict[str, Any] | None:
    """The record of finished step ``name`` (``name``, ``index``, ``seconds``, ``outputs``, ``section``), or
    None when it has not finished."""
    path = step_path(out_dir, name)
    return json.loads(path.read_text()) if path.is_file() else None


def run_steps(
    out_dir: str | os.PathLike,
    steps: Sequence[Step],
    *,
    redo: Collection[str] = (),
    only: Collection[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:
    """Run ``steps`` in order into ``out_dir``, skipping those already finished, and return every step's
    record by name.

    A step is finished when ``out_dir/steps/<name>.json`` exists; it is written atomically only after the
    step returned, so a step that raised (or was interrupted) is run again next time. A finished step runs
    again when its settings changed, when ``redo`` names it, or when a step it ``needs`` ran again in this
    call. ``only`` restricts the run to the steps named (the others must be finished already when a step
    needs their outputs)."""
    out_dir = Path(out_dir)
    names = [s.name for s in steps]
    unknown = sorted(set(redo) - set(names)) + sorted(set(only or ()) - set(names))
    for step in steps:
        unknown += [
            f"{n} (needed by {step.name})" for n in step.needs if n not in names[: names.index(step.name)]
        ]
    if unknown:
        raise ValueError(f"unknown step(s) {', '.join(unknown)}; the steps are: {', '.join(names)}")
    done: dict[str, dict[str, Any]] = {}
    ran: set[str] = set()
    for index, step in enumerate(steps):
        tag = f"[{index + 1}/{len(steps)}] {step.name}"
        record = load_step(out_dir, step.name)
        wanted = only is None or step.name in only
        why = None
        if record is not None:
            if step.name in redo:
                why = "--redo"
            elif _jsonable(step.settings) != record.get("settings", {}):
                why = "its settings changed"
            elif ran & set(step.needs):
                why = f"{', '.join(sorted(ran & set(step.needs)))} ran again"
        if record is not None and (why is None or not wanted):
            note = "" if why is None else f" (not rerun although {why}: not in --only)"
            log(f"{tag}: done already ({record['seconds']:.1f} s), reused{note}")
            done[step.name] = record
            continue
        if not wanted:
            log(f"{tag}: not run (not finished yet)")
            continue
        missing = [n for n in step.needs if n not in done]
        if missing:
            raise RuntimeError(
                f"step {step.name} needs {', '.join(missing)}, which has not finished: run it first "
                f"(leave out --only, or add --only {' --only '.join(missing)})"
            )
        log(f"{tag} ..." + ("" if why is None else f" (again: {why})"))
        if record is not None:  # finished before: not finished any more until it returns
            step_path(out_dir, step.name).unlink()
            if step.clean is not None:
                step.clean(out_dir)
        t0 = time.perf_counter()
        result = step.run(out_dir, {k: v["outputs"] for k, v in done.items()})
        seconds = time.perf_counter() - t0
        result.section.seconds = seconds
        record = {
            "name": step.name,
            "index": index,
            "seconds": seconds,
            "settings": _jsonable(step.settings),
            "outputs": result.outputs,
            "section": asdict(result.section),
        }
        atomic_write_json(step_path(out_dir, step.name), record)
        log(f"{tag}: done in {seconds:.1f} s")
        done[step.name] = record
        ran.add(step.name)
    return done


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), so saved and new settings compare equal."""
    return json.loads(json.dumps(value))


def collect_report(
    out_dir: str | os.PathLike,
    *,
    title: str | None = None,
    intro: str | None = None,
    steps: Sequence[str] | None = None,
) -> Report:
    """The report of the finished steps in ``out_dir/steps`` (in the order they ran), computing nothing.

    ``steps`` keeps only the steps named, in that order (records of other steps are left out). Title and
    intro default to those of an existing ``report.json``."""
    out_dir = Path(out_dir)
    files = sorted((out_dir / STEPS_DIR).glob("*.json"))
    if not files:
        raise FileNotFoundError(
            f"no finished steps in {out_dir / STEPS_DIR}; run `vidlens demo --out {out_dir}` first"
        )
    records = sorted((json.loads(p.read_text()) for p in files), key=lambda r: (r.get("index", 0), r["name"]))
    if steps is not None:
        order = {name: i for i, name in enumerate(steps)}
        records = sorted((r for r in records if r["name"] in order), key=lambda r: order[r["name"]])
    old = load_report(out_dir) if (out_dir / REPORT_JSON).is_file() else Report("vidlens report")
    return Report(
        title=old.title if title is None else title,
        intro=old.intro if intro is None else intro,
        sections=[Section.from_dict(r["section"]) for r in records],
    )


# ------------------------------------------------------------------------------------- seen in a browser

# Chromium's flags for a closed network and no screen: no sandbox (root in containers), no GPU, none of its
# background connections (each refused one would log an error), a fresh profile each time.
_CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@dataclass
class BrowserCheck:
    """What a headless Chromium saw of a page (:func:`check_in_browser`)."""

    media: list[
        tuple[str, str, int]
    ]  # every <img> and <video>: (tag, src, natural width in pixels; 0: broken)
    console_errors: list[str]  # console messages of level error, and uncaught exceptions
    dialogs: list[str]  # alert/confirm/prompt messages: a page of ours never opens one
    text: str  # the page's visible text
    screenshot: Path | None = None

    @property
    def broken(self) -> list[str]:
        """The sources of media elements that did not load."""
        return [src for _, src, width in self.media if width <= 0]

    @property
    def ok(self) -> bool:
        return not (self.broken or self.console_errors or self.dialogs)


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable on PATH, or None."""
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if found := shutil.which(name):
            return found
    return None


def check_in_browser(
    page: str | os.PathLike,
    *,
    screenshot: str | os.PathLike | None = None,
    chromium: str | None = None,
    viewport: tuple[int, int] = (1280, 1000),
    timeout_s: float = 30.0,
) -> BrowserCheck:
    """Open ``page`` (a local HTML file) in headless Chromium through Playwright and report what loaded:
    every image's and video's natural width, console errors, dialogs and the visible text; with
    ``screenshot``, save a PNG of the top of the page (``viewport`` wide and high).

    Needs the Python package ``playwright`` (``pip install playwright``; its own browsers are not used) and a
    Chromium executable (Debian: ``apt-get install chromium``), found on PATH unless ``chromium`` is given."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError(
            "checking a page in a browser needs Playwright: pip install playwright (no `playwright install`: "
            "it drives the system's Chromium)"
        ) from None
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError(
            "no Chromium found on PATH: install it (Debian: apt-get install chromium) or pass chromium=PATH"
        )
    path = Path(page).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no page {path}; build it with `vidlens demo` or `vidlens report DIR`")
    errors: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=list(_CHROMIUM_FLAGS))
        try:
            tab = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: errors.append(str(e)))
            tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            tab.goto(path.as_uri(), wait_until="load", timeout=timeout_s * 1000)
            # Videos report their size once their metadata is in; images are complete at "load".
            tab.wait_for_function(
                "() => [...document.querySelectorAll('video')].every(v => v.readyState >= 1 || v.error)",
                timeout=timeout_s * 1000,
            )
            media = tab.evaluate(
                """() => [...document.querySelectorAll('img, video')].map(e => [e.tagName.toLowerCase(),
                    e.getAttribute('src'), e.tagName === 'IMG' ? e.naturalWidth : e.videoWidth])"""
            )
            text = tab.inner_text("body")
            shot = None
            if screenshot is not None:
                shot = Path(screenshot)
                shot.parent.mkdir(parents=True, exist_ok=True)
                tab.screenshot(path=str(shot))
        finally:
            browser.close()
    return BrowserCheck([tuple(m) for m in media], errors, dialogs, text, shot)
