"""Readers and validation for the task data: every problem becomes a `UserError` that
names the file and line, raised before any model is loaded."""
