"""The report: one well-formed, self-contained HTML page (text escaped, figures embedded, skipped parts stated) and
the same sections as terminal text. Number formats: ``test_formatting.py``."""

from __future__ import annotations

import base64
import re
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cnnlab.report import Figure, Link, Section, Table, render_report, render_text, text_table, write_report

VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr"}


def tiny_png(path: Path) -> Path:
    """A valid 2x1 PNG written by hand (no plotting needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = (2).to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])  # 8-bit grayscale
    pixels = zlib.compress(b"\x00\x00\xff")  # filter byte + two pixels
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


class Structure(HTMLParser):
    """Checks that tags nest properly and collects attributes worth checking."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> Structure:
    parser = Structure()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == [], f"unclosed tags: {parser.stack}"
    return parser


def sample_sections(tmp_path: Path) -> list[Section]:
    png = tiny_png(tmp_path / "fig.png")
    return [
        Section("Convolution output size", intro="O = floor((I + 2P - D*(K-1) - 1) / S) + 1",
                paragraphs=["First paragraph.", "Uses `conv_output_size` for\nevery row."],
                tables=[Table(["case", "I", "O"], [["mnist conv1", 28, 14], ["ratio", 0.123456, None]], "Examples")],
                figures=[Figure(png, "A figure")], settings={"input": (28, 28), "lr": 0.01}, seconds=0.25),
        Section("Feature maps", skipped="needs CIFAR-10: put cifar-10-batches-py into --data-dir"),
        Section("Feature maps", paragraphs=["same title twice"], seconds=75.0),
    ]


def test_page_is_well_formed_with_toc_and_sections(tmp_path):
    page = write_report(sample_sections(tmp_path), tmp_path / "out" / "report.html", meta={"command": "cnnlab run"})
    assert page == tmp_path / "out" / "report.html"
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    parsed = parse(text)
    sections = [attrs["id"] for tag, attrs in parsed.tags if tag == "section"]
    assert len(sections) == 3 and len(set(sections)) == 3  # duplicate titles get distinct anchors
    links = [attrs["href"] for tag, attrs in parsed.tags if tag == "a"]
    assert links == [f"#{slug}" for slug in sections]
    assert "cnnlab run" in text
    assert "total time" in text and "1 min 15 s" in text  # 0.25 s + 75 s
    assert "took 250 ms" in text
    assert "<caption>Examples</caption>" in text
    assert "0.1235" in text and "—" in text  # 4 significant digits; None as a dash
    assert "<code>conv_output_size</code>" in text


def test_figures_are_embedded_not_referenced(tmp_path):
    sections = sample_sections(tmp_path)
    text = render_report(sections)
    images = [attrs for tag, attrs in parse(text).tags if tag == "img"]
    assert len(images) == 1
    source = images[0]["src"]
    assert source.startswith("data:image/png;base64,")
    assert base64.b64decode(source.split(",", 1)[1]) == (tmp_path / "fig.png").read_bytes()
    # Nothing external: no src/href other than data URIs and in-page anchors, no stylesheets or frames, and the
    # one script (click a figure to enlarge it) is inline.
    tags = parse(text).tags
    for tag, attrs in tags:
        for key in ("src", "href"):
            if key in attrs:
                assert attrs[key].startswith(("data:", "#")), (tag, attrs)
        assert tag not in {"link", "iframe"}
    assert [attrs for tag, attrs in tags if tag == "script"] == [{}]
    assert "fig.png" not in text
    assert not re.search(r"url\(", text)


def test_text_is_escaped(tmp_path):
    nasty = '<script>alert("x")</script> & x < y > z'
    section = Section(nasty, intro=nasty, paragraphs=[nasty], tables=[Table([nasty], [[nasty]], caption=nasty)],
                      settings={nasty: nasty}, skipped=nasty)
    text = render_report([section], title=nasty, meta={nasty: nasty})
    parsed = parse(text)
    assert "<script>alert" not in text
    assert [tag for tag, _ in parsed.tags].count("script") == 1  # the page's own, nothing from the text
    assert "&lt;script&gt;" in text and "&amp; x &lt; y &gt; z" in text
    assert nasty in "".join(parsed.text)  # the reader sees exactly the text given


def test_unpaired_backtick_is_shown_literally():
    text = render_report([Section("t", paragraphs=["it`s a <b>"])])
    assert "it`s a &lt;b&gt;" in text and "<code>" not in text


def test_skipped_section_is_shown_plainly(tmp_path):
    reason = "no MNIST files in data/: run `cnnlab download --data-dir data` or copy them there"
    text = render_report([Section("Equivariance", skipped=reason), Section("Worked example", seconds=0.1)])
    parse(text)
    assert "Skipped." in text
    assert "<code>cnnlab download --data-dir data</code>" in text
    assert "1 of 2 sections were skipped: Equivariance" in text
    assert '<section id="equivariance" class="skipped">' in text
    assert "(skipped)" in text  # marked in the table of contents too


def test_missing_figure_is_reported_in_place(tmp_path):
    text = render_report([Section("s", figures=[Figure(tmp_path / "nope.png", "lost")])])
    parse(text)
    assert "figure file not found" in text and "<img" not in text


def test_links_point_at_files_beside_the_report_by_relative_path(tmp_path):
    page = tmp_path / "explore" / "page.html"
    page.parent.mkdir()
    page.write_text("<p>a page</p>")
    section = Section(title="Pages", links=[Link(page, "Open <the> page", "caption & more")])
    html = write_report([section], tmp_path / "report.html").read_text()
    assert '<p class="link"><a href="explore/page.html">Open &lt;the&gt; page</a> caption &amp; more</p>' in html
    assert "a page" not in html  # linked, not embedded
    assert f"Open <the> page: {page}" in render_text(section)


def test_no_sections_still_a_page(tmp_path):
    parse(render_report([], title="empty"))


def test_table_validates_rows():
    with pytest.raises(ValueError, match="row 1 has 1 cells but there are 2 columns"):
        Table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(ValueError, match="at least one column"):
        Table([], [])
    with pytest.raises(ValueError, match="row 0 must be a list"):
        Table(["a"], ["x"])


def test_section_defaults_are_not_shared():
    first, second = Section("a"), Section("b")
    first.paragraphs.append("x")
    first.settings["k"] = 1
    assert second.paragraphs == [] and second.settings == {}


def test_questions_are_answered_in_points_with_the_key_numbers_highlighted():
    section = Section("Equivariance", qa=[("What do you <observe>?", ["The MLP falls to 50.0% (-40.0 points).",
                                                                     "An error of 3.2e-07 & no more."])])
    text = render_report([section])
    parse(text)
    assert '<p class="q">What do you &lt;observe&gt;?</p>' in text
    assert "<li>The MLP falls to <strong>50.0%</strong> (<strong>-40.0 points</strong>).</li>" in text
    assert "<li>An error of <strong>3.2e-07</strong> &amp; no more.</li>" in text
    assert render_text(section) == ("Q: What do you <observe>?\n  - The MLP falls to 50.0% (-40.0 points).\n"
                                    "  - An error of 3.2e-07 & no more.")


def test_columns_empty_in_every_row_are_left_out_of_the_page():
    table = Table(["layer", "stride", "note"], [["conv1", 2, None], ["fc1", None, ""]])
    text = render_report([Section("t", tables=[table])])
    assert "<th>layer</th><th>stride</th></tr>" in text and "<th>note</th>" not in text
    assert '<td class="txt">—</td>' in text  # a dash where one row has no value
    assert "note" in text_table(table.columns, table.rows)  # the terminal keeps every column


def test_formulas_become_mathml_in_the_page_and_plain_text_in_the_terminal():
    section = Section("t", paragraphs=[r"The size \(O = \lfloor (I - K) / S \rfloor + 1\) per dimension."])
    text = render_report([section])
    parse(text)
    assert text.count('<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">') == 1
    assert "&#x0230A;" in text and "lfloor" not in text and "\\(" not in text  # the floor sign, not the source
    assert render_text(section) == "The size O = ⌊ (I - K) / S ⌋ + 1 per dimension."


def test_a_norm_reads_as_double_bars_in_plain_text():
    section = Section("t", paragraphs=[r"the change \(\|f(Tx) - f(x)\| / \|f(x)\|\)"])
    assert render_text(section) == "the change ‖f(Tx) - f(x)‖ / ‖f(x)‖"


def test_a_hat_is_one_character_in_plain_text():
    assert text_table([r"\(\hat{y}_i\)", "b"], [["1", "2"]]).split("\n")[0] == "ŷ_i  b"


def test_text_table_aligns_columns_and_formats_cells():
    text = text_table(["case", "I", "O"], [["mnist conv1", 28, 14], ["ratio", 0.123456, None], ["two\nlines", 1, 2]])
    assert text.split("\n") == [
        "case         I       O",
        "-----------  ------  --",
        "mnist conv1  28      14",
        "ratio        0.1235  —",
        "two; lines   1       2",
    ]


def test_render_text_wraps_paragraphs_and_shows_tables_with_captions():
    section = Section("ignored", intro="not printed", paragraphs=["Uses `conv_output_size` " + "word " * 30,
                                                                   "Q: first\nA: second"],
                      tables=[Table(["a", "b"], [[1, 2.5]], caption="Examples."), Table(["c"], [["x"]])],
                      figures=[Figure(Path("f.png"), "a figure")], settings={"k": 1})
    text = render_text(section, width=40)
    blocks = text.split("\n\n")
    assert len(blocks) == 4
    assert blocks[0].startswith("Uses conv_output_size word") and "`" not in blocks[0]
    assert all(len(line) <= 40 for line in blocks[0].split("\n")) and blocks[0].count("\n") >= 3
    assert blocks[1] == "Q: first\nA: second"  # line breaks inside a paragraph are kept
    assert blocks[2] == "Examples:\na  b\n-  ---\n1  2.5"
    assert blocks[3] == "c\n-\nx"
    assert "not printed" not in text and "ignored" not in text and "f.png" not in text
