"""Package data: the prompt templates, one markdown file per step kind."""
