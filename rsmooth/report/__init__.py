"""`rsmooth report`: read run folders, group trials, compare methods, lay out the paper's tables.

rsmooth.runfolder (read run folders) -> aggregate (configurations, selection on a chosen split,
comparisons with tuned SGD) -> stats (scipy: intervals, Welch, Holm) -> paper (Tables 1-3, the
published numbers, protocol checks) -> render (Markdown, LaTeX, CSV).
"""

from rsmooth.report.build import Report, build_report
from rsmooth.report.render import FORMATS, render, to_markdown, write_report

__all__ = ["FORMATS", "Report", "build_report", "render", "to_markdown", "write_report"]
