"""Evidence readers: the only core modules that read files."""
