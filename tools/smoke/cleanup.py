"""The smoke run's clean-up: removes what this run made and nothing else (the stacks that did not exist before its
deploy, the object versions it uploaded, the queue it created, the Personalize campaigns and solutions of a country
stack it created; tools/smoke/ownership.py). Best effort: each part on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tools.smoke.cdk import destroy_command
from tools.smoke.checks import arn_kind, recorded_jobs
from tools.smoke.errors import SmokeFailed
from tools.smoke.ownership import country_stack_name, delete_uploads, env_stack_names, live_stacks

if TYPE_CHECKING:
    from tools.smoke.flow import Smoke


def remove(smoke: Smoke) -> None:
    """Best effort, each part on its own: a failure is reported and the rest still runs. Removes only what
    this run made: a stack that existed before its deploy is kept, whatever happened to the deploy."""
    created: list[str] = []
    try:
        created = _created_stacks(smoke)
    except Exception as error:  # noqa: BLE001  (then no stack counts as this run's: none is destroyed)
        smoke.verified.append(("remove stacks", False, f"could not tell which stacks this run created: {error}"))
    for what, action in (
        ("notification queue", lambda: _remove_queue(smoke)),
        ("Personalize campaigns and solutions", lambda: _remove_personalize(smoke, created)),
        ("uploaded objects", lambda: _delete_uploads(smoke)),
        ("stacks", lambda: _destroy(smoke, created)),
    ):
        try:
            action()
        except Exception as error:  # noqa: BLE001  (clean-up reports every failure and goes on)
            smoke.seams.say(f"could not remove {what}: {error}")
            smoke.verified.append((f"remove {what}", False, str(error)))
    if created and smoke.config.env != "dev":
        smoke.seams.say(
            f"env {smoke.config.env} keeps its buckets, key, ledger, stream and queues on stack deletion "
            "(RETAIN): delete them by hand in a sandbox"
        )


def _created_stacks(smoke: Smoke) -> list[str]:
    """The env's stacks that exist now and did not before this run's deploy (none if that is unknown)."""
    if smoke.stacks_before is None:
        return []
    names = env_stack_names(smoke.config)
    now = live_stacks(smoke.client("cloudformation"), names)
    return [name for name in names if name in now and name not in smoke.stacks_before]


def _remove_queue(smoke: Smoke) -> None:
    if smoke.subscription_arn and smoke.subscription_arn.startswith("arn:"):
        smoke.client("sns").unsubscribe(SubscriptionArn=smoke.subscription_arn)
    if smoke.queue_url:
        smoke.client("sqs").delete_queue(QueueUrl=smoke.queue_url)


def _remove_personalize(smoke: Smoke, created: list[str]) -> None:
    """Campaigns and solutions are created by the pipeline, not by the stacks: they block the dataset group.
    Only in a dataset group this run created (its country stack): in an older one the run may have updated a
    campaign or trained a solution that existed before it."""
    if country_stack_name(smoke.config, smoke.options.country.code) not in created:
        return
    steps = (smoke.record or {}).get("steps") or {}
    personalize = smoke.client("personalize")
    campaigns = [j["arn"] for j in recorded_jobs(steps, "promote") if arn_kind(j["arn"]) == "campaign"]
    # A version's ARN is its solution's ARN + "/<version id>".
    solutions = sorted({solution_arn(j["arn"]) for j in recorded_jobs(steps, "train") if j["arn"].count("/") >= 1})
    for arn in campaigns:
        personalize.delete_campaign(campaignArn=arn)
    for arn in solutions:
        personalize.delete_solution(solutionArn=arn)
    smoke.seams.say(f"deleted {len(campaigns)} campaign(s) and {len(solutions)} solution(s)")


def _delete_uploads(smoke: Smoke) -> None:
    if smoke.uploads:
        deleted = delete_uploads(smoke.client("s3"), smoke.uploads)
        smoke.seams.say(f"deleted the {deleted} object version(s) this run uploaded")


def _destroy(smoke: Smoke, created: list[str]) -> None:
    if not created:
        smoke.seams.say("this run created no stack: none destroyed")
        return
    smoke.seams.say(f"destroying the stacks this run created: {', '.join(created)}")
    code = smoke.seams.run(destroy_command(smoke.config.env, created))
    if code != 0:
        raise SmokeFailed(f"cdk destroy failed with exit code {code}")


def solution_arn(arn: str) -> str:
    prefix, resource = arn.rsplit(":", 1)
    return f"{prefix}:{'/'.join(resource.split('/')[:2])}"
