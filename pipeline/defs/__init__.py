"""One module per layer; each contributes its assets and checks through `build(settings)`."""
