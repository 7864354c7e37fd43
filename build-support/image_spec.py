"""Each container image's Dockerfile and build arguments, read from its docker_image target.

The docker_image targets under docker/ are the one place that says which Dockerfile an image is
built from and with which build arguments (the two services share docker/service/Dockerfile,
parametrised by PROGRAM and PORT). Pants cannot build them here (no Docker engine), so
build-images.sh (buildah) and the release workflow (docker buildx) read them through `pants peek`:

    ./pants peek --filter-target-type=docker_image docker:: >images.json
    python3 build-support/image_spec.py images.json names          # gate dynamics planner, one a line
    python3 build-support/image_spec.py images.json buildah NAME   # -f FILE --build-arg K=V, one a line
    python3 build-support/image_spec.py images.json github NAME    # file= and build-args= for $GITHUB_OUTPUT

An image's name is its target's name; its program's PEX is the pex_binary in docker/NAME/BUILD.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def images(peek: list[dict[str, Any]]) -> dict[str, tuple[str, list[str]]]:
    """name -> (Dockerfile path, ["NAME=VALUE", ...]) for every docker_image in the peek output."""
    result: dict[str, tuple[str, list[str]]] = {}
    for target in peek:
        if target.get("target_type") != "docker_image":
            continue
        name = target["address"].rpartition(":")[2]
        if name in result:
            raise SystemExit(f"two docker_image targets are named {name!r}")
        (dockerfile,) = target["sources"]
        args = list(target.get("extra_build_args") or [])
        for arg in args:
            if "=" not in arg:  # a bare NAME takes its value from the environment: not reproducible
                raise SystemExit(f"{target['address']}: build argument {arg!r} has no value")
        result[name] = (dockerfile, args)
    return result


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in ("names", "buildah", "github"):
        print(__doc__, file=sys.stderr)
        return 2
    table = images(json.loads(Path(argv[0]).read_text()))
    if argv[1] == "names":
        print("\n".join(table))
        return 0
    if len(argv) != 3 or argv[2] not in table:
        print(f"unknown image {argv[2:]}; known: {', '.join(table)}", file=sys.stderr)
        return 2
    dockerfile, args = table[argv[2]]
    if argv[1] == "buildah":
        print("\n".join(["-f", dockerfile, *(x for arg in args for x in ("--build-arg", arg))]))
    else:
        print("\n".join([f"file={dockerfile}", "build-args<<WF_BUILD_ARGS", *args, "WF_BUILD_ARGS"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
