"""Layout passes: rewrites that move or remove data-layout changes (transposes)."""
