"""Real-time events: Kinesis -> this package's Lambda -> Personalize PutEvents (issue 5).

`events` is the record contract, `delivery` the batching/retry/dead-letter logic (no AWS SDK use beyond
the clients it is given), `handler` the thin powertools entry point.
"""
