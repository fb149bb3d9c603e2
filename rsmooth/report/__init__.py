"""`rsmooth report`: read run folders, group trials, compare methods, lay out the paper's tables.

Torch-free: a run's method comes from its folder (summary.json's ``method`` block).

rsmooth.runfolder (read run folders) -> labels (each run's method block) -> aggregate
(configurations, selection on a chosen split) -> cost (what a configuration cost to train) ->
compare (each method against its baseline, and SGD at equal compute) -> selection (how sure a
choice is, what a confirmation could detect) -> stats (scipy: intervals, Welch, Holm, power)
-> paper (Tables 1-3, the published numbers, protocol checks) -> verdict, render, records
(Markdown, LaTeX, CSV).
"""

from rsmooth.report.build import Report, build_report
from rsmooth.report.render import FORMATS, render, to_markdown, write_report

__all__ = ["FORMATS", "Report", "build_report", "render", "to_markdown", "write_report"]
