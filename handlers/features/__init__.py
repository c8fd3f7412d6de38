"""One module per feature; each registers its commands, buttons, steps and menu entry."""
