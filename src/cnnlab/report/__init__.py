"""The report: sections as plain data (:mod:`~cnnlab.report.document`), built from experiment results by
:mod:`~cnnlab.report.sections`, rendered into one self-contained HTML page (:mod:`~cnnlab.report.html`) or terminal
text (:mod:`~cnnlab.report.text`)."""

from cnnlab.report.document import Figure, Link, Section, Table, format_seconds, format_value
from cnnlab.report.html import render_report, write_report
from cnnlab.report.text import render_text, text_table

__all__ = ["Figure", "Link", "Section", "Table", "format_seconds", "format_value", "render_report", "render_text",
           "text_table", "write_report"]
