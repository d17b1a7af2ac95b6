"""Model providers: system providers from settings and application provider keys."""
