"""Entry point of the report step. Separate from pipeline.handlers because it imports numpy and scipy,
which only the report step's container image carries (see lambdas/Dockerfile.report)."""

from pipeline.handlers import step_handler
from pipeline.steps.report import build_report

report_page = step_handler("report", build_report)
