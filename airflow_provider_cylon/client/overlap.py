"""Refuse a job whose destination is one of its sources, or inside or around one, or holds
files that are not ours to replace (unless ``if_exists`` says to leave them).

A publish replaces what the destination held; a job that read its own destination
(or a prefix holding it) would delete its input. Paths are compared as places, not
as text: ``file:///data/x``, ``/data/./x/`` and a symlink to it are one place; a
glob is its directory before the first wildcard.
"""
from __future__ import annotations

import os
import posixpath
from urllib.parse import urlsplit

from airflow_provider_cylon.runtime import storage
from airflow_provider_cylon.runtime.errors import SpecError
from airflow_provider_cylon.runtime.spec import JobSpec

_GLOB_CHARS = "*?["


def place(path: str) -> tuple[str, str]:
    """(``s3`` or ``local``, the normalised location) of a user path."""
    cut = min((path.index(ch) for ch in _GLOB_CHARS if ch in path), default=len(path))
    if cut < len(path):  # a glob reads below its directory
        path = path[:cut].rsplit("/", 1)[0] or "/"
    parts = urlsplit(path)
    if parts.scheme == "s3":
        return "s3", posixpath.normpath(f"/{parts.netloc}/{parts.path.lstrip('/')}").lstrip("/")
    local = parts.path if parts.scheme == "file" else path
    return "local", os.path.realpath(os.path.abspath(local))


def _inside(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def check_destination(spec: JobSpec) -> None:
    """Raise :class:`SpecError` when the destination overlaps an input (before any worker starts).

    :param spec: the job.
    """
    kind, dest = place(spec.output.destination)
    for i, inp in enumerate(spec.inputs):
        src_kind, src = place(inp.path)
        if src_kind != kind:
            continue
        if _inside(dest, src) or _inside(src, dest):
            relation = ("is" if dest == src else "is inside" if _inside(dest, src) else "holds")
            raise SpecError("output.destination",
                            f"destination {spec.output.destination!r} {relation} input {inp.name!r} "
                            f"({inp.path!r}); publishing would replace what the job reads. Write to a "
                            "destination outside every input")
    if spec.output.if_exists == "overwrite":
        _, others = storage.our_previous_output(spec.output.destination, spec.storage)
        if others:
            raise SpecError("output.destination", storage.foreign_files_message(spec.output.destination, others))
