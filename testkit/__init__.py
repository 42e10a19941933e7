"""Local stand-ins for AWS that the tests and the bench share: the synthesis helper (`synth`), the pipeline
harness (`pipeline_harness`: moto's Step Functions engine executing the synthesised definition with our real
handlers in-process) and fakes of the services moto lacks (`fakes`: Personalize, Athena on DuckDB, redrive, a
simulated clock). Installed with the project (pyproject.toml) so that `bench/` imports it like the tests do; never
part of a Lambda asset."""
