"""What it costs: prices, the ledger, limits, usage."""
