"""Where a command writes: the one guard every ``--out`` passes, and the only ways an output
is ever replaced or emptied (DESIGN.md, "Inputs are sacred").

- :func:`guard_output`: an output is never one of the command's inputs, never holds one and
  never lies inside one (``view runs/a --out runs/a --clean`` is refused before anything is
  touched).
- :func:`check_file_output`: an existing file is replaced only with ``--overwrite``, and
  never when it is one of the inputs, with or without it.
- :func:`check_folder_output` / :func:`claim_folder`: a folder a command writes into (a
  viewer site, a report): new, empty, or written before by the same command (its marker
  file says so); ``--clean`` removes only the entries that command writes.
- :func:`staged_output`: a folder built beside ``out`` and renamed into place at the end;
  ``--overwrite`` replaces only a folder the same command wrote (marker), never anything else.
- :func:`staging_folder` / :func:`remove_stale_staging`: temporary folders carry a marker
  with their writer's pid, so the next run removes what a killed run left, and only that.

Example::

    guard_output(Path("site"), [Path("runs/a"), Path("runs/a-judged")])
    check_file_output(Path("ratings.jsonl"), [Path("ratings.sqlite")], overwrite=False)
    with staged_output(Path("out/hub"), kind="export", inputs=[Path("runs/a")]) as tmp:
        ...  # write into tmp; it becomes out/hub only if this block succeeds
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from intersyn.data.journal import _fsync_dir, atomic_write_text
from intersyn.errors import DatasetError, InputError

#: The file that says "this folder was written by ``intersyn <kind>``" (JSON: {"kind": ...}).
MARKER = ".intersyn-output"
#: The file inside a temporary folder that names its writer (JSON: {"pid", "host"}).
STAGING_MARKER = ".intersyn-staging"

PathLike = str | os.PathLike[str]


def _resolved(p: PathLike) -> Path | None:
    text = os.fspath(p)
    if "://" in text:  # an fsspec URL: no local path to compare
        return None
    return Path(text).expanduser().resolve()


def _inside(child: Path, parent: Path) -> bool:
    return child != parent and parent in child.parents


def guard_output(out: PathLike, inputs: Iterable[PathLike | None], *, flag: str = "--out") -> None:
    """Refuse an output that is, contains, or lies inside one of ``inputs``.

    Paths are compared resolved (``./a``, ``a/../a`` and symlinks are the same place).
    InputError says which input, and that nothing was written.
    """
    target = _resolved(out)
    if target is None:
        return
    for raw in inputs:
        if raw is None:
            continue
        source = _resolved(raw)
        if source is None:
            continue
        if target == source:
            how = "is"
        elif _inside(source, target):
            how = "contains"
        elif _inside(target, source):
            how = "lies inside"
        else:
            continue
        raise InputError(
            f"{flag} {out} {how} the input {raw}: a command never writes over, around or into "
            "its own input. Choose an output outside it; nothing was written."
        )


def check_file_output(
    out: PathLike,
    inputs: Iterable[PathLike | None] = (),
    *,
    overwrite: bool = False,
    flag: str = "--out",
) -> None:
    """Refuse a file output that is an input (or lies inside one), is a folder, or already
    exists without ``overwrite``."""
    guard_output(out, inputs, flag=flag)
    p = Path(out)
    if p.is_dir():
        raise InputError(f"{flag} {out} is a folder; give a file name")
    if p.exists() and not overwrite:
        raise InputError(
            f"{flag} {out} already exists; choose another file or pass --overwrite to replace it"
        )


def read_marker(folder: Path) -> str | None:
    """The command that wrote ``folder`` (its marker's kind), or None when unmarked."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


def write_marker(folder: Path, kind: str) -> None:
    atomic_write_text(folder / MARKER, json.dumps({"kind": kind}) + "\n")


def check_folder_output(
    out: PathLike,
    kind: str,
    *,
    inputs: Iterable[PathLike | None] = (),
    flag: str = "--out",
) -> Path:
    """Refuse, before anything is written, a folder ``intersyn <kind>`` may not write into:
    one that is, holds or lies inside an input; a file; a folder that holds anything and was
    not written by ``intersyn <kind>`` (its marker says so)."""
    guard_output(out, inputs, flag=flag)
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise InputError(f"{flag} {out} is a file; give a folder")
    if p.is_dir() and any(p.iterdir()):
        found = read_marker(p)
        if found != kind:
            what = f"the output of `intersyn {found}`" if found else "files intersyn did not write"
            raise InputError(
                f"{flag} {out} holds {what}; `intersyn {kind}` writes only into a new or empty "
                f"folder or one it wrote before. Choose another folder; nothing was changed."
            )
    return p


def claim_folder(
    out: PathLike,
    kind: str,
    *,
    inputs: Iterable[PathLike | None] = (),
    clean: bool = False,
    owned: Iterable[str] = (),
    flag: str = "--out",
) -> Path:
    """Make ``out`` the output folder of ``intersyn <kind>`` (checked as in
    :func:`check_folder_output`, then created and marked) and return it.

    ``clean`` removes the top-level entries named in ``owned`` (what the command writes) and
    nothing else.
    """
    p = check_folder_output(out, kind, inputs=inputs, flag=flag)
    if clean and p.is_dir():
        for name in owned:
            entry = p / name
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif entry.exists() or entry.is_symlink():
                entry.unlink()
    p.mkdir(parents=True, exist_ok=True)
    write_marker(p, kind)
    return p


# -- temporary folders -----------------------------------------------------------------------
def staging_folder(path: Path) -> Path:
    """Create the temporary folder ``path`` with a marker naming this process."""
    path.mkdir(parents=True)
    info = {"pid": os.getpid(), "host": socket.gethostname()}
    (path / STAGING_MARKER).write_text(json.dumps(info), encoding="utf-8")
    return path


def release_staging(path: Path) -> None:
    """Drop the marker before the folder is renamed into place."""
    (path / STAGING_MARKER).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale_staging(path: Path) -> bool:
    """True for a temporary folder whose writer (on this host) is gone."""
    try:
        info = json.loads((path / STAGING_MARKER).read_text(encoding="utf-8"))
        pid, host = int(info["pid"]), str(info["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return False  # no marker of ours: not ours to remove
    return host == socket.gethostname() and not _alive(pid)


def remove_stale_staging(parent: Path, pattern: str) -> list[Path]:
    """Remove the folders matching ``pattern`` in ``parent`` that a killed run of ours left
    (their marker names a process of this host that is gone); returns what was removed."""
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for path in sorted(parent.glob(pattern)):
        if path.is_dir() and not path.is_symlink() and is_stale_staging(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextmanager
def staged_output(
    out: Path,
    *,
    overwrite: bool = False,
    kind: str | None = None,
    inputs: Iterable[PathLike | None] = (),
) -> Iterator[Path]:
    """A temporary folder beside ``out`` that becomes ``out`` only when the block succeeds.

    Refused first: an ``out`` that is, holds or lies inside an input; an existing ``out``
    without ``overwrite``; with it, an ``out`` that ``intersyn <kind>`` did not write (its
    marker says so). On failure the temporary folder is removed and ``out`` is as it was.
    """
    out = Path(out)
    guard_output(out, inputs)
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise DatasetError(
                f"{out} already exists; choose another output or pass --overwrite to replace it"
            )
        if kind is not None and (not out.is_dir() or read_marker(out) != kind):
            raise DatasetError(
                f"{out} was not written by `intersyn {kind}`, so --overwrite does not replace "
                "it (it replaces only an earlier output of the same command). Choose another "
                "output, or remove it yourself; nothing was changed."
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out.parent, f".{out.name}.tmp-*")
    tmp = staging_folder(out.with_name(f".{out.name}.tmp-{secrets.token_hex(4)}"))
    try:
        yield tmp
        release_staging(tmp)
        if kind is not None:
            write_marker(tmp, kind)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    swap_in(tmp, out)


def swap_in(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; what ``target`` was is renamed aside first (so a reader
    sees the old or the new, never a mix) and then removed."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
        os.replace(target, old)
    os.replace(new, target)
    _fsync_dir(target.parent)
    if old is not None:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()
