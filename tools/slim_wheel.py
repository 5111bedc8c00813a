"""Drop a wheel's members that match the given patterns (and their RECORD lines), in place.

`make gpu-wheels` keeps bitsandbytes' CUDA 13 libraries only (the GPU machine's torch is a CUDA 13 build), which
shrinks its wheel from 41 MiB to a few, so the wheels and the working tree travel under the 64 MiB limit.

Usage: python tools/slim_wheel.py WHEEL PATTERN...
"""

from __future__ import annotations

import fnmatch
import os
import sys
import zipfile


def slim(wheel: str, patterns: list[str]) -> int:
    """Rewrite ``wheel`` without the members matching ``patterns``; return how many were dropped."""
    def dropped(name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)

    temporary = wheel + ".part"
    count = 0
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if dropped(info.filename):
                count += 1
                continue
            data = source.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                lines = data.decode().splitlines(keepends=True)
                data = "".join(line for line in lines if not dropped(line.split(",", 1)[0])).encode()
            target.writestr(info, data)
    os.replace(temporary, wheel)
    return count


if __name__ == "__main__":
    print(f"{sys.argv[1]}: {slim(sys.argv[1], sys.argv[2:])} members dropped")
