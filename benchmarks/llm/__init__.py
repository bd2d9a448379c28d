"""The LLM layer: chat backends, prompts, the per-item output cache and generator model names.

Used by the ``generate`` command (``benchmarks/generate/``) and the ``e2e`` retriever
(``retrievers/e2e/``): ``backends`` (a local transformers causal LM, or any OpenAI-compatible
chat endpoint through ``benchmarks.openai_client``), ``prompts`` (templates and their hashes),
``cache`` (append-only outputs per job), ``qa`` (questions per chunk, answers per pair, cached
item by item) and ``models`` (which model a generator name means, and its identity).
"""
