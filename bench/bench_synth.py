"""Synth time of a 10-country environment and the largest stack (goal: <= 30 s warm, <= 200 resources)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from testkit.synth import write_env_from_dev

ROOT = Path(__file__).resolve().parent.parent
TEN_COUNTRIES = [
    ("KR", "Asia/Seoul", "ko_KR"),
    ("JP", "Asia/Tokyo", "ja_JP"),
    ("US", "America/New_York", "en_US"),
    ("GB", "Europe/London", "en_GB"),
    ("DE", "Europe/Berlin", "de_DE"),
    ("FR", "Europe/Paris", "fr_FR"),
    ("BR", "America/Sao_Paulo", "pt_BR"),
    ("IN", "Asia/Kolkata", "hi_IN"),
    ("AU", "Australia/Sydney", "en_AU"),
    ("CA", "America/Toronto", "en_CA"),
]

# Runs in a fresh interpreter, like `cdk synth` does: config loading + build + synth, cdk-nag included.
_SYNTH = """
import time
from pathlib import Path
start = time.perf_counter()
import aws_cdk as cdk
import json
from stacks.config import load_config
from stacks.application import build_application
context = json.loads(Path({root!r}, "cdk.json").read_text())["context"]
app = cdk.App(outdir={outdir!r}, context=context)
build_application(load_config("bench", config_dir=Path({config_dir!r})), app)
app.synth()
print(time.perf_counter() - start)
"""


def figures():
    with tempfile.TemporaryDirectory() as tmp:
        config_dir = Path(tmp)
        write_env_from_dev(
            config_dir,
            "bench",
            account="000000000000",
            region="ap-northeast-2",
            dataset_group_quota=10,
            countries=[{"code": c, "time_zone": z, "locales": [loc]} for c, z, loc in TEN_COUNTRIES],
        )
        outdir = config_dir / "cdk.out"
        script = _SYNTH.format(root=str(ROOT), outdir=str(outdir), config_dir=str(config_dir))
        timings = []
        for _ in range(2):  # the first run fills the jsii cache; the second is the warm figure
            result = subprocess.run(
                [sys.executable, "-c", script], capture_output=True, text=True, check=True
            )
            timings.append(float(result.stdout.strip().splitlines()[-1]))
        largest = max(
            len(json.loads(t.read_text()).get("Resources", {})) for t in outdir.glob("*.template.json")
        )
    yield "synth_seconds_10_countries_warm", timings[-1], "s"
    yield "largest_stack_resources_10_countries", largest, "resources"
