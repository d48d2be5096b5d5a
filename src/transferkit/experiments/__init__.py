"""Experiments made of many runs: learning curves over label budgets, the demo."""
