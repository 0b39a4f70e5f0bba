"""Hypervisor backends: the only code that knows a provider."""
