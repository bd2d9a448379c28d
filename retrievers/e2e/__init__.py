"""DALM's end-to-end retriever + generator training (`e2e`): the plugin, the joint training loop,
the loss, the answer data and the generator models."""
