"""Pseudopotential files: which file each element uses, and whether that file can serve it.

pw.x takes any UPF file for any species label: Si mapped to ``Al.pz-vbc.UPF`` runs and returns
a label 408 eV off. So every file is opened before a run and its header is read for the element
and the valence charge:

- UPF v2 (``<UPF version="2.0.1">``): the ``element`` and ``z_valence`` attributes of
  ``<PP_HEADER .../>``;
- UPF v1: the ``<PP_HEADER>`` block, whose second line holds the element and another line
  ends in ``Z valence``.

A file whose header cannot be read, or which is cut short (no closing ``</UPF>``, or for v1
no ``</PP_RHOATOM>``), is refused. pw.x would otherwise stop with a Fortran runtime error.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms
from ase.data import chemical_symbols

from pyacemaker_fw.config import EspressoConfig

_V2_HEADER = re.compile(r"<PP_HEADER\b(.*?)/?>", re.DOTALL)
_ATTRIBUTE = re.compile(r"([A-Za-z_]\w*)\s*=\s*([\"'])(.*?)\2", re.DOTALL)
_V1_HEADER = re.compile(r"<PP_HEADER>(.*?)</PP_HEADER>", re.DOTALL)
_V2_END = "</UPF>"
_V1_END = "</PP_RHOATOM>"


class PseudopotentialError(ValueError):
    """An element of the structure has no usable pseudopotential."""


@dataclass(frozen=True)
class UpfHeader:
    """What a UPF file says about itself."""

    element: str
    z_valence: float
    version: int


def _fortran_float(text: str) -> float:
    return float(text.strip().replace("D", "E").replace("d", "e"))


def _element(raw: str, path: Path) -> str:
    symbol = raw.strip().capitalize()
    if symbol not in chemical_symbols[1:]:
        raise PseudopotentialError(f"{path} names element {raw.strip()!r}, which is not one")
    return symbol


def _v2_header(text: str, path: Path) -> UpfHeader:
    match = _V2_HEADER.search(text)
    if match is None:
        raise PseudopotentialError(f"{path} has no <PP_HEADER>: the file is cut short or damaged")
    attributes = {name.lower(): value for name, _, value in _ATTRIBUTE.findall(match.group(1))}
    if "element" not in attributes or "z_valence" not in attributes:
        raise PseudopotentialError(f"{path}: <PP_HEADER> lacks element= or z_valence=")
    if _V2_END not in text[-1024:]:
        raise PseudopotentialError(f"{path} is cut short: it does not end with {_V2_END}")
    return UpfHeader(
        _element(attributes["element"], path), _fortran_float(attributes["z_valence"]), 2
    )


def _v1_header(text: str, path: Path) -> UpfHeader:
    match = _V1_HEADER.search(text)
    if match is None:
        raise PseudopotentialError(
            f"{path} has no <PP_HEADER> block: it is cut short, damaged or not a UPF file"
        )
    lines = [line.split() for line in match.group(1).strip().splitlines()]
    valence = [words[0] for words in lines if words and " ".join(words[1:3]) == "Z valence"]
    if len(lines) < 2 or not lines[1] or not valence:
        raise PseudopotentialError(f"{path}: the UPF v1 <PP_HEADER> has no element or Z valence")
    if _V1_END not in text:
        raise PseudopotentialError(f"{path} is cut short: it has no {_V1_END}")
    return UpfHeader(_element(lines[1][0], path), _fortran_float(valence[0]), 1)


@functools.lru_cache(maxsize=64)
def _cached_header(path: Path, modified_ns: int, size: int) -> UpfHeader:
    del modified_ns, size  # only part of the cache key: a changed file is read again
    text = path.read_text(errors="replace")
    if "<UPF version" in text[:4096]:
        return _v2_header(text, path)
    return _v1_header(text, path)


def read_upf_header(path: Path) -> UpfHeader:
    """The element and valence charge of a UPF file (v1 or v2), or a clear refusal."""
    path = Path(path)
    try:
        status = path.stat()
    except OSError as error:
        raise PseudopotentialError(f"cannot read pseudopotential {path}: {error}") from error
    return _cached_header(path.resolve(), status.st_mtime_ns, status.st_size)


def pseudopotentials_for(atoms: Atoms, config: EspressoConfig) -> dict[str, str]:
    """The UPF file of every element in ``atoms``, each checked to exist and to be for that
    element; otherwise an error naming the element and the file."""
    symbols = sorted(set(atoms.get_chemical_symbols()))
    missing = [symbol for symbol in symbols if symbol not in config.pseudopotentials]
    if missing:
        raise PseudopotentialError(
            f"no pseudopotential for {missing} in oracle.qe.pseudopotentials "
            f"(has {sorted(config.pseudopotentials)})"
        )
    files = {symbol: config.pseudopotentials[symbol] for symbol in symbols}
    absent = [name for name in files.values() if not (config.pseudo_dir / name).is_file()]
    if absent:
        raise PseudopotentialError(f"pseudopotential files {absent} are not in {config.pseudo_dir}")
    for symbol, name in files.items():
        header = read_upf_header(config.pseudo_dir / name)
        if header.element != symbol:
            raise PseudopotentialError(
                f"oracle.qe.pseudopotentials maps {symbol} to {name}, which is a pseudopotential "
                f"for {header.element} (its <PP_HEADER> says so)"
            )
    return files


def valence_electrons(atoms: Atoms, config: EspressoConfig) -> float:
    """The number of valence electrons pw.x will see: the sum of each file's Z valence."""
    charges = {
        symbol: read_upf_header(config.pseudo_dir / name).z_valence
        for symbol, name in pseudopotentials_for(atoms, config).items()
    }
    return float(sum(charges[symbol] for symbol in atoms.get_chemical_symbols()))
