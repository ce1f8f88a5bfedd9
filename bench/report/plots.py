"""Figures of a run with matplotlib (Agg): metric bars, ROC curves, accuracy by mask area,
qualitative samples and training curves; PNG and PDF into ``RUN_DIR/plots``.

Every method keeps one style in every figure, told apart by marker, line style and hatch as
well as colour so that the figures survive grayscale print.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from PIL import Image  # noqa: E402

from bench.api import BenchError  # noqa: E402
from bench.report.load import REFERENCES, RunResults  # noqa: E402
from bench.report.tables import LABELS, REFERENCE_LABELS, metric_label, method_order, ordered  # noqa: E402

# Okabe-Ito colours (colour-blind safe), then markers, dashes and hatches for grayscale.
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#882255"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
DASHES = ["-", "--", "-.", (0, (1, 1)), (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)), (0, (3, 3)), (0, (2, 1, 5, 1))]
HATCHES = ["//", "\\\\", "xx", "..", "++", "oo", "--", "**"]
REFERENCE_STYLES = {
    "clean": {"color": "black", "marker": "", "linestyle": "-", "hatch": "", "linewidth": 2.2, "face": "white"},
    "masked": {"color": "0.45", "marker": "x", "linestyle": (0, (1, 2)), "hatch": "", "linewidth": 1.8,
               "face": "0.75"},
}
DPI = 150
SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
MIN_TILE, MAX_TILE, GAP = 96, 160, 4  # sample mosaic: tile width bounds and spacing, in pixels
#: File-name prefixes of the figures, one per kind.
PREFIXES = ("bars_", "roc_", "bins_", "samples_", "train_")


@dataclass
class Plot:
    name: str  # file stem inside plots/
    caption: str
    png: bytes
    files: list[Path]


def _tint(color: str, white: float = 0.35) -> tuple[float, float, float]:
    """A lighter shade, so that black hatching stays visible on the bar in grayscale."""
    return tuple((1 - white) * np.array(to_rgb(color)) + white)


def method_styles(methods: list[str]) -> dict[str, dict]:
    """A distinct colour, marker, dash pattern and hatch for each inpainter; fixed styles for references."""
    styles = {}
    inpainters = [m for m in methods if m not in REFERENCES]
    for i, method in enumerate(inpainters):
        k = len(COLORS)
        # Past eight methods the colour repeats, never the (marker, dash, hatch) triple.
        styles[method] = {"color": COLORS[i % k], "marker": MARKERS[i % k], "linestyle": DASHES[(i + i // k) % k],
                          "hatch": HATCHES[(i + 2 * (i // k)) % k], "linewidth": 1.6, "face": _tint(COLORS[i % k])}
    styles.update({m: REFERENCE_STYLES[m] for m in REFERENCES if m in methods})
    return styles


def _label(method: str) -> str:
    return REFERENCE_LABELS.get(method, method)


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-").lower() or "x"


def bar_figure(run: RunResults, dataset: str, styles: dict) -> Figure | None:
    """One panel per image or set metric: a bar per method for each mask style, 95% interval whiskers."""
    frame = run.metrics[(run.metrics["dataset"] == dataset) & (run.metrics["recognizer"] == "")]
    metrics = [m for m in run.info["metrics"] if m in set(frame["metric"])]
    if not metrics:
        return None
    masks, methods = ordered(frame["mask"]), method_order(run, frame)
    panel = float(np.clip(0.16 * len(masks) * len(methods) + 0.6, 3.0, 6.0))  # inches per panel
    ncols = max(1, min(3, len(metrics), int(13 // panel)))
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel * ncols, 2.8 * nrows), squeeze=False)
    width = 0.8 / len(methods)
    for ax, metric in zip(axes.flat, metrics):
        rows = frame[frame["metric"] == metric].set_index(["mask", "method"])
        for j, method in enumerate(methods):
            style = styles[method]
            x = np.arange(len(masks)) + (j - (len(methods) - 1) / 2) * width
            got = [rows.loc[(m, method)] if (m, method) in rows.index else None for m in masks]
            value = np.array([g["value"] if g is not None else np.nan for g in got])
            low = np.array([g["ci_low"] if g is not None else np.nan for g in got])
            high = np.array([g["ci_high"] if g is not None else np.nan for g in got])
            ax.bar(x, value, width, label=_label(method), color=style["face"], hatch=style["hatch"],
                   edgecolor="black", linewidth=0.6)
            has = np.isfinite(low) & np.isfinite(high)
            if has.any():
                ax.errorbar(x[has], value[has], yerr=[value[has] - low[has], high[has] - value[has]], fmt="none",
                            ecolor="black", elinewidth=0.9, capsize=2)
        ax.set_xticks(np.arange(len(masks)), masks, rotation=20 if len(masks) > 4 else 0)
        ax.set_title(metric_label(metric, run), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    fig.suptitle(f"{dataset}: image metrics", fontsize=11)
    _legend(fig, axes.flat[0], len(methods))
    return fig


def _legend(fig: Figure, ax, n_entries: int) -> None:
    """Lay the panels out, then hang one legend for all of them under the figure."""
    fig.tight_layout()
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(n_entries, 4),
               frameon=False, fontsize=9)


def _line(ax, x, y, method: str, styles: dict) -> None:
    s = styles[method]
    # Markers spaced evenly along the drawn line (not by point index) so dense curves stay legible.
    ax.plot(x, y, label=_label(method), color=s["color"], linestyle=s["linestyle"], linewidth=s["linewidth"],
            marker=s["marker"] or None, markevery=0.1, markersize=5, markerfacecolor="white")


def _masks_for(frame: pd.DataFrame) -> list[str]:
    """Mask styles of verification rows; the clean reference (mask "") belongs to each of them."""
    return ordered(frame["mask"]) or [""]


def _of_mask(part: pd.DataFrame, mask: str, method: str) -> pd.DataFrame:
    """Rows of one method for one mask style; the clean faces may be scored once, with mask ""."""
    exact = part[part["mask"] == mask]
    return exact if len(exact) or method != "clean" else part[part["mask"] == ""]


def _power_of_ten(value: float, _position: int) -> str:
    """Log-axis labels such as 10⁻³ in plain text (mathtext labels cost a parse each)."""
    exponent = round(np.log10(value))
    return "1" if exponent == 0 else "10" + str(exponent).translate(SUPERSCRIPTS)


def roc_figure(run: RunResults, dataset: str, recognizer: str, styles: dict) -> Figure | None:
    """ROC per mask style (log FAR axis): one line per method plus the clean and masked references."""
    roc = run.roc
    frame = roc[(roc["dataset"] == dataset) & (roc["recognizer"] == recognizer)]
    if frame.empty:
        return None
    masks, methods = _masks_for(frame), method_order(run, frame)
    ncols = min(4, len(masks))
    nrows = -(-len(masks) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols + 0.4, 3.6 * nrows), squeeze=False, sharey=True)
    positive = frame.loc[frame["fpr"] > 0, "fpr"]
    left = max(10 ** np.floor(np.log10(positive.min())), 1e-4) if len(positive) else 1e-3
    for ax, mask in zip(axes.flat, masks):
        for method in methods:
            curve = _of_mask(frame[frame["method"] == method], mask, method)
            curve = curve[curve["fpr"] > 0].sort_values(["fpr", "tpr"])
            if len(curve):
                _line(ax, curve["fpr"].to_numpy(), 100 * curve["tpr"].to_numpy(), method, styles)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_power_of_ten))
        ax.set_xlim(left, 1)
        ax.set_ylim(0, 101)
        ax.set_title(mask or "all", fontsize=10)
        ax.set_xlabel("false accept rate (FAR)")
        ax.grid(alpha=0.3, linewidth=0.5)
    for ax in list(axes.flat)[len(masks):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("true accept rate (%)")
    fig.suptitle(f"{dataset}: ROC of {recognizer}", fontsize=11)
    _legend(fig, axes[0, 0], len(methods))
    return fig


def bins_figure(run: RunResults, dataset: str, styles: dict, metric: str = "acc") -> Figure | None:
    """Verification accuracy against the fraction of the face hidden, per recognizer and mask style."""
    bins = run.bins
    frame = bins[(bins["dataset"] == dataset) & (bins["metric"] == metric) & (bins["recognizer"] != "")]
    frame = frame[frame["n"] > 0]
    if frame.empty:
        return None
    recognizers = ordered(frame["recognizer"], list(run.info.get("recognizers", {})))
    masks, methods = _masks_for(frame), method_order(run, frame)
    fig, axes = plt.subplots(len(recognizers), len(masks), squeeze=False, sharex=True, sharey=True,
                             figsize=(3.1 * len(masks) + 0.5, 2.6 * len(recognizers) + 0.8))
    edges = frame.drop_duplicates("bin").sort_values("bin")
    for r, recognizer in enumerate(recognizers):
        for c, mask in enumerate(masks):
            ax = axes[r, c]
            for method in methods:
                part = frame[(frame["recognizer"] == recognizer) & (frame["method"] == method)]
                part = _of_mask(part, mask, method).sort_values("bin")
                if len(part):
                    _line(ax, 100 * (part["bin_low"] + part["bin_high"]) / 2, 100 * part["value"], method, styles)
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(mask or "all", fontsize=10)
            if c == 0:
                ax.set_ylabel(f"{recognizer}\n{LABELS.get(metric, metric)} (%)")
            if r == len(recognizers) - 1:
                ax.set_xlabel("face area hidden (%)")
    axes[0, 0].set_xticks(100 * np.append(edges["bin_low"].to_numpy(), edges["bin_high"].iloc[-1]))
    fig.suptitle(f"{dataset}: verification accuracy by hidden area", fontsize=11)
    _legend(fig, axes[0, 0], len(methods))
    return fig


def _read_rgb(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if size is not None and image.size != size:
                image = image.resize(size, Image.LANCZOS)
            return np.asarray(image)
    except OSError as exc:
        raise BenchError(f"{path}: cannot be read as an image ({exc})") from exc


def sample_grid(run: RunResults, mask: str) -> tuple[np.ndarray, list[str], list[str], int]:
    """The example faces of one mask style as one mosaic: rows are faces, columns clean, masked,
    then each inpainter. Returns the uint8 mosaic, column and row labels, and the tile size.
    Tiles have the size of the first image scaled to MIN_TILE..MAX_TILE pixels wide, GAP apart."""
    frame = run.samples[run.samples["mask"].isin([mask, ""])]
    methods = method_order(run, frame)
    methods = [m for m in ("clean", "masked") if m in methods] + [m for m in methods if m not in REFERENCES]
    rows = sorted(set(frame.loc[frame["mask"] == mask, "row"]))
    first = _read_rgb(run.root / "samples" / frame["file"].iloc[0], None)
    height, width = first.shape[:2]
    if not MIN_TILE <= width <= MAX_TILE:
        target = min(max(width, MIN_TILE), MAX_TILE)
        height, width = round(height * target / width), target
    mosaic = np.full((len(rows) * (height + GAP) - GAP, len(methods) * (width + GAP) - GAP, 3), 255, np.uint8)
    labels = []
    for r, row in enumerate(rows):
        faces = frame[frame["row"] == row]
        labels.append(Path(str(faces["face_id"].iloc[0])).stem)
        for c, method in enumerate(methods):
            hit = _of_mask(faces[faces["method"] == method], mask, method)
            y, x = r * (height + GAP), c * (width + GAP)
            if len(hit):
                path = run.root / "samples" / hit["file"].iloc[0]
                mosaic[y:y + height, x:x + width] = _read_rgb(path, (width, height))
            else:
                mosaic[y:y + height, x:x + width] = 230
    return mosaic, [_label(m) for m in methods], labels, width


def samples_figure(run: RunResults, mask: str) -> Figure | None:
    """The mosaic of ``sample_grid`` with method names above and face names to the left."""
    if not (run.samples["mask"] == mask).any():
        return None
    mosaic, columns, rows, width = sample_grid(run, mask)
    tile = 1.15  # inches per face
    scale = tile / (width + GAP)
    fig = plt.figure(figsize=(mosaic.shape[1] * scale, mosaic.shape[0] * scale))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(mosaic, interpolation="antialiased")
    ax.set_axis_off()
    for c, label in enumerate(columns):
        ax.text(c * (width + GAP) + width / 2, -GAP, label.replace(" (", "\n("), ha="center", va="bottom",
                fontsize=8)
    pitch = (mosaic.shape[0] + GAP) / len(rows)  # tile height plus the gap
    for r, label in enumerate(rows):
        ax.text(-GAP, r * pitch + (pitch - GAP) / 2, label, ha="right", va="center", fontsize=7, rotation=90)
    return fig


def train_logs(run: RunResults) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Training logs named by the model cards in run.json ``train_cards``, and why any is missing."""
    logs, problems = {}, []
    for method, card in run.info.get("train_cards", {}).items():
        if not card:
            continue
        card_path = next((p for p in (Path(card), run.root / card, Path.cwd() / card) if p.is_file()), None)
        if card_path is None:
            problems.append(f"training curves of {method}: model card {card} not found")
            continue
        try:
            log_name = json.loads(card_path.read_text(encoding="utf-8")).get("train_log")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
            problems.append(f"training curves of {method}: {card_path} is not a JSON object ({exc})")
            continue
        if not log_name:
            continue
        log_path = card_path.parent / log_name
        try:
            log = pd.read_csv(log_path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            problems.append(f"training curves of {method}: cannot read {log_path} ({exc})")
            continue
        if "step" not in log.columns or len(log.columns) < 2:
            problems.append(f"training curves of {method}: {log_path} needs a 'step' column and loss columns")
            continue
        logs[method] = log
    return logs, problems


def train_figure(method: str, log: pd.DataFrame) -> Figure:
    """One panel per loss column of the trainer's log against the step."""
    losses = [c for c in log.columns if c not in ("step", "time") and pd.api.types.is_numeric_dtype(log[c])]
    ncols = min(3, len(losses))
    nrows = -(-len(losses) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.6 * nrows + 0.3), squeeze=False, sharex=True)
    for i, (ax, loss) in enumerate(zip(axes.flat, losses)):
        color = COLORS[i % len(COLORS)]
        values = log[loss]
        if len(log) > 50:  # raw values faint, a rolling mean over 2% of the log on top
            ax.plot(log["step"], values, color=color, alpha=0.25, linewidth=0.6)
            values = values.rolling(max(2, len(log) // 50), min_periods=1).mean()
        ax.plot(log["step"], values, color=color, linestyle=DASHES[i % len(DASHES)], linewidth=1.3)
        ax.set_title(loss, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(losses):]:
        ax.set_visible(False)
    fig.suptitle(f"Training of {method}", fontsize=10)
    fig.tight_layout()
    return fig


def figures(run: RunResults, logs: dict[str, pd.DataFrame]) -> Iterator[tuple[str, str, Figure]]:
    """Every figure of the run as (file stem, caption, figure), made one at a time."""
    styles = method_styles(method_order(run, pd.concat([run.metrics[["method"]]] + (
        [run.samples[["method"]]] if run.samples is not None else []))))
    for dataset in ordered(run.metrics["dataset"]):
        fig = bar_figure(run, dataset, styles)
        if fig is not None:
            yield f"bars_{slug(dataset)}", f"{dataset}: image metrics per mask style (whiskers: 95% interval).", fig
        if run.roc is not None:
            for recognizer in ordered(run.roc["recognizer"], list(run.info.get("recognizers", {}))):
                fig = roc_figure(run, dataset, recognizer, styles)
                if fig is not None:
                    yield (f"roc_{slug(dataset)}_{slug(recognizer)}",
                           f"{dataset}: ROC curves of {recognizer} (log FAR axis).", fig)
        if run.bins is not None:
            fig = bins_figure(run, dataset, styles)
            if fig is not None:
                yield (f"bins_{slug(dataset)}",
                       f"{dataset}: verification accuracy by the fraction of the face hidden.", fig)
    if run.samples is not None:
        for mask in ordered(run.samples["mask"]):
            fig = samples_figure(run, mask)
            if fig is not None:
                yield f"samples_{slug(mask)}", f"Example faces, {mask} masks: clean, masked and each method.", fig
    for method, log in logs.items():
        yield f"train_{slug(method)}", f"Training curves of {method}.", train_figure(method, log)


def render_plots(run: RunResults, folder: Path | None, logs: dict[str, pd.DataFrame],
                 formats: tuple[str, ...] = ("png", "pdf")) -> list[Plot]:
    """Draw every figure (training curves from ``logs``, see ``train_logs``); write each to
    ``folder`` in ``formats`` when a folder is given."""
    plots = []
    for name, caption, fig in figures(run, logs):
        try:
            # The tight bounding box (legends hang outside the panels) measured once for both formats.
            bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.05)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=DPI, bbox_inches=bbox)
            files = []
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
                for fmt in formats:
                    path = folder / f"{name}.{fmt}"
                    if fmt == "png":
                        path.write_bytes(buffer.getvalue())
                    else:
                        # No creation date: re-rendering an unchanged run leaves the files unchanged.
                        fig.savefig(path, format=fmt, bbox_inches=bbox,
                                    metadata={"CreationDate": None} if fmt == "pdf" else None)
                    files.append(path)
            plots.append(Plot(name, caption, buffer.getvalue(), files))
        finally:
            plt.close(fig)
    return plots
