"""GCS fault tolerance backed by Redis. Empty for now: the work lands with its own issue (see README)."""
