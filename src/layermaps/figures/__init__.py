"""Figures stage: drawing (plots), the figure jobs (stage) and the summary.md tables (summary)."""
