"""Zero-downtime blue/green RayService upgrades. Empty for now: the work lands with its own issue (see README)."""
