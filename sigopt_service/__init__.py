"""SigOpt-compatible optimization service."""
