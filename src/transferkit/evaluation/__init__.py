"""Metrics beyond one run: tables, reports and plots."""
