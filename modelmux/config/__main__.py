"""Regenerate the derived files: python -m modelmux.config sample|docs-table"""

import sys

from modelmux.config.render import render_docs_table, render_sample

what = sys.argv[1] if len(sys.argv) > 1 else ""
if what not in ("sample", "docs-table"):
    sys.exit("usage: python -m modelmux.config sample|docs-table")
sys.stdout.write(render_sample() if what == "sample" else render_docs_table())
