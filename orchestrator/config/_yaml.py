"""The YAML loader of config files: PyYAML's safe loader with YAML 1.2's numbers.

PyYAML follows YAML 1.1, where a float needs a dot (`1.0e-5`), so `1e-5`, `1E3` and
`+1e3` are strings, and where `1_000`, `0777` (octal) and `1:30` (base 60) are ints. YAML
1.2's core schema, which people write by and other tools read by, says otherwise:

| text                       | YAML 1.1 (PyYAML) | here (YAML 1.2) |
|----------------------------|-------------------|-----------------|
| `1e-5`, `1E3`, `+1e3`      | string            | float           |
| `.5`, `-1.5`, `.inf`       | float             | float           |
| `12`, `+12`, `0x1F`, `0o17`| int               | int             |
| `017`                      | int 15 (octal)    | int 17          |
| `1_000`, `1:30`            | int               | string          |

Booleans and everything else are PyYAML's.

```python
yaml.load(text, Loader=ConfigLoader)
```
"""

from __future__ import annotations

import re

import yaml

__all__ = ["ConfigLoader"]

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"

_INT_12 = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_12 = re.compile(
    r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class ConfigLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` whose ints and floats are YAML 1.2's (see the module docstring)."""


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # `017` is 17: YAML 1.2 has no bare-zero octal


# The class's own copy: PyYAML's table is shared by every SafeLoader.
ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# Ints first: `12` matches both patterns and stays an int.
ConfigLoader.add_implicit_resolver(_INT_TAG, _INT_12, list("-+0123456789"))
ConfigLoader.add_implicit_resolver(_FLOAT_TAG, _FLOAT_12, list("-+0123456789."))
ConfigLoader.add_constructor(_INT_TAG, _construct_int)
