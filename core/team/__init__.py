"""People and what they may see: identity, access, sharing, the gallery, the audit log."""
