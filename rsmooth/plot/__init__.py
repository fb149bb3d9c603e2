"""`rsmooth plot`: the paper's figures from run folders (curves: Figs. 5-6; sweep: Fig. 4;
schedule: Figs. 1-2), headless, as PNG and PDF. See docs/report.md."""
