"""Whether a smoke run may touch an account at all: only a sandbox env, only with that env's own credentials.

Both checks come before anything else: a refusal means nothing was deployed, uploaded or deleted.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stacks.config import EnvironmentConfig

GUIDE = "docs/smoke.md"


class Refused(Exception):
    """The run may not start; the message is one line for the person running it."""


def require_sandbox(config: EnvironmentConfig) -> None:
    if not config.sandbox:
        raise Refused(
            f"env {config.env} is not a sandbox (its config has no 'sandbox: true'): smoke deletes what it "
            f"deploys, so it runs only against a sandbox account; see {GUIDE}"
        )
    if config.account is None:  # the config refuses a sandbox without an account; kept for a config built in code
        raise Refused(f"sandbox env {config.env} names no account; see {GUIDE}")


def confirm_account(config: EnvironmentConfig, sts: Any) -> str:
    """The account the credentials are for (STS GetCallerIdentity), which must be the config's.

    GetCallerIdentity "Returns details about the IAM user or role whose credentials are used to call the
    operation", and "No permissions are required to perform this operation" (STS API reference): it answers for
    any working credentials, so a refusal here is about the account, not a missing permission.
    """
    require_sandbox(config)
    try:
        account = str(sts.get_caller_identity()["Account"])
    except (BotoCoreError, ClientError) as error:
        reason = " ".join(str(error).split())
        raise Refused(f"could not confirm the account with STS ({reason}): nothing was called") from None
    if account != config.account:
        raise Refused(
            f"credentials are for account {account}, but env {config.env} is the sandbox account "
            f"{config.account}: nothing was called (use the sandbox's credentials, e.g. --profile)"
        )
    return account
