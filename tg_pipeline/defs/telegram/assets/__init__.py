"""The telegram assets: one module per asset, plus the metadata they show in the UI."""
