"""LlamaIndex's linear adapter over a frozen base encoder (`bge-adapter` / `adapter`): the plugin
and the adapter modules it trains."""
