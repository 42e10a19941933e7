"""`personalize-runs`: find, inspect, redrive and rerun the daily pipeline's runs (see docs/runbook.md).

Layout: `cli` (arguments, exit codes) dispatches to `commands` (what each command does), each in a `session`
(env, clients, output, confirmation; its `Runtime` replaceable in tests); `render` writes results as text. Below
them `runs` (reading runs: ledger + execution history, the history read by `executions`), `actions` (redrive,
rerun, waiting), `events` (replaying real-time events) and `recommend` (one signed call to the serving API);
`aws` makes the clients and reads stack outputs, `env` names an env's resources, `ledger` reads the run ledger,
`errors` maps every problem to one line and an exit code.
"""
