"""Pure renderers: settings + facts → script and config text. Templates live beside this module."""

from __future__ import annotations

import shlex
from functools import lru_cache
from typing import Any

import jinja2

from ..artifacts import ARTIFACTS, ResolvedArtifact
from ..plan import Step
from ..settings.model import Settings


def sh_quote(value: Any) -> str:
    """Quote a value for POSIX sh."""
    return shlex.quote(str(value))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pulumi_kk.render", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["sh"] = sh_quote
    return env


def render(template: str, **values: Any) -> str:
    """Render one template (path relative to ``templates/``)."""
    return environment().get_template(template).render(**values)


def state_dir(settings: Settings) -> str:
    """Where scripts keep what they installed, on each host."""
    return f"{settings.remote_dir.rstrip('/')}/state"


def packaging(art: ResolvedArtifact, settings: Settings) -> str:
    """How to make ``art``'s offline file, with its place under binary_dir (KubeKey's instructions)."""
    kind = ARTIFACTS[art.name]
    path = f"{settings.resolved_binary_dir}/{kind.paths[0].format(v=art.version, arch=art.arch)}"
    return kind.packaging.format(v=art.version, arch=art.arch, path=path)


def image_step(name: str, art: ResolvedArtifact, settings: Settings) -> Step:
    """Make ``art``'s image available to the host's docker: load its tarball (uploaded first when local,
    downloaded when a URL) or pull it; the delete removes the image."""
    return Step(
        name=name, layer=name,
        script=render("common/image-load.sh.j2", step=name, image=art.image, artifact=art,
                      state_dir=state_dir(settings), packaging=packaging(art, settings)),
        delete=render("common/image-remove.sh.j2", step=name, image=art.image),
        uploads=(art,) if art.is_local else (), after=("docker-install",),
        description=f"load {art.image} ({art.arch})")
