"""The campaign report: ``report/index.html`` and its PNG plots, from the store alone."""

from pyacemaker_fw.report.html import write_report

__all__ = ["write_report"]
