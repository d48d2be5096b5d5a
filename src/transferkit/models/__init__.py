"""The model zoo: a model name, local directory or hub id resolved to something
`from_pretrained` can load."""
