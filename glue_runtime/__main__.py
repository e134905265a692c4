"""``python -m glue_runtime``: the command line."""

from glue_runtime.cli import main

main(prog_name="python -m glue_runtime")
