# The two commands a new user needs: `make demo` and `make test`. Both install what is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the classifier's artefact: built from the committed corpus, never committed itself
MODEL := nlp/model/jinjian-model.joblib
MODEL_INPUTS := nlp/corpus/corpus.jsonl nlp/model.py nlp/tokenize.py nlp/data/finance_dict.txt \
	rules/normalize.py rules/data/normalize.yaml

.PHONY: setup system demo test lint bench bench-quick clean

setup: system $(STAMP) $(MODEL)

system:
	@scripts/install-system.sh

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@$(BIN)/python -m pip install -q jieba_fast 2>/dev/null || echo "jieba_fast did not build; using jieba (same tokens, slower)"
	@touch $(STAMP)

$(MODEL): $(STAMP) $(MODEL_INPUTS)
	$(BIN)/jinjian model train

demo: setup
	$(BIN)/jinjian demo

test: setup
	$(BIN)/ruff check .
	$(BIN)/jinjian rules check
	$(BIN)/python -m pytest -q

# every script in bench/, one results file (bench-results.md); `make bench-quick` for a smoke run
bench: setup
	$(BIN)/python bench/run_all.py

bench-quick: setup
	$(BIN)/python bench/run_all.py --quick

lint: setup
	$(BIN)/ruff check .
	$(BIN)/jinjian rules check

clean:
	rm -rf $(VENV) jinjian-data .pytest_cache
