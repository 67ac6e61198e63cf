"""Provider adapters: wire formats only (sans-I/O), plus the registry that maps a kind to its adapter."""
