# The two set-up commands of the README. Both create a virtual environment in .venv
# (Python 3.10+), install the package with what the book and the tests need, and run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: book test clean chromium vendor-mathjax

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

# Unit tests, every chapter executed in a fresh kernel, the book build, the site checks
# (headless Chromium), the Colab path (a fresh clone pip-installed into a fresh venv).
# Two processes (pytest-xdist, one file at a time each): the Colab-path test runs beside the
# book build, which is built once and shared by every site check (tests/conftest.py).
# A private --basetemp: other pytest runs on the same machine cannot prune our tmp_path folders.
test: $(BIN)/.installed chromium
	mkdir -p _build
	$(BIN)/python -m pytest -n 2 --dist loadfile --basetemp=$(CURDIR)/_build/pytest-tmp

# The browser test drives Debian's Chromium: installed here when it is missing and we are
# root (CI); otherwise install it yourself (the test is skipped without it, but fails in CI).
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	    || [ -n "$$SGD_ESCAPE_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's chromium for the browser test (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	    || echo "WARNING: apt-get could not install chromium; the browser test cannot run"; \
	else \
	  echo "NOTE: no chromium on PATH and not root: 'sudo apt-get install chromium' to run the browser test"; \
	fi

# Refresh the bundled MathJax (the site must not load it from a CDN): npm registry package.
MATHJAX_VERSION := 3.2.2
vendor-mathjax:
	rm -rf _vendor/mathjax /tmp/sgd-escape-mathjax && mkdir -p /tmp/sgd-escape-mathjax
	cd /tmp/sgd-escape-mathjax && npm pack --silent mathjax@$(MATHJAX_VERSION) && tar xzf mathjax-$(MATHJAX_VERSION).tgz
	mkdir -p _vendor/mathjax/es5/input/tex _vendor/mathjax/es5/output/chtml/fonts
	cd /tmp/sgd-escape-mathjax/package && cp LICENSE $(CURDIR)/_vendor/mathjax/ \
	  && cp es5/tex-mml-chtml.js $(CURDIR)/_vendor/mathjax/es5/ \
	  && cp -r es5/input/tex/extensions $(CURDIR)/_vendor/mathjax/es5/input/tex/ \
	  && cp -r es5/output/chtml/fonts/woff-v2 $(CURDIR)/_vendor/mathjax/es5/output/chtml/fonts/ \
	  && cp -r es5/ui $(CURDIR)/_vendor/mathjax/es5/

clean:
	rm -rf _build
