"""DALM's retriever-only contrastive fine-tuning (`contrastive`): the plugin and its training."""
