"""A local chain running the real, published bytecode of the protocols TallyIO trades on."""
