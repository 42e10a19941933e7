"""`personalize-runs`: find, inspect, redrive and rerun the daily pipeline's runs (see docs/runbook.md).

Layout: `cli` (arguments, output, exit codes) over `runs` (reading runs: ledger + execution history) and
`actions` (redrive, rerun, waiting); `aws` makes the clients (replaceable in tests), `env` names an env's
resources, `errors` maps every problem to one line and an exit code.
"""
