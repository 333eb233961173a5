"""Just enough ELF64 parsing for the lab: DT_NEEDED, PT_INTERP and the GLIBC_* versions a binary requires.

Used to decide whether a Debian binary from one suite loads on another suite's libc, and to copy a binary's
shared-library closure into a minimal image. Pure Python so CI needs no binutils.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

_PT_INTERP = 3
_PT_DYNAMIC = 2
_PT_LOAD = 1
_DT_NEEDED = 1
_DT_STRTAB = 5
_DT_VERNEED = 0x6FFFFFFE
_DT_VERNEEDNUM = 0x6FFFFFFF


@dataclass
class ElfInfo:
    path: Path
    interp: str | None = None
    needed: list[str] = field(default_factory=list)
    # library soname → version names it requires from it (e.g. {"libc.so.6": {"GLIBC_2.34", ...}})
    verneed: dict[str, set[str]] = field(default_factory=dict)

    @property
    def static(self) -> bool:
        return self.interp is None and not self.needed

    def max_glibc(self) -> tuple[int, ...] | None:
        """Highest GLIBC_x.y version required, e.g. (2, 38); None when the binary needs no versioned libc."""
        best: tuple[int, ...] | None = None
        for names in self.verneed.values():
            for n in names:
                m = re.fullmatch(r"GLIBC_(\d+(?:\.\d+)*)", n)
                if m:
                    v = tuple(int(x) for x in m.group(1).split("."))
                    best = v if best is None or v > best else best
        return best


def is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def read_elf(path: Path) -> ElfInfo:
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not a little-endian ELF64 file")
    e_phoff, e_phentsize, e_phnum = (
        struct.unpack_from("<Q", data, 0x20)[0],
        struct.unpack_from("<H", data, 0x36)[0],
        struct.unpack_from("<H", data, 0x38)[0],
    )
    info = ElfInfo(path=Path(path))
    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
    dynamic: tuple[int, int] | None = None
    for i in range(e_phnum):
        off = e_phoff + i * e_phentsize
        p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from("<IIQQQQ", data, off)
        if p_type == _PT_INTERP:
            info.interp = data[p_offset : p_offset + p_filesz].rstrip(b"\0").decode()
        elif p_type == _PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == _PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return info

    def v2o(vaddr: int) -> int:
        for va, fo, sz in loads:
            if va <= vaddr < va + sz:
                return fo + (vaddr - va)
        raise ValueError(f"{path}: vaddr {vaddr:#x} not in a PT_LOAD segment")

    entries: list[tuple[int, int]] = []
    off, size = dynamic
    for j in range(size // 16):
        tag, val = struct.unpack_from("<qQ", data, off + j * 16)
        if tag == 0:
            break
        entries.append((tag, val))
    strtab = next((v for t, v in entries if t == _DT_STRTAB), None)
    if strtab is None:
        return info
    stroff = v2o(strtab)

    def cstr(o: int) -> str:
        end = data.index(b"\0", stroff + o)
        return data[stroff + o : end].decode()

    info.needed = [cstr(v) for t, v in entries if t == _DT_NEEDED]
    vn = next((v for t, v in entries if t == _DT_VERNEED), None)
    vn_num = next((v for t, v in entries if t == _DT_VERNEEDNUM), 0)
    if vn is not None:
        pos = v2o(vn)
        for _ in range(vn_num):
            _ver, cnt, file_off, aux_off, next_off = struct.unpack_from("<HHIII", data, pos)
            lib = cstr(file_off)
            apos = pos + aux_off
            names = info.verneed.setdefault(lib, set())
            for _k in range(cnt):
                _hash, _flags, _other, name_off, anext = struct.unpack_from("<IHHII", data, apos)
                names.add(cstr(name_off))
                if anext == 0:
                    break
                apos += anext
            if next_off == 0:
                break
            pos += next_off
    return info
