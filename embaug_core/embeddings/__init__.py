"""Embeddings: frozen encoders behind one interface (`encoders`), the cache keyed by encoder
and content hash (`cache`), shards a worker embeds (`shards`), and the product matrix
(`vectors`) shared between processes through a memory-mapped file (`vector_cache`)."""
