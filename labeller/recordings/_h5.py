"""HDF5 access shared by the formats: lookups, filter checks, attributes, faults that name objects.

h5py reports a damaged object as a missing one (`Group.get` swallows the KeyError) and a failed
read without the dataset's name. Everything here returns what was asked or raises `H5Fault`
naming the object, with h5py's error as the cause; `Recording` turns that into one
`RecordingError` line naming the file, the object and the problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np

from labeller.errors import RecordingError

__all__ = [
    "H5Fault",
    "attribute",
    "check_filters",
    "faults_named",
    "find_dataset",
    "find_group",
    "integers_of",
    "list_datasets",
    "text_of",
]

#: HDF5 filter id Prophesee assigned to its ECF event codec (Metavision HDF5 event files).
ECF_FILTER_ID = 0x8ECF


class H5Fault(Exception):
    """h5py failed on `what` ("dataset events/t", "object CD"); the h5py error is `__cause__`."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@contextmanager
def faults_named(what: str) -> Iterator[None]:
    """Re-raise h5py's errors inside the block as `H5Fault(what)`, keeping the cause."""
    try:
        yield
    except (OSError, RuntimeError, KeyError) as exc:
        raise H5Fault(what) from exc


def _lookup(node: Any, name: str) -> Any | None:
    """The object at `name`, None if no link of that name exists; a damaged one raises."""
    with faults_named(f"object {name}"):
        if name not in node:
            return None
        return node[name]


def find_dataset(node: Any, name: str) -> Any | None:
    """The dataset at `name`, or None if there is none (a group of that name counts as none)."""
    found = _lookup(node, name)
    return found if isinstance(found, h5py.Dataset) else None


def find_group(node: Any, name: str) -> Any | None:
    """The group at `name`, or None if there is none."""
    found = _lookup(node, name)
    return found if isinstance(found, h5py.Group) else None


def check_filters(dataset: Any, name: str, path: Path) -> None:
    """Raise if `dataset` is compressed with a filter this HDF5 library cannot load.

    Checked when the file is opened, so the user learns which plugin is missing instead of
    meeting HDF5's "can't open directory" on the first read. `filter_avail` also tries the
    plugins on HDF5_PLUGIN_PATH, so a file opens once its plugin is installed.
    """
    with faults_named(f"dataset {name}"):
        plist = dataset.id.get_create_plist()
        codes = [int(plist.get_filter(i)[0]) for i in range(plist.get_nfilters())]
        missing = [code for code in codes if not h5py.h5z.filter_avail(code)]
    if not missing:
        return
    code = missing[0]
    if code == ECF_FILTER_ID:
        raise RecordingError(
            f"{path}: dataset {name} uses Prophesee's ECF codec (HDF5 filter 0x8ECF); install "
            "Prophesee's hdf5_ecf plugin and point HDF5_PLUGIN_PATH at it"
        )
    raise RecordingError(
        f"{path}: dataset {name} uses HDF5 filter {code} (0x{code:X}), which is not available "
        "here; install its plugin and point HDF5_PLUGIN_PATH at it"
    )


def list_datasets(h5file: Any, limit: int) -> list[str]:
    """Names of the first `limit + 1` datasets, in HDF5's visiting order (for error messages)."""
    found: list[str] = []

    def visit(name: str, obj: Any) -> bool | None:
        if isinstance(obj, h5py.Dataset):
            found.append(name)
        return True if len(found) > limit else None

    with faults_named("the file's object index"):
        h5file.visititems(visit)
    return found


def attribute(node: Any, name: str, where: str) -> Any | None:
    """Attribute `name` of `node` (None if absent); `where` names the node for faults."""
    with faults_named(f"attribute {name} of {where}"):
        if name not in node.attrs:
            return None
        return node.attrs[name]


def text_of(value: Any) -> str | None:
    """An attribute as text: str, bytes or a one-element array of either; None otherwise."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.reshape(-1)[0]
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str | np.str_):
        return str(value)
    return None


def integers_of(value: Any) -> tuple[int, ...] | None:
    """An attribute or small dataset as integers: numbers, whole floats, or text like "-54"."""
    text = text_of(value)
    if text is not None:
        try:
            return (int(text.strip()),)
        except ValueError:
            return None
    values = np.asarray(value).reshape(-1)
    if values.dtype.kind in "iu":
        return tuple(int(v) for v in values)
    if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values % 1 == 0):
        return tuple(int(v) for v in values)
    return None
