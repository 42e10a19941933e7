"""Entry point of the report step (pipeline.step_names.REPORT's Handler). Separate from pipeline.handlers because
it imports numpy and scipy, which only the report step's container image carries (see lambdas/Dockerfile.report)."""

from pipeline.steps.report import handler as report_page

__all__ = ["report_page"]
