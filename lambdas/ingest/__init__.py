"""Real-time events: Kinesis -> this package's Lambda -> Personalize PutEvents.

`events` is the record contract, `inbound` the Kinesis record delivery takes, `delivery` the grouping,
batching and ordering of one invocation's records, `retry` each call's rate limiting and backoff,
`dead_letters` where records that can never succeed are kept (none of them uses the AWS SDK beyond the
clients it is given), `request_building` the offline check of a request, `handler` the thin powertools entry
point.
"""
