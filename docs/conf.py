"""Sphinx configuration: the guides (Markdown, MyST) and the API reference (autodoc).

Built by ``nox -s docs`` with warnings as errors. Two checks of our own run at the end of
reading: every public name (the ``__all__`` of each documented module) is documented exactly
where the reference says, and nothing is documented that is not public.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import trio_locksync

project = "trio-locksync"
author = "trio_locksync developers"
copyright = "trio_locksync developers"
release = trio_locksync.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "sphinxcontrib_trio",  # marks async functions and async context managers as trio's docs do
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 4

html_theme = "furo"
html_title = f"trio-locksync {release}"
html_static_path: list[str] = []

# -- autodoc ------------------------------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autoclass_content = "class"

# -- nitpicky mode ------------------------------------------------------------------------------
# Every cross-reference to our own names must resolve. References to other projects (trio,
# attrs, paho, the standard library) would need intersphinx, which fetches their inventories
# over the network at build time; the build has to work offline, so those are not linked and
# not checked. Only names outside ``trio_locksync`` are let through.

nitpicky = True
_EXTERNAL = (
    r"(trio|trio_websocket|attrs|attr|paho|wsproto|ssl|os|pathlib|datetime|zoneinfo|enum|typing"
    r"|typing_extensions|collections|collections\.abc|contextlib|decimal|logging|random|types"
    r"|json|socket|subprocess|urllib|asyncio|anyio|rich|outcome|h11|abc|_typeshed|concurrent)"
)
nitpick_ignore_regex = [
    (r"py:.*", _EXTERNAL + r"(\..*)?"),
    # builtins and typing names as annotations show them
    (
        r"py:.*",
        r"(None|NoneType|int|float|str|bytes|bool|object|type|list|dict|set|frozenset|tuple"
        r"|Any|Callable|Awaitable|Coroutine|Iterator|Iterable|AsyncIterator|AsyncIterable"
        r"|AsyncGenerator|Generator|Mapping|MutableMapping|Sequence|Collection|Hashable"
        r"|Literal|Self|TypeVar|Generic|Protocol|Final|ClassVar|Never|NoReturn"
        r"|BaseException|Exception|ValueError|TypeError|OSError|RuntimeError|KeyError"
        r"|NotImplementedError|StopAsyncIteration|TimeoutError|ConnectionError|PathLike"
        r"|Path|Decimal|datetime|timedelta|tzinfo|ZoneInfo|SSLContext|Enum|IntEnum|StrEnum"
        r"|Nursery|CancelScope|MemoryReceiveChannel|MemorySendChannel|TaskStatus|Event"
        r"|Stream|SocketStream|CapacityLimiter|TracebackType|Random|Logger"
        r"|T|T_co|T_contra|_T|_T_co|P|.*\.T|.*\._T)",
    ),
    # type variables of our generic classes (``StateTable[S]``)
    (r"py:class", r"trio_locksync\..*\.[A-Z]"),
]
# Private types that public signatures still name (issue 23, item 2: each becomes public or
# leaves the signature). Listed one by one, so that a new one fails the build.
nitpick_ignore = [
    ("py:class", "trio_locksync.access._effects.Assignment"),
    ("py:class", "trio_locksync.access._effects.Changed"),
    ("py:class", "trio_locksync.access._effects.Desire"),
    ("py:class", "trio_locksync.access._effects.NeedSlots"),
    ("py:class", "trio_locksync.access._effects.Save"),
    ("py:class", "trio_locksync.core._status.ChangeRecord"),
    ("py:class", "trio_locksync.credentials._knowledge.WriteEvidence"),
    ("py:class", "trio_locksync.credentials._work.FirstRead"),
    ("py:class", "trio_locksync.credentials._work.Probe"),
    ("py:class", "trio_locksync.credentials._work.Survey"),
    ("py:class", "trio_locksync.mqtt._acks.Delivery"),
    ("py:class", "trio_locksync.mqtt._subscription.Leftovers"),
    ("py:class", "trio_locksync.mqtt._subscription.Pushed"),
]

# -- checks of our own --------------------------------------------------------------------------

#: the modules whose ``__all__`` the reference documents, each public object once: names of
#: the top level are documented as ``trio_locksync.X``; a module's own further names as
#: ``trio_locksync.<module>.X``
DOCUMENTED_MODULES = [
    "trio_locksync",
    "trio_locksync.store",
    "trio_locksync.autolock",
    "trio_locksync.credentials",
    "trio_locksync.eventstream",
    "trio_locksync.eventstream.isy",
    "trio_locksync.mqtt",
    "trio_locksync.providers.zigbee2mqtt",
    "trio_locksync.providers.zwave_js",
    "trio_locksync.access",
    "trio_locksync.testing",
    "trio_locksync.testing.isy",
    "trio_locksync.testing.zigbee2mqtt",
    "trio_locksync.testing.zwave_js",
    "trio_locksync.lowlevel",
]


def _public_names() -> dict[str, list[str]]:
    """Each public object (by identity) → the names it may be documented under, the first
    one being its home."""
    homes: dict[int, list[str]] = {}
    for module_name in DOCUMENTED_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            homes.setdefault(id(getattr(module, name)), []).append(f"{module_name}.{name}")
    return {names[0]: names for names in homes.values()}


def _home_of(path: str) -> str | None:
    """The documented name of the public object at ``path`` (``trio_locksync.core.X`` →
    ``trio_locksync.lowlevel.X``), or None."""
    module_name, _, name = path.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        return None
    for home, names in _public_names().items():
        module, _, attr = names[0].rpartition(".")
        if getattr(importlib.import_module(module), attr) is obj:
            return home
    return None


def _check_reference(app: Any, env: Any) -> None:
    from sphinx.util import logging

    logger = logging.getLogger("trio_locksync.docs")
    documented = set(env.get_domain("py").objects)
    for home, names in sorted(_public_names().items()):
        if not documented.intersection(names):
            logger.warning(
                "public name %s is not in the API reference: add it to docs/reference/", home
            )
    pattern = re.compile(r"trio_locksync(\.[a-z_]+)*\.[A-Za-z_0-9]+$")
    all_names = {name for names in _public_names().values() for name in names}
    for name, entry in sorted(env.get_domain("py").objects.items()):
        if entry.aliased or entry.objtype not in {"class", "exception", "function", "data"}:
            continue  # aliased: the private path autodoc records as :canonical:
        if pattern.match(name) and name not in all_names:
            logger.warning("%s is documented but is not a public name", name)


def _resolve_short_name(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Docstrings name our objects as their own module sees them (``UnknownGrant``,
    ``MqttBridge.statistics``, ``_lock.ZWaveJsLock``); resolve such a name to the one
    documented object whose full name ends with it (as a leading ``.`` would), if there is
    exactly one."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    domain = env.get_domain("py")
    if target.startswith("trio_locksync."):  # a full path other than the documented one
        home = _home_of(target)
        if home is not None and home in domain.objects:
            target = home
    found = {
        (entry.node_id, entry.docname, name)
        for name, entry in domain.objects.items()
        if name.startswith("trio_locksync.")
        and (name == target or name.endswith("." + target))
        and not entry.aliased
    }
    parts = target.split(".")
    if not found and len(parts) > 1 and all(part.startswith("_") for part in parts[:-1]):
        # a path through private modules (``_lock.ZWaveJsLock``) names the public object
        found = {
            (entry.node_id, entry.docname, name)
            for name, entry in domain.objects.items()
            if name.startswith("trio_locksync.")
            and name.endswith("." + parts[-1])
            and not entry.aliased
        }
    if not found:  # a private path autodoc recorded as the object's canonical name
        found = {
            (entry.node_id, entry.docname, name)
            for name, entry in domain.objects.items()
            if name.startswith("trio_locksync.") and name.endswith("." + target)
        }
    if len({name for _, _, name in found}) != 1 and len(found) != 1:
        return None
    node_id, docname, name = sorted(found)[0]
    from sphinx.util.nodes import make_refnode

    return make_refnode(app.builder, node["refdoc"], docname, node_id, contnode, name)


def _no_constructor_signature(
    app: Any, what: str, name: str, obj: Any, options: Any, signature: Any, annotation: Any
) -> Any:
    """A class an ``open_x()`` makes has no public constructor: show no constructor
    signature for it (its ``__init__`` arguments are the library's, not the caller's)."""
    from trio_locksync.core import NoPublicConstructor

    if what in {"class", "exception"} and isinstance(obj, NoPublicConstructor):
        return "", annotation
    return None


def setup(app: Any) -> None:
    app.connect("autodoc-process-signature", _no_constructor_signature)
    app.connect("env-check-consistency", _check_reference)
    app.connect("missing-reference", _resolve_short_name)
