#!/usr/bin/env python
"""Write the results pages, ``docs/results/<paper or topic>.md``, from the measured results
(``benchmarks/results/*.json``) and the papers' published numbers
(``benchmarks/reference_numbers.json``): ours beside the paper's, with the recipe and budget
(steps, minutes, command) each result file records, and links to the figures beside the JSONs.

  python benchmarks/results_pages.py            # regenerate docs/results/*.md
  python benchmarks/results_pages.py --check    # exit 1 (and name them) if a page is stale

A page whose result file is missing is not written.  The pages are generated: edit this file
(or re-run a benchmark), not the pages; ``tests/test_results_pages.py`` fails when a committed
page differs from what this writes.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from _bench import REFERENCE_FILE, RESULTS, ROOT
from latency import METHOD_LABELS

EXPORTED = ROOT / "exported_models"
DOCS = ROOT / "docs" / "results"
COMMAND = "python benchmarks/results_pages.py"
PROTOCOL = ("`tools/evaluate.py` protocol: clean image quantized to 8 bit, noise drawn with seed 0 per "
            "image, noisy input not clipped, output clipped to [0, 1], PSNR (dB) / SSIM on 8-bit images")


# --------------------------------------------------------------------------------------------
# Formatting


def num(value, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, ``-`` for a missing one."""
    return "-" if value is None else f"{value:.{digits}f}"


def signed(value, digits: int = 2) -> str:
    """``value`` with its sign (``0.00`` when it rounds to zero), ``-`` for a missing one."""
    if value is None:
        return "-"
    text = f"{value:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def sentence(text: str) -> str:
    """``text`` with a capital first letter (result files hold phrases)."""
    return text[:1].upper() + text[1:]


def pair(psnr, ssim) -> str:
    """``PSNR / SSIM`` (2 and 3 decimals)."""
    if psnr is None:
        return "-"
    return num(psnr) if ssim is None else f"{psnr:.2f} / {ssim:.3f}"


def table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def noise_label(spec: str) -> str:
    """``gaussian:sigma=25`` -> ``Gaussian sigma 25`` (other specs as they are)."""
    for prefix, label in (("gaussian:sigma=", "Gaussian sigma "), ("poisson:peak=", "Poisson peak "),
                          ("jpeg:quality=", "JPEG quality ")):
        if re.fullmatch(re.escape(prefix) + r"[\d.]+", spec):
            return label + spec[len(prefix):]
    return spec


def noise_order(spec: str):
    """Sort key of noise specs: Gaussian, then Poisson, then the rest, each by its level."""
    kinds = ("gaussian:sigma=", "poisson:peak=", "jpeg:quality=")
    for rank, prefix in enumerate(kinds):
        if re.fullmatch(re.escape(prefix) + r"[\d.]+", spec):
            return rank, float(spec[len(prefix):]), spec
    return len(kinds), 0.0, spec


def same_number(a, b) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


def lookup(by_level: dict, level):
    """``by_level[level]`` where the keys are numbers written as strings (``"25.5"``)."""
    return next((value for key, value in by_level.items() if same_number(key, level)), None)


# --------------------------------------------------------------------------------------------
# The inputs of a page


class Sources:
    """The results folder, the reference numbers and where the pages go (for relative links)."""

    def __init__(self, results=RESULTS, reference=REFERENCE_FILE, out=DOCS, exported=EXPORTED):
        self.results, self.out, self.exported = Path(results), Path(out), Path(exported)
        self.reference = json.loads(Path(reference).read_text())
        self.reference_path = Path(reference)

    def load(self, name: str):
        path = self.results / name
        return json.loads(path.read_text()) if path.exists() else None

    def link(self, path) -> str:
        return Path(os.path.relpath(Path(path), self.out)).as_posix()

    def result_link(self, name: str) -> str:
        return f"[`{name}`]({self.link(self.results / name)})"

    def figures(self, *names: str) -> list[str]:
        """Markdown images of the PNGs present among ``names``."""
        lines = [f"![{name}]({self.link(self.results / name)})" for name in names
                 if (self.results / name).exists()]
        return lines + [""] if lines else []

    def published(self, name: str, noise: str):
        """The published PSNR of ``name`` (``denoising`` section) for the noise spec ``noise``."""
        entry = self.reference["denoising"].get(name)
        if entry is None:
            return None
        prefix = entry.get("degradation", "gaussian:sigma={level}").split("{level}")[0]
        return lookup(entry["psnr"], noise[len(prefix):]) if noise.startswith(prefix) else None

    def header(self, title: str, sources: list[str], command: str | None) -> list[str]:
        lines = [f"# {title}", "",
                 f"<!-- Generated by `{COMMAND}` from {', '.join(sources)} and "
                 "benchmarks/reference_numbers.json: do not edit. -->", ""]
        if command:
            lines += [f"Measured by `{command}`; data: "
                      + ", ".join(self.result_link(name) for name in sources) + ".", ""]
        return lines


# --------------------------------------------------------------------------------------------
# Pages


def page_dncnn(src: Sources):
    data = src.load("dncnn_reproduction.json")
    if data is None:
        return None
    lines = src.header("DnCNN and BM3D with the official weights: the protocol check",
                       ["dncnn_reproduction.json"], "bash benchmarks/dncnn_reproduction.sh")
    lines += [f"Published numbers: {data.get('published_source', 'the DnCNN paper')}. {PROTOCOL}. "
              "Each row is one `tools/evaluate.py` run of the official MatConvNet weights (or the `bm3d` "
              "package); its full report, per image, is in "
              f"[`dncnn_reproduction/`]({src.link(src.results / 'dncnn_reproduction')}).", ""]
    rows = []
    for run in data["runs"].values():
        name = run["model"].split(" (")[0]
        paper = src.published(name, run["noise"])
        rows.append([run["model"], f"{run['dataset']} {run['color']}", noise_label(run["noise"]),
                     num(paper), num(run["psnr"]), signed(None if paper is None else run["psnr"] - paper),
                     num(run["ssim"], 4), run["n_images"], num(run.get("seconds_per_image"))])
    lines += table(["model", "test set", "noise", "paper", "ours", "ours - paper", "SSIM", "images",
                    "s / image"], rows)
    lines += ["Published numbers the other pages compare with (PSNR dB):", ""]
    rows = [[name, entry["set"], entry["color"], entry.get("degradation", "gaussian:sigma={level}"),
             ", ".join(f"{level}: {psnr:.2f}" for level, psnr in entry["psnr"].items())]
            for name, entry in src.reference["denoising"].items()]
    lines += table(["method", "set", "color", "degradation", "PSNR by level"], rows)
    return lines


def dnresnet_series(row: dict):
    """The published series a row of ``dnresnet.json`` stands beside: a key of the reference's
    ``dnresnet.psnr`` (``None`` for the depth and JPEG tables and the rows with no paper number)."""
    label = row["model"]
    if row["table"] not in ("2", "3") or "edge" in label:
        return None
    if label.startswith("DS-DN"):
        return "DS-DN-ResNet-13 blind one-shot" if "one-shot" in label else "DS-DN-ResNet-13 blind"
    return "DN-ResNet-13 non-blind" if "non-blind" in label else "DN-ResNet-13 blind"


def dnresnet_paper(src: Sources, row: dict):
    """The paper's number for a row of ``dnresnet.json`` (reference_numbers.json), or ``None``."""
    paper, label = src.reference["dnresnet"], row["model"]
    if row["table"] == "1":
        depth = re.match(r"DN-ResNet-(\d+)", label).group(1)
        key = f"{depth}-oneshot" if "one-shot" in label else depth
        return paper["depth_gaussian_sigma25"]["psnr"].get(key) if row["noise"] == "gaussian:sigma=25" else None
    if row["table"] == "jpeg":
        return src.published("DnCNN-3", row["noise"]) if row["training"] != "-" else None
    series = dnresnet_series(row)
    return paper["psnr"].get(series, {}).get(row["noise"]) if series else None


def _budget(row) -> str:
    if row.get("steps") is None:
        return "-"
    return f"{row['steps']} steps, {num(row.get('minutes'), 1)} min"


def page_dnresnet(src: Sources):
    data = src.load("dnresnet.json")
    if data is None:
        return None
    paper = src.reference["dnresnet"]
    rows = data["rows"]
    lines = src.header("DN-ResNet / DS-DN-ResNet (paper 3): a reduced-budget reproduction",
                       ["dnresnet.json"], data.get("command"))
    lines += [f"Ours: {data.get('protocol', PROTOCOL)}. Budget: {data.get('budget', '-')}; each row names "
              "its training preset (`python tools/train.py --config <preset>`, all of them: "
              "`bash benchmarks/dnresnet_train.sh`) with its steps and minutes. "
              f"Paper: {paper['source']}, {paper['set']} ({paper['color']}), {paper['training']}: "
              "another test set and budget, the target shape rather than the same measurement.", ""]
    depth = [r for r in rows if r["table"] in ("1", "1-long")]
    if depth:
        lines += ["## Table 1 analogue: depth, Gaussian sigma 25", ""]
        lines += table(["network", "training", "budget", "ours: PSNR / SSIM", "paper (non-blind)"],
                       [[r["model"], f"`{r['training']}`", _budget(r), pair(r["psnr"], r["ssim"]),
                         num(dnresnet_paper(src, r))] for r in depth])
    for number, title in (("2", "Table 2 analogue: blind and non-blind DN-ResNet-13, MSE and edge-aware losses"),
                          ("3", "Table 3 analogue: DS-DN-ResNet-13")):
        part = [r for r in rows if r["table"] == number]
        if not part:
            continue
        noises = sorted({r["noise"] for r in part}, key=noise_order)
        groups = {}
        for r in part:
            groups.setdefault(r["model"], []).append(r)
        body = [["noisy input", "", *[num(next(r["psnr_input"] for r in part if r["noise"] == n)) for n in noises]]]
        papers = {}
        for model, group in groups.items():
            by_noise = {r["noise"]: r for r in group}
            runs = {r["training"]: _budget(r) for r in group}
            body.append([model, "; ".join(f"`{run}`, {budget}" for run, budget in runs.items()),
                         *[pair(by_noise[n]["psnr"], by_noise[n]["ssim"]) if n in by_noise else "-"
                           for n in noises]])
            for r in group:
                if dnresnet_paper(src, r) is not None:
                    papers.setdefault(dnresnet_series(r), {})[r["noise"]] = dnresnet_paper(src, r)
        for series, by_noise in papers.items():
            body.append([f"paper: {series}", paper["set"], *[num(by_noise.get(n)) for n in noises]])
        lines += [f"## {title}", "", "PSNR (dB) / SSIM on BSD68 gray:", ""]
        lines += table(["model", "training, budget", *[noise_label(n) for n in noises]], body)
    jpeg = [r for r in rows if r["table"] == "jpeg"]
    if jpeg:
        lines += ["## JPEG deblocking, LIVE1 Y", ""]
        lines += table(["model", "training", "budget", "quality", "ours: PSNR / SSIM", "DnCNN-3 (published)"],
                       [[r["model"], f"`{r['training']}`", _budget(r), noise_label(r["noise"]),
                         pair(r["psnr"], r["ssim"]), num(dnresnet_paper(src, r))] for r in jpeg])
    lines += src.figures("dnresnet_depth.png", "dnresnet_noise.png")
    return lines


def page_resunet(src: Sources):
    data = src.load("resunet.json")
    if data is None:
        return None
    paper = src.reference["resunet"]
    labels = {"input": "input", "unet": "UNet", "resunet": "ResUNet", "resunet-lper": "ResUNet + L_per"}
    lines = src.header("ResUNet with a perceptual loss (paper 1): a reduced-budget reproduction",
                       ["resunet.json"], data.get("command"))
    lines += [f"Ours: {data.get('label', '-')}. Data: {data.get('data', '-')}. L_per: "
              f"{data.get('perceptual_loss', '-')}. Paper: {paper['source']}; {paper['set']}, "
              f"{paper['training']}.", ""]
    if data.get("not_run"):
        lines += ["Not run yet: " + ", ".join(f"`{name}`" for name in data["not_run"]) + ".", ""]
    rows = data["rows"]
    for task, title in (("denoise", "Table 1: denoise"), ("deblur", "Table 2: deblur + denoise")):
        part = [r for r in rows if r["task"] == task]
        if not part:
            continue
        sigmas = sorted({r["sigma"] for r in part})
        header, body = ["sigma (0-255)", "input"], []
        for model in ("unet", "resunet", "resunet-lper"):
            header += [f"{labels[model]} ours", f"{labels[model]} paper"]
        for sigma in sigmas:
            at = {r["model"]: r for r in part if r["sigma"] == sigma}
            cells = [f"{sigma:g}", pair(at["input"]["psnr"], at["input"]["ssim"]) if "input" in at else "-"]
            for model in ("unet", "resunet", "resunet-lper"):
                cells += [pair(at[model]["psnr"], at[model]["ssim"]) if model in at else "-",
                          num(lookup(paper["psnr"][task].get(model, {}), sigma))]
            body.append(cells)
        lines += [f"## {title}", "", f"PSNR (dB) / SSIM; ours on CBSD68 RGB, the paper on {paper['set']}:", ""]
        lines += table(header, body)
        trained = [r for r in part if "steps" in r]
        if trained:
            lines += ["Budget of each run (steps, minutes):", ""]
            body = [[labels[model], *[next((f"{r['steps']}, {num(r['minutes'], 1)}" for r in trained
                                           if r["model"] == model and r["sigma"] == sigma), "-")
                                      for sigma in sigmas]]
                    for model in ("unet", "resunet", "resunet-lper") if any(r["model"] == model for r in trained)]
            lines += table(["model", *[f"sigma {sigma:g}" for sigma in sigmas]], body)
    edges = {k: v for k, v in data.get("edges_sigma25.5", {}).items() if k != "what"}
    if edges:
        lines += ["## Edges at sigma 25.5", "", sentence(data["edges_sigma25.5"].get("what", "")) + ".", ""]
        body = [[task, labels.get(model, model), num(m["gradient_magnitude_ratio"], 3),
                 num(m["high_frequency_energy_ratio"], 3), num(m.get("ssim"), 3)]
                for task, by_model in edges.items() for model, m in by_model.items()]
        lines += table(["task", "model", "gradient-magnitude ratio", "high-frequency energy ratio", "SSIM"], body)
    longer = data.get("longer_budgets_sigma25.5", [])
    if any(block["rows"] for block in longer):
        lines += ["## Longer equal budgets, sigma 25.5", ""]
        body = []
        for block in longer:
            for task in dict.fromkeys(r["task"] for r in block["rows"]):
                at = {r["model"]: r for r in block["rows"] if r["task"] == task}
                gap = at["resunet"]["psnr"] - at["unet"]["psnr"] if {"unet", "resunet"} <= set(at) else None
                body.append([task, block["steps"],
                             *[f"{pair(at[m]['psnr'], at[m]['ssim'])} ({num(at[m]['minutes'], 1)} min)"
                               if m in at else "-" for m in ("unet", "resunet")],
                             signed(gap),
                             " / ".join(num(lookup(paper["psnr"][task][m], 25.5)) for m in ("unet", "resunet"))])
        lines += table(["task", "steps", "UNet ours", "ResUNet ours", "ResUNet - UNet", "paper UNet / ResUNet"], body)
    targets = data.get("targets", [])
    if targets:
        lines += ["## Targets", ""]
        body = [[t["task"], t["target"], "met" if t["met"] else "**missed**",
                 signed(t["margin_db"]) + " dB" if "margin_db" in t else signed(t.get("margin"), 4),
                 signed(t.get("paper_margin_db")) + " dB" if "paper_margin_db" in t else "-"] for t in targets]
        lines += table(["task", "target", "", "ours", "paper"], body)
    lines += src.figures("resunet_sigma.png", "resunet_visual.png")
    return lines


def page_idgan(src: Sources):
    data = src.load("idgan.json")
    if data is None:
        return None
    paper = src.reference["idgan"]
    lines = src.header("IDResNet / IDGAN (paper 2): a reduced-budget reproduction", ["idgan.json"],
                       data.get("command"))
    lines += [f"Preset `{data.get('preset', '-')}`; budget: {data.get('budget', '-')}. Training data: "
              f"{data.get('training', '-')}. Content loss: {data.get('content_loss', '-')}. "
              f"Protocol: {data.get('protocol', PROTOCOL)}.", "", f"Detail measures: {data.get('detail_measure', '-')}", ""]
    measured = [r for r in data["rows"] if r["table"].startswith("measured")]
    noise = measured[0]["noise"] if measured else "gaussian:sigma=25"
    body = [[r["model"], r["dataset"], _budget(r), pair(r["psnr"], r["ssim"]), num(r.get("gradient_ratio"), 3),
             num(r.get("hf_energy_ratio"), 3)] for r in measured]
    for name, label in (("CBM3D", "CBM3D (published)"), ("CDnCNN-B", "CDnCNN-B (published)")):
        value = src.published(name, noise)
        if value is not None:
            body.append([label, src.reference["denoising"][name]["set"], "-", num(value), "-", "-"])
    lines += [f"## Table 1 analogue: {noise_label(noise)}, CBSD68 RGB", ""]
    lines += table(["model", "images", "budget", "PSNR / SSIM", "gradient ratio", "HF energy ratio"], body)
    lines += [f"## The paper's Table 1 ({paper['set']}: another test set; {paper['training']['steps']} steps, "
              f"{paper['training']['network']}, {paper['training']['data']})", ""]
    models = list(dict.fromkeys(m for row in paper["psnr"].values() for m in row))
    lines += table(["sigma", *models], [[sigma, *[num(row.get(m)) for m in models]]
                                        for sigma, row in paper["psnr"].items()])
    notes = [r for r in measured if r.get("note")]
    if notes:
        lines += [f"Note: {notes[0]['note']}.", ""]
    lines += src.figures("idgan_curves.png", "idgan_visual.png")
    return lines


def page_gated(src: Sources):
    data = src.load("gated.json")
    if data is None:
        return None
    paper = src.reference["gated"]
    summary = data.get("summary", {})
    lines = src.header("Gated conv-deconv (paper 4): a reduced-budget reproduction", ["gated.json"],
                       data.get("command"))
    lines += [f"{sentence(data.get('budget', '-'))}. Paper: {paper['source']}; its numbers are {paper['note']}.", ""]
    denoisers = data.get("denoisers", [])
    if denoisers:
        first = denoisers[0]
        lines += ["## Fig. 6 analogue: with and without gated connections", "",
                  f"Noise `{first['noise']}`; data: {first['data']}; {first['optimizer']} lr "
                  f"{first['learning_rate']}. Noisy input on CBSD68: {num(data.get('noisy_input_psnr_cbsd68'))} dB.", ""]
        fig6 = paper["fig6_train_mse"]
        reach = summary.get("first_step_reaching_nodsc_final_train_mse", {})
        body = [[d["label"], f"`{d['preset']}`", f"{d['steps']} steps, {num(d['minutes'], 1)} min",
                 num(summary.get("final_train_mse", {}).get(d["preset"]), 4),
                 num(summary.get("final_val_mse", {}).get(d["preset"]), 4), reach.get(d["preset"], "-"),
                 pair(d["cbsd68"]["psnr"], d["cbsd68"]["ssim"]), fig6.get(d["label"], "-")]
                for d in denoisers]
        lines += table(["model", "preset", "budget", "final train MSE", "final val MSE",
                        "first step at no-gates' final train MSE", "CBSD68 PSNR / SSIM",
                        f"paper train MSE ({fig6['scale']})"], body)
        lines += [f"Paper: {fig6['claim']}. Ours: target "
                  + ("**met**" if summary.get("target_met") else "**missed**") + ".", ""]
        lines += ["Commands: " + "; ".join(f"`{d['command']}`" for d in denoisers) + ".", ""]
    body = []
    if "classifier" in data:
        c = data["classifier"]
        body.append(["small classifier, random init", f"validation accuracy {num(c['final_val_accuracy'])}",
                     f"{c['steps']} steps, {num(c['minutes'], 1)} min",
                     f"~{paper['classifier']['val_accuracy']:.0%} after {paper['classifier']['after_iterations']} "
                     f"iterations on {paper['classifier']['data']}; {paper['classifier']['claim']}"])
    if "perceptual" in data:
        p = data["perceptual"]
        first, last = p["val_psnr_first_last"]
        body.append([f"perceptual-loss denoiser `{p['preset']}`",
                     f"validation PSNR {num(first)} -> {num(last)} dB, CBSD68 {num(p['cbsd68']['psnr'])} dB",
                     f"{p['steps']} steps, {num(p['minutes'], 1)} min", paper["perceptual_denoiser"]["claim"]])
    if "transfer" in data:
        t = data["transfer"]
        at20 = paper["transfer"]["accuracy_at_iteration_20"]
        body.append(["transfer: Conv-1..5 from the DSC denoiser vs random init",
                     f"final validation accuracy {num(t['denoiser']['val_accuracy'][-1])} vs "
                     f"{num(t['random']['val_accuracy'][-1])}",
                     f"{t['steps']} steps, {num(t['minutes'], 1)} min",
                     f"{at20['denoiser']:.0%} vs {at20['random']:.0%} accuracy at iteration 20, both plateau "
                     f"near {paper['transfer']['plateau_accuracy']:.0%}; {paper['transfer']['claim']}"])
    if body:
        lines += ["## Classifier, perceptual loss and transfer (Figs. 10-11)", ""]
        if "classifier" in data:
            lines += [f"Data: {data['classifier']['data']}.", ""]
        lines += table(["experiment", "ours", "budget", "paper"], body)
    lines += src.figures("gated_curves.png", "gated_visual.png", "gated_transfer.png")
    return lines


def _model_links(src: Sources) -> list[str]:
    links = []
    for folder in sorted(p for p in src.exported.glob("*") if p.is_dir()):
        for name in ("MODEL_CARD.md", "README.md"):
            if (folder / name).exists():
                links.append(f"[`{folder.name}/{name}`]({src.link(folder / name)})")
    return links


def _shipped_legacy(src: Sources, data: dict) -> list[str]:
    """``shipped.json`` as the first ship script wrote it: ``rows`` of the TFLite files."""
    lines = [f"Trained by `python tools/train.py --config {data['dn_run']}` then `--config {data['ds_run']}`; "
             "budget: " + "; ".join(f"{name}: {b['steps']} steps, {num(b['minutes'], 1)} min"
                                    for name, b in data["budget"].items()) + ".", ""]
    rows = data["rows"]
    files = list(dict.fromkeys(r["file"] for r in rows))
    sets = list(dict.fromkeys((r["test_set"], r["color"]) for r in rows))
    columns = [(s, f) for s in sets for f in files if any(r["test_set"] == s[0] and r["file"] == f for r in rows)]
    header = ["noise"]
    for (test_set, color) in sets:
        header.append(f"{test_set} {color} input")
        header += [f"{test_set} {color} {f}" for (s, f) in columns if s == (test_set, color)]
    header += ["BM3D (published)", "DnCNN-B (published)"]
    body = []
    for noise in dict.fromkeys(r["noise"] for r in rows):
        at = {(r["test_set"], r["color"], r["file"]): r for r in rows if r["noise"] == noise}
        cells = [next(iter(at.values())).get("label", noise_label(noise))]
        for (test_set, color) in sets:
            first = next((r for (s, c, _), r in at.items() if (s, c) == (test_set, color)), None)
            cells.append(num(first["psnr_input"]) if first else "-")
            for (s, f) in columns:
                if s == (test_set, color):
                    r = at.get((test_set, color, f))
                    cells.append(pair(r["psnr"], r["ssim"]) if r else "-")
        cells += [num(src.published("BM3D", noise)), num(src.published("DnCNN-B", noise))]
        body.append(cells)
    folders = ", ".join(dict.fromkeys(f"`{Path(r['model']).parent.name}`" for r in rows))
    lines += [f"## {folders}", "", "PSNR (dB) / SSIM:", ""]
    lines += table(header, body)
    if "bm3d_bsd68_s25" in data:
        lines += [f"BM3D measured here in the same protocol, BSD68 sigma 25: {num(data['bm3d_bsd68_s25'])} dB.", ""]
    return lines


def _shipped_models(src: Sources, data: dict) -> list[str]:
    """``shipped.json`` as ``benchmarks/ship_models.py`` writes it: one entry per model folder."""
    lines = []
    denoising = src.reference["denoising"]
    for folder, m in data["models"].items():
        baseline = next(k[len("beats_"):] for k in m if k.startswith("beats_"))
        network = next((name for name, entry in denoising.items() if name.endswith("DnCNN-B")
                        and entry["set"] == denoising[baseline]["set"]), None)
        rows = m["rows"]
        first = rows[0]
        files = list(dict.fromkeys(r["file"] for r in rows))
        mark = m.get("at_90_minutes")
        lines += [f"## `{folder}`: preset `{m['preset']}`", "",
                  f"{m['weights']:,} weights, {m['macs_640x480'] / 1e9:.1f} G MACs at 640x480. Budget: "
                  f"{m['budget']['steps']} steps, {num(m['budget']['minutes'], 1)} min "
                  f"(`python tools/train.py --config {m['preset']}`, then "
                  f"`python benchmarks/ship_models.py --only {folder}`). {first['dataset']} {first['color']}, "
                  "PSNR (dB) / SSIM:", ""]
        body = []
        for sigma in dict.fromkeys(r["sigma"] for r in rows):
            at = {r["file"]: r for r in rows if r["sigma"] == sigma}
            noise = f"gaussian:sigma={sigma}"
            body.append([sigma, num(next(iter(at.values()))["psnr_input"]),
                         *[pair(at[f]["psnr"], at[f]["ssim"]) if f in at else "-" for f in files],
                         num(src.published(baseline, noise)), num(src.published(network, noise)) if network else "-",
                         num(mark["psnr"].get(str(sigma))) if mark else "-"])
        mark_label = f"snapshot at {num(mark['minutes'], 1)} min" if mark else "90-min snapshot"
        lines += table(["sigma", "input", *files, f"{baseline} (published)", f"{network} (published)", mark_label],
                       body)
        margins = m.get(f"margin_over_{baseline}", {})
        lines += [f"Beats {baseline}: **{'yes' if m.get(f'beats_{baseline}') else 'no'}** (margins, dB: "
                  + "; ".join(f"{f} {v}" for f, v in margins.items()) + "). int8 within 0.1 dB of float32: "
                  f"**{'yes' if m.get('int8_within_0.1dB') else 'no'}** ({m.get('int8_minus_float32')}).", ""]
    return lines


def page_shipped(src: Sources):
    data = src.load("shipped.json")
    if data is None:
        return None
    lines = src.header("The shipped models", ["shipped.json"], data.get("command"))
    lines += [f"Evaluation: {data.get('protocol', PROTOCOL)}. The model files are in `exported_models/`"
              + (": " + ", ".join(_model_links(src)) if _model_links(src) else "") + ".", ""]
    lines += _shipped_models(src, data) if "models" in data else _shipped_legacy(src, data)
    return lines


def page_recipe(src: Sources):
    data = src.load("recipe.json")
    if data is None:
        return None
    sigma = re.search(r"sigma=([\d.]+)", data["test"])
    bm3d_published = src.published("BM3D", f"gaussian:sigma={sigma.group(1)}") if sigma else None
    lines = src.header("Paper recipe against fast recipe", ["recipe.json"], data.get("command"))
    lines += [f"{data['network']}, trained on {data['training_data']}; presets: "
              + ", ".join(f"{recipe} `{preset}`" for recipe, preset in data["presets"].items())
              + f". Test: {data['test']}. BM3D: {num(data.get('bm3d'))} dB measured here, "
              f"{num(bm3d_published)} dB published.", "", "## PSNR against training minutes", ""]
    marks = list(next(iter(data["at_minutes"].values()), {}))
    body = []
    for recipe, at in data["at_minutes"].items():
        final = data["final"].get(recipe)
        body.append([f"{recipe} (`{data['presets'][recipe]}`)",
                     *[num(at[m]["psnr"]) if at.get(m) else "-" for m in marks],
                     f"{num(final['psnr'])} ({final['step']} steps, {num(final['minutes'], 1)} min)" if final else "-"])
    lines += table(["recipe", *[f"{m} min" for m in marks], "end of run"], body)
    for recipe, preset in data["presets"].items():
        for path in sorted(src.results.glob(f"{preset}_*eval.json")):
            report = json.loads(path.read_text())
            lines += [f"## `{preset}` at the end of its run, {report['dataset']} {report['color']}", "",
                      f"`{report.get('command', '-')}` ({src.result_link(path.name)}):", ""]
            body = [[noise_label(r["noise"]), num(r["psnr_input"]), pair(r["psnr"], r["ssim"]),
                     num(r.get("psnr_frame")), num(src.published("BM3D", r["noise"])),
                     signed(None if src.published("BM3D", r["noise"]) is None
                            else r["psnr"] - src.published("BM3D", r["noise"]))] for r in report["results"]]
            lines += table(["noise", "input", "PSNR / SSIM", "outer 8-px frame PSNR", "BM3D (published)",
                            "ours - BM3D"], body)
    lines += src.figures("recipe.png")
    return lines


def page_latency(src: Sources):
    data = src.load("latency.json")
    if data is None:
        return None
    paper = src.reference["dnresnet"]["latency_table5"]
    machine, settings = data["machine"], data["settings"]
    lines = src.header("Latency and the mobile path (paper 3, Table 5)", ["latency.json"], data.get("command"))
    lines += [f"{settings['image']}; {machine['nproc']} x {machine['cpu_model']}, load average "
              f"{machine.get('load_average_at_start')} at the start; TFLite {settings['tflite_threads']} threads; "
              f"{settings['weights']}; {settings['repeats']} timed calls after {settings['warmup']} untimed, "
              f"median kept ({data.get('date', '-')}). Paper: {paper['source']}, {paper['device']}, "
              f"{paper['image']}: a GPU, so compare ratios between networks, not absolute times.", "",
              "Median milliseconds per image (achieved G MAC/s):", ""]
    methods = list(dict.fromkeys(m for r in data["results"] for m in r["methods"]))
    body = []
    for r in data["results"]:
        body.append([r["network"], f"{r['weights']:,}", num(r["gmacs"], 1),
                     *[f"{r['methods'][m]['median_ms']:.0f} ({r['methods'][m]['gmac_per_s']:.0f})"
                       if m in r["methods"] else "-" for m in methods],
                     num(paper["ms"].get(r["network"]))])
    lines += table(["network", "weights", "G MACs", *[METHOD_LABELS.get(m, m) for m in methods],
                    f"paper ms ({paper['device']})"], body)
    lines += [f"Paper note: {paper['note']}.", ""]
    lines += src.figures("latency.png")
    return lines


def page_memory(src: Sources):
    data = src.load("memory.json")
    if data is None:
        return None
    lines = src.header("Peak memory of `tools/denoise.py` on a large photograph", ["memory.json"],
                       data.get("command"))
    lines += [f"{sentence(data['what'])}; model `{data['model']}`; large images {data['large_size'][0]}x"
              f"{data['large_size'][1]} (height x width); {data['machine']['cpus']} CPUs ({data.get('date', '-')}). "
              f"Tiled runs under the {data['bound_mb']} MB bound: "
              f"**{'yes' if data['tiled_under_bound'] else 'no'}**.", ""]
    body = [[r["image"], "x".join(str(v) for v in r["shape"]), r["tile"], num(r["peak_rss_mb"], 0),
             num(r["seconds"], 1), r["returncode"], r.get("max_level_difference_tiled_vs_untiled", "-")]
            for r in data["results"]]
    lines += table(["image", "shape", "--tile", "peak RSS (MB)", "seconds", "exit", "max 8-bit difference, "
                    "tiled vs untiled"], body)
    lines += src.figures("memory.png")
    return lines


def page_pipeline(src: Sources):
    data = src.load("pipeline.json")
    if data is None:
        return None
    need = data["training_need"]
    w = data["workload"]
    lines = src.header("Training data pipeline throughput", ["pipeline.json"], data.get("command"))
    lines += [f"`patch_dataset`: {w['patch_size']}x{w['patch_size']} -> {w['target_size']}x{w['target_size']} "
              f"{data['data']['color']} patches of {data['data']['set']} ({data['data']['images']} images), "
              f"`{w['degradation']}`, batch {w['batch_size']}; {data['batches']} timed batches per round, "
              f"median of {data['repeats']} rounds; {data['machine']['nproc']} x {data['machine']['cpu_model']} "
              f"({data['machine'].get('uptime_before', '-')}). A {need['model']} training step consumes "
              f"~{num(need['patches_per_s'], 0)} patches/s ({need['s_per_batch_of_64']} s per batch of 64).", ""]
    body = [[r["mode"], "yes" if r["used_by_patch_dataset"] else "", num(r["patches_per_s"], 0),
             num(r.get("s_per_batch_of_64"), 4), num(r["patches_per_s"] / need["patches_per_s"], 1)
             if "error" not in r else r["error"]] for r in data["results"]]
    lines += table(["degrade mode", "used", "patches / s", "s / batch of 64", "x need"], body)
    lines += src.figures("pipeline.png")
    return lines


def page_distribute(src: Sources):
    data = src.load("distribute.json")
    if data is None:
        return None
    lines = src.header("Training throughput under tf.distribute", ["distribute.json"], data.get("command"))
    lines += [f"Preset `{data['preset']}`, global batch {data['global_batch']}, {data['timed_steps']} timed "
              f"steps after {data['warmup_steps']}; {data['machine']['cores']} x {data['machine']['cpu']}. "
              f"{sentence(data['reading'])}", ""]
    body = [[r["setup"], num(r["steps_per_second"], 2), num(r["examples_per_second"], 1),
             num(r["relative_to_one_device"], 2)] for r in data["setups"]]
    lines += table(["setup", "steps / s", "patches / s", "vs one device"], body)
    lines += src.figures("distribute.png")
    return lines


# (file, one-line description, builder)
PAGES = (
    ("dncnn.md", "DnCNN / BM3D with the official weights: the evaluation protocol check", page_dncnn),
    ("dnresnet.md", "DN-ResNet / DS-DN-ResNet (paper 3) at CPU budgets, Tables 1-3 and JPEG", page_dnresnet),
    ("resunet.md", "ResUNet with a perceptual loss (paper 1), Tables 1-2, edges, targets", page_resunet),
    ("idgan.md", "IDResNet / IDGAN (paper 2), Table 1 analogue and detail measures", page_idgan),
    ("gated.md", "Gated conv-deconv (paper 4): gates, classifier, perceptual loss, transfer", page_gated),
    ("shipped.md", "The shipped models: accuracy of every shipped file", page_shipped),
    ("recipe.md", "Paper recipe against fast recipe: PSNR against training minutes", page_recipe),
    ("latency.md", "Latency of the networks, Keras / tf.function / TFLite (paper 3, Table 5)", page_latency),
    ("memory.md", "Peak memory and time of tools/denoise.py, tiled and untiled", page_memory),
    ("pipeline.md", "Training data pipeline throughput", page_pipeline),
    ("distribute.md", "Training throughput under tf.distribute (one device, two, two workers)",
     page_distribute),
)


def render_pages(results=RESULTS, reference=REFERENCE_FILE, out=DOCS, exported=EXPORTED) -> dict[str, str]:
    """``{file name: markdown}`` of every page whose results exist, and the index ``README.md``
    (links relative to ``out``)."""
    src = Sources(results, reference, out, exported)
    pages, index = {}, []
    for name, what, build in PAGES:
        lines = build(src)
        if lines is None:
            continue
        pages[name] = "\n".join(lines).rstrip("\n") + "\n"
        index.append([f"[{name[:-3]}]({name})", what])
    readme = ["# Results", "",
              f"<!-- Generated by `{COMMAND}`: do not edit. -->", "",
              "Every number comes from a run in this repository on the 2-core CPU reference machine (no GPU), "
              "with its command, steps and minutes; the papers' numbers stand beside ours from "
              f"[`reference_numbers.json`]({src.link(src.reference_path)}). {PROTOCOL}. "
              f"Regenerate these pages with `{COMMAND}`.", ""]
    pages["README.md"] = "\n".join(readme + table(["page", "what"], index)).rstrip("\n") + "\n"
    return pages


def stale_pages(pages: dict[str, str], out=DOCS) -> list[str]:
    """The names of the pages whose file in ``out`` is missing or differs."""
    out = Path(out)
    return [name for name, text in pages.items()
            if not (out / name).exists() or (out / name).read_text() != text]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default=str(RESULTS), help="the results folder (benchmarks/results)")
    parser.add_argument("--reference", default=str(REFERENCE_FILE), help="the published numbers (JSON)")
    parser.add_argument("--exported", default=str(EXPORTED), help="the shipped models (exported_models)")
    parser.add_argument("--out", default=str(DOCS), help="where the pages go (docs/results)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page is stale")
    args = parser.parse_args(argv)
    pages = render_pages(args.results, args.reference, args.out, args.exported)
    stale = stale_pages(pages, args.out)
    if args.check:
        for name in stale:
            print(f"stale: {Path(args.out) / name} (regenerate: {COMMAND})", file=sys.stderr)
        return 1 if stale else 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (out / name).write_text(pages[name])
    print(f"{len(pages)} pages in {out} ({len(stale)} rewritten): {', '.join(pages)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
