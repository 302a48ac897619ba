"""The engine's core: frozen event values, the three roles, the engine loop, the clock."""
