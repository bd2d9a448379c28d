"""The OpenAI-compatible embedding retriever (`ada` / `openai`): the plugin, its request batching
by token budget, its retry policy and the price table."""
