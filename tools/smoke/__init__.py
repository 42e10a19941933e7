"""`make smoke ENV=<env>`: the first real deployment of an env as one command, for a sandbox account.

Deploy, upload a small sample, run the pipeline for one country, send events through Kinesis, check what
came out, remove what it created. Every AWS call goes through one client factory and the cdk commands through
one runner, so the whole flow runs offline against moto and the fake Personalize (tests/smoke/).
"""
