"""Dataset analyses (Sec. 3.3-3.5): one module each, all on the protocol of :mod:`.base`, listed in :mod:`.registry`.

Nothing is imported here, so that the modules can import :mod:`.base` without a cycle through this package.
"""
