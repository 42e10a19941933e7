"""What stops a smoke run."""


class SmokeFailed(Exception):
    """A step or check failed; the message is one line for the person running the smoke test."""
