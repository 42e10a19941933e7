"""`personalize-runs`: find, inspect, redrive and rerun the daily pipeline's runs (see docs/runbook.md).

Layout: `cli` (arguments, exit codes) dispatches to `commands` (what each command does), each in a `session`
(env, clients, output, confirmation; its `Runtime` replaceable in tests); `render` writes results as text. Below
them `runs` (reading runs: ledger + execution history, the history read by `executions`), `actions` (redrive,
rerun, waiting) and `events` (replaying real-time events); `aws` makes the clients, `env` names an env's
resources, `ledger` reads the run ledger, `errors` maps every problem to one line and an exit code.
"""
