"""Test helpers shared by several test packages (fault-injecting proxy, fakes)."""
