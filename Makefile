# The two set-up commands of the README. Both create a virtual environment in .venv
# (Python 3.10+), install the package with what the book and the tests need, and run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: book test clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and alone: the pinned release (a CPU build where one is on disk).
	$(BIN)/python -m pip install --quiet -c constraints.txt torch
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

# Executes every chapter and writes the website to _build/html; warnings are errors.
book: $(BIN)/.installed
	SGD_ESCAPE_STATIC=1 $(BIN)/jupyter-book build . -W -n --keep-going

# Unit tests, every chapter executed in a fresh kernel, the book build, the site checks.
test: $(BIN)/.installed
	$(BIN)/python -m pytest

clean:
	rm -rf _build
