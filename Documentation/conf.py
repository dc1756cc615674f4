# SPDX-License-Identifier: GPL-2.0
# Sphinx configuration: `make docs` builds HTML into build/docs, and
# `make check` fails on any Sphinx warning.
project = "Snapper for Linux"
copyright = "the Snapper for Linux developers"
master_doc = "index"
exclude_patterns = []
html_theme = "alabaster"
nitpicky = False
