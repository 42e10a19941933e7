"""The exposure log: one JSON line per served response of an experiment, written to the function's stdout.

The line is `{"exposure": {...}}` (common.experiments.Exposure.line) and nothing else, so the log group's
subscription filter can select it by that key and Firehose's message extraction delivers it as it was written
(stacks/constructs/exposure_log.py). Writing to stdout costs microseconds on the response path and cannot fail
on a network call: Lambda hands the line to CloudWatch Logs outside the request, and the subscription and
Firehose retry the delivery (docs/serving.md, "The exposure log").

Not through the Powertools Logger: it would add its own keys (level, location, service, ...) to every exposure
and format the record through the logging machinery, for nothing the report reads.
"""

from __future__ import annotations

import json
import sys

from common.experiments import Exposure


def exposure_line(exposure: Exposure) -> str:
    """The exposure as one log line: compact JSON (no newline inside: JSON escapes control characters)."""
    return json.dumps(exposure.line(), separators=(",", ":"), ensure_ascii=False) + "\n"


def log_exposure(exposure: Exposure) -> None:
    """Write the exposure's line in one call, so lines of concurrent threads never interleave."""
    sys.stdout.write(exposure_line(exposure))
    # A buffered line would wait for the next invocation, or be lost if the environment shuts down first.
    sys.stdout.flush()
