"""Reads that pages and list endpoints need, at a fixed number of queries per page."""
