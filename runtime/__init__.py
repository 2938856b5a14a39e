"""The session's runtime: the embedding store, the model pool, the embedding plan and the result cache."""
