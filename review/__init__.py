"""The pull-request review of a stack's preview: the engine's events in, Markdown for people out.

events.py reads the engine's stream, changes.py puts it in the user's words (per VM, per component),
markdown.py renders it within GitHub's size limits, stacks.py says which stacks a change touches,
preview.py is how the engine is asked; `python -m review` is the command (see __main__.py).
"""

PREVIEW, DRIFT = "preview", "drift"
"""What a rendered review judges: a pull request's change (the policy gate), or a nightly drift check."""
