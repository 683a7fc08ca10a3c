"""Random-weight models in the exact on-disk formats of real ones.

They exercise the real loading, tokenization and language-code paths in tests, and give
architecture-faithful speed and memory figures in benchmarks. They prove plumbing, never
quality.
"""
