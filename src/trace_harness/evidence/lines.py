"""Line capping shared by the streamed readers: a line longer than the cap keeps its first ``limit`` bytes."""

from __future__ import annotations


def cap_lines(block: bytes, limit: int) -> bytes:
    """``block`` with every line cut at ``limit`` bytes. Probing every half-limit stride finds long lines
    without walking each line: a line of ``limit`` bytes covers a whole probe window."""
    pieces: list[bytes] = []
    kept = probe = 0
    stride = max(limit // 2, 1)
    while probe < len(block):
        if block.find(b"\n", probe, probe + stride) >= 0:
            probe += stride
            continue
        start, end = block.rfind(b"\n", 0, probe) + 1, block.find(b"\n", probe)
        end = len(block) if end < 0 else end  # a last line without its line break
        if end - start > limit:
            pieces.append(block[kept : start + limit])
            kept = end
        probe = end + 1
    return b"".join([*pieces, block[kept:]]) if pieces else block
