"""The app: validated config (config.py); live, paper and replay differ only in plugs."""
