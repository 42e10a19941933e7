"""Offline evaluation and the heavy-user comparison page.

Pure Python + numpy/scipy: nothing here calls AWS, so the same code runs in a pipeline step, locally
(`python -m evaluation.report_local`) and in tests.

- `similarity`: item-item Jaccard top-k neighbours (exact sparse, legacy pairwise sets, MinHash + LSH) and the
  chooser between them.
- `recommenders`: the current curation (merged neighbours of recent items) and the popularity baseline.
- `metrics`: precision@k, NDCG@k, MRR@25 and coverage as Personalize defines them; cold-start and freshness.
- `data`: loading the prepared CSVs and Personalize batch output; the time split.
- `report_model`: report.json's shape; `report`: building it in memory (`sql_report`: from the SQL outputs);
  `page`: the self-contained report.html; `decision`, `composition`, `ties`, `intervals`, `rounding`,
  `user_counts`: the figures the page states and how they are made.
- `raw_identity`: which raw data a local report was built from (its trend keeps runs of the same data).
"""
