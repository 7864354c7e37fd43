"""wf-gate: decides with honest statistics whether each model family is ready to release."""
