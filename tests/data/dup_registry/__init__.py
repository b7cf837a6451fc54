"""Two modules declaring one slug."""
