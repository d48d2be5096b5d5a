"""Multi-task transfer (`transferkit multitask`): one pretrained encoder shared by several
task heads, trained together by the one training loop from one YAML file, each head
written as a normal run directory that `predict`, `evaluate` and `serve` read unchanged.

`config` reads the YAML (and imports no torch, so that the CLI's `--help` stays instant);
`model` is the shared-encoder model, its batch sampler and its dev score; `run` trains
and writes the run directory.
"""
