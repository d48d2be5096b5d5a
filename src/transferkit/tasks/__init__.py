"""One module per task: how examples are encoded, decoded and scored."""
