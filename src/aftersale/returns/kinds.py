"""The messages a return sends, registered with messaging (filled by the portal work)."""
