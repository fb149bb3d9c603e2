"""`rsmooth report`: read run folders, group trials, compare methods, lay out the paper's tables.

runs (read run folders) -> aggregate (configurations, statistics, SGD comparisons) ->
paper (Tables 1-3 and the published numbers) -> render (Markdown, CSV).
"""

from rsmooth.report.build import Report, build_report
from rsmooth.report.render import to_markdown, write_report

__all__ = ["Report", "build_report", "to_markdown", "write_report"]
