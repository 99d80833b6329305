"""One seaborn theme for the collection, and figures saved with provenance.

``save_figure`` writes ``figures/<name>.png`` (and ``.svg``) with the notebook slug, a hash of the notebook's source
(``notebooks/<slug>.py`` as it was when the figure was drawn), a hash of its parameters and the commit the working
tree was based on in the file metadata (PNG text chunks / SVG Dublin-Core description), then prints the caption line
that sits under the figure in the notebook. The notebook hash identifies the code exactly, also when the figure is
committed together with the notebook edit that produced it (the commit is then the parent of that one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import matplotlib

from hrlkit.provenance import file_hash, git_commit, params_hash, repo_root

PALETTE = "colorblind"
# What every band over seeds in the collection's figures draws (pass **SEEDS_BAND to seaborn), and the caption text
# that says so (band_caption): a caption never claims a median/IQR while the plot draws a mean and a CI.
SEEDS_BAND: dict[str, Any] = {"estimator": "median", "errorbar": ("pi", 50)}
MAX_SVG_BYTES = 150_000  # keep reports lean: an SVG larger than this (dense scatter, many lines) is not kept


def set_theme() -> None:
    """The collection's plotting style (call once in the setup cell)."""
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.95)
    matplotlib.rcParams.update({
        "figure.dpi": 110, "savefig.dpi": 120, "savefig.bbox": "tight",
        "svg.hashsalt": "hrl-repro",  # deterministic SVG element ids
        "axes.titlesize": "medium",
    })


def band_caption(band: Mapping[str, Any] = SEEDS_BAND, over: str = "seeds") -> str:
    """What a seaborn ``estimator``/``errorbar`` pair draws, in words: "median and interquartile range over seeds"."""
    estimator = band.get("estimator", "mean")
    name = estimator if isinstance(estimator, str) else getattr(estimator, "__name__", "estimate")
    kind, level = (band.get("errorbar") or (None, None)) if isinstance(band.get("errorbar"), tuple) \
        else (band.get("errorbar"), None)
    if kind is None:
        interval = "no interval"
    elif kind == "pi" and level == 50:
        interval = "interquartile range (25th–75th percentiles)"
    elif kind == "pi":
        interval = f"{level:g} % percentile interval"
    elif kind == "ci":
        interval = f"{level:g} % bootstrap CI of the {name}"
    elif kind == "se":
        interval = f"± {level:g} standard error"
    elif kind == "sd":
        interval = f"± {level:g} standard deviation"
    else:
        raise ValueError(f"unknown errorbar {band.get('errorbar')!r}")
    return f"{name} and {interval} over {over}"


def provenance(slug: str, params: Mapping[str, Any]) -> dict[str, str]:
    return {"slug": slug, "notebook_sha256": file_hash(repo_root() / "notebooks" / f"{slug}.py"),
            "params_hash": params_hash(params), "git_commit": git_commit()}


def save_figure(fig, name: str, caption: str, *, out_dir: Path, slug: str, params: Mapping[str, Any],
                svg: bool = False) -> Path:
    """Save ``fig`` as PNG (+ SVG) under ``out_dir/figures`` with provenance metadata; print its caption."""
    prov = provenance(slug, params)
    tag = (f"{slug} | notebook sha256 {prov['notebook_sha256']} | params {prov['params_hash']} | "
           f"based on commit {prov['git_commit']}")
    fig_dir = Path(out_dir) / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    png = fig_dir / f"{name}.png"
    fig.savefig(png, metadata={"Title": name, "Description": caption, "Source": tag, "Software": None,
                               **{f"hrl:{k}": v for k, v in prov.items()}})
    if svg:
        svg_path = fig_dir / f"{name}.svg"
        fig.savefig(svg_path, metadata={"Title": name, "Description": f"{caption} [{tag}]", "Date": None,
                                        "Creator": None})
        if svg_path.stat().st_size > MAX_SVG_BYTES:
            svg_path.unlink()
    print(f"Figure {name}: {caption}  [{tag}]")
    return png


def read_png_provenance(path: Path) -> dict[str, str]:
    """The provenance text chunks of a PNG written by :func:`save_figure`."""
    from PIL import Image

    with Image.open(path) as im:
        return {k[4:]: v for k, v in im.text.items() if k.startswith("hrl:")}
