"""A Cylon path as OpenLineage names it (namespace + name) and as an Airflow Asset URI.

OpenLineage's naming spec (spec/Naming.md) and the Airflow providers that follow it
(amazon's S3 and common-io's file converters): an object in S3 is namespace
``s3://{bucket}``, name ``{key}`` (no leading ``/``); a local file is namespace
``file``, name ``{absolute path}``. A glob names the directory it matches in (the
dataset is the set of files, not one pattern), and a directory or prefix loses its
trailing ``/`` so that ``out/`` and ``out`` are one dataset, as for Spark's file sets.
Plain relative paths are made absolute as the workers' reader does (runtime/storage.resolve).
No Airflow import: these are pure functions of the path.
"""
from __future__ import annotations

import os
import posixpath
from typing import NamedTuple
from urllib.parse import urlsplit

_GLOB_CHARS = "*?["


class DatasetName(NamedTuple):
    """An OpenLineage dataset identifier."""

    namespace: str
    name: str


def _without_glob(path: str) -> str:
    cut = min((path.find(c) for c in _GLOB_CHARS if c in path), default=-1)
    if cut < 0:
        return path
    return posixpath.dirname(path[:cut]) or "/"


def dataset_name(path: str) -> DatasetName:
    """The OpenLineage (namespace, name) of an input or destination path.

    :param path: ``s3://bucket/key``, ``file:///abs`` or a plain local path (rendered: no Jinja left).
    :raises ValueError: a scheme other than ``s3`` or ``file`` (the reader refuses those too).
    """
    parts = urlsplit(path)
    if parts.scheme in ("s3", "s3a"):
        key = _without_glob(parts.path).strip("/")
        return DatasetName(f"s3://{parts.netloc}", key or "/")  # the bucket itself: "/" as for a root dir
    if parts.scheme == "file":
        local = parts.path
    elif parts.scheme and len(parts.scheme) > 1:
        raise ValueError(f"no lineage name for scheme {parts.scheme!r} in path {path!r}; expected s3://, file:// "
                         "or a local path")
    else:
        local = path  # a plain (or Windows drive-letter) local path
    absolute = os.path.abspath(_without_glob(local))
    return DatasetName("file", absolute.rstrip("/") or "/")


def asset_uri(path: str) -> str:
    """The Airflow Asset URI of a path: ``s3://bucket/key`` or ``file:///abs/path`` (the same dataset).

    :param path: as for :func:`dataset_name`.
    """
    namespace, name = dataset_name(path)
    if namespace == "file":
        return f"file://{name}"
    return namespace if name == "/" else f"{namespace}/{name}"
