"""Every state change of the domain goes through a function in this package."""
