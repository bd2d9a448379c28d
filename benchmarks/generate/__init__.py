"""Make retrieval datasets where none exist: PDF text -> chunks -> LLM questions (and answers).

``python harness.py generate --from-pdf DIR --out NAME`` writes an EmbeddingQAFinetuneDataset
JSON per split plus a dataset card; ``--answers-for DATASET`` adds answers to existing
(question, passage) pairs as a DALM-style CSV. Every model call is cached per item, so a killed
run continues where it stopped. See ``benchmarks/generate/cli.py`` for the options.
"""
