"""Test doubles shipped with the library (like httpx's MockTransport): a fake clock and a stateful fake GitHub."""
