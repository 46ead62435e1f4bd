"""The old import path of medwb.attribution: ``from medwb.explain import Region`` keeps working.

``medwb.explain`` is the verb, the plain function medwb.attribution.explain. A module of that name would
shadow the verb once imported (Python binds an imported submodule as an attribute of its package), so this
module hands the import system the function itself, carrying medwb.attribution's public names: after
``from medwb.explain import Region``, ``medwb.explain(model, volume)`` still explains. New code imports from
medwb.attribution.
"""

from __future__ import annotations

import sys

from medwb import attribution as _attribution

for _name in _attribution.__all__:
    if _name != "explain":
        setattr(_attribution.explain, _name, getattr(_attribution, _name))

sys.modules[__name__] = _attribution.explain  # type: ignore[assignment]
