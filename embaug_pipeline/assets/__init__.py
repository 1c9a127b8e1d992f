"""The asset graph: catalog -> embeddings -> experiment -> reporting."""
