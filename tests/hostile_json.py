"""Hypothesis strategies for hand-edited or damaged JSON: any value the streaming parser accepts."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# yajl (ijson's backend) refuses integers past 64 bits and non-finite numbers, as not JSON; json.loads does not.
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
