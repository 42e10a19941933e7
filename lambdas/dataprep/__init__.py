"""Data preparation: raw CSV exports -> Personalize datasets and batch inputs for one country and run date.

`queries` renders the Athena SQL (used by the pipeline's prepare step), `counts` holds the minimum-data
guard, `assemble` builds the final CSV objects from UNLOAD parts, `local` runs the same SQL on DuckDB and
`sample_data` writes synthetic raw exports. Only `queries`, `counts` and `assemble` run in Lambda.
"""
