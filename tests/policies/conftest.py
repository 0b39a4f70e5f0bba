from tests.policies.helpers import fixed_today

__all__ = ["fixed_today"]
