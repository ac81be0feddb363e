"""The results pages (benchmarks/results_pages.py) and the benchmarks' shared helpers
(benchmarks/_bench.py): pages carry the measured numbers and the published ones, and the
committed pages in docs/results/ are what the generator writes from the repository's files."""
import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def _import(name):
    """A module of benchmarks/ (they import each other as top-level modules, like scripts;
    pytest's ``pythonpath`` setting puts benchmarks/ on the import path)."""
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def pages_module():
    return _import("results_pages")


def f2(value):
    return f"{value:.2f}"


# ---------------------------------------------------------------------------------------------
# A tiny synthetic results folder and reference file: every number is distinct, so finding it in
# a page shows where the page took it from.

REFERENCE = {
    "about": "synthetic",
    "denoising": {
        "BM3D": {"set": "BSD68", "color": "gray", "degradation": "gaussian:sigma={level}",
                 "psnr": {"15": 41.01, "25": 41.02, "50": 41.03}},
        "DnCNN-B": {"set": "BSD68", "color": "gray", "degradation": "gaussian:sigma={level}",
                    "psnr": {"15": 41.11, "25": 41.12, "50": 41.13}},
        "CBM3D": {"set": "CBSD68", "color": "rgb", "degradation": "gaussian:sigma={level}",
                  "psnr": {"15": 41.21, "25": 41.22, "50": 41.23}},
        "CDnCNN-B": {"set": "CBSD68", "color": "rgb", "degradation": "gaussian:sigma={level}",
                     "psnr": {"15": 41.31, "25": 41.32, "50": 41.33}},
        "DnCNN-3": {"set": "LIVE1", "color": "y", "degradation": "jpeg:quality={level}",
                    "psnr": {"10": 41.41, "20": 41.42}},
    },
    "dnresnet": {
        "source": "DN-ResNet paper", "set": "VOC", "color": "y", "training": "full",
        "depth_gaussian_sigma25": {"psnr": {"3": 42.03, "13": 42.13, "13-oneshot": 42.14}},
        "psnr": {"DN-ResNet-13 blind": {"gaussian:sigma=50": 42.51},
                 "DN-ResNet-13 non-blind": {"gaussian:sigma=50": 42.52},
                 "DS-DN-ResNet-13 blind": {"gaussian:sigma=50": 42.53},
                 "DS-DN-ResNet-13 blind one-shot": {"gaussian:sigma=50": 42.54}},
        "latency_table5": {"source": "Table 5", "device": "a GPU", "image": "512x512",
                           "ms": {"DnCNN-17": 42.71}, "note": "a note"},
    },
    "resunet": {"source": "ResUNet paper", "set": "BSDS300", "training": "full",
                "psnr": {"denoise": {"unet": {"25.5": 43.01}, "resunet": {"25.5": 43.02},
                                     "resunet-lper": {"25.5": 43.03}},
                         "deblur": {"unet": {"25.5": 43.11}, "resunet": {"25.5": 43.12}}}},
    "idgan": {"source": "IDGAN paper", "set": "Kodak24", "images": 24, "color": "rgb",
              "training": {"steps": "1 + 1", "network": "2 x 2", "crop": "9x9", "data": "DIV2K"},
              "psnr": {"25": {"IDResNet": 44.01, "IDGAN": 44.02}}},
    "gated": {"source": "gated paper", "training": "10k steps", "note": "approximate",
              "fig6_train_mse": {"with gates": 7777, "no gates": 8888, "scale": "0-255", "claim": "falls earlier"},
              "classifier": {"val_accuracy": 0.25, "after_iterations": 100, "data": "STL-10", "claim": "no"},
              "perceptual_denoiser": {"claim": "black squares"},
              "transfer": {"accuracy_at_iteration_20": {"denoiser": 0.15, "random": 0.05},
                           "plateau_accuracy": 0.35, "claim": "faster"}},
}


def _run(steps, minutes, **extra):
    return {"steps": steps, "minutes": minutes, **extra}


RESULTS = {
    "dncnn_reproduction.json": {"published_source": "DnCNN paper", "runs": {
        "dncnn-b25": {"model": "DnCNN-B (GD_Gray_Blind.mat)", "dataset": "BSD68", "color": "gray",
                      "noise": "gaussian:sigma=25", "n_images": 68, "psnr": 11.01, "ssim": 0.5, "psnr_input": 9.0,
                      "seconds_per_image": 1.5}}},
    "dnresnet.json": {"command": "python benchmarks/dnresnet_eval.py", "rows": [
        {"table": "1", "model": "DN-ResNet-3 (cascade)", "training": "run-a", "noise": "gaussian:sigma=25",
         "psnr": 11.11, "ssim": 0.51, "psnr_input": 9.1, **_run(501, 5.5)},
        {"table": "2", "model": "DN-ResNet-13 blind MSE", "training": "run-b", "noise": "gaussian:sigma=50",
         "psnr": 11.12, "ssim": 0.52, "psnr_input": 9.2, **_run(502, 6.5)},
        {"table": "3", "model": "DS-DN-ResNet-13 blind (one-shot, DS-DN-os)", "training": "run-c",
         "noise": "gaussian:sigma=50", "psnr": 11.13, "ssim": 0.53, "psnr_input": 9.2, **_run(503, 7.5)},
        {"table": "jpeg", "model": "DN-ResNet-13 JPEG", "training": "run-d", "noise": "jpeg:quality=10",
         "dataset": "LIVE1", "psnr": 11.14, "ssim": 0.54, "psnr_input": 9.3, **_run(504, 8.5)}]},
    "resunet.json": {"command": "python benchmarks/resunet.py", "rows": [
        {"task": "denoise", "model": "input", "sigma": 25.5, "psnr": 11.21, "ssim": 0.4},
        {"task": "denoise", "model": "unet", "sigma": 25.5, "psnr": 11.22, "ssim": 0.41, **_run(601, 1.5)},
        {"task": "denoise", "model": "resunet", "sigma": 25.5, "psnr": 11.23, "ssim": 0.42, **_run(602, 2.5)}],
        "fast": {"label": "fast x", "command": "python benchmarks/resunet.py --fast", "rows": [
            {"task": "denoise", "model": "unet", "sigma": 25.5, "psnr": 11.24, "ssim": 0.43,
             "vgg_feature_distance": 0.1234, **_run(603, 3.5)}],
            "targets": [{"task": "denoise", "target": "fast target", "margin_db": 0.25, "met": True}]}},
    "idgan.json": {"command": "python benchmarks/idgan.py", "preset": "idgan-x", "budget": "tiny", "rows": [
        {"table": "measured, CBSD68", "model": "IDResNet (phase 1, MSE)", "phase": 1, "noise": "gaussian:sigma=25",
         "dataset": "CBSD68", "psnr": 11.31, "ssim": 0.6, "gradient_ratio": 1.0, "hf_energy_ratio": 0.5,
         **_run(701, 9.5)}]},
    "idgan_fast.json": {"command": "python benchmarks/idgan.py --preset idgan-y", "preset": "idgan-y",
                        "budget": "tiny fast", "feature_distance": "VGG x", "rows": [
        {"table": "measured, CBSD68", "model": "IDResNet (phase 1, MSE)", "phase": 1, "noise": "gaussian:sigma=25",
         "dataset": "CBSD68", "psnr": 11.32, "ssim": 0.6, "vgg_feature_distance": 0.4321, **_run(702, 9.6)}]},
    "idgan_fast_s50.json": {"command": "python benchmarks/idgan.py --preset idgan-z", "preset": "idgan-z",
                            "budget": "tiny fast", "rows": [
        {"table": "measured, CBSD68 (all 68)", "model": "IDResNet (phase 1, MSE)", "phase": 1,
         "noise": "gaussian:sigma=50", "dataset": "CBSD68", "psnr": 11.33, "ssim": 0.6, **_run(703, 9.7)},
        {"table": "measured, CBSD68 (all 68)", "model": "CDnCNN-B (official weights)", "phase": None,
         "noise": "gaussian:sigma=50", "dataset": "CBSD68", "psnr": 11.34, "ssim": 0.7}]},
    "gated.json": {"command": "python benchmarks/gated.py", "budget": "tiny",
                   "noisy_input_psnr_cbsd68": 11.41,
                   "denoisers": [{"preset": "gated-x", "label": "with gates", "noise": "gaussian:sigma=25",
                                  "data": "crops", "optimizer": "sgd", "learning_rate": 0.01, "command": "train x",
                                  "cbsd68": {"psnr": 11.42, "ssim": 0.3}, **_run(801, 10.5)},
                                 {"preset": "gated-y", "label": "no gates", "noise": "gaussian:sigma=25",
                                  "data": "crops", "optimizer": "sgd", "learning_rate": 0.01, "command": "train y",
                                  "cbsd68": {"psnr": 11.43, "ssim": 0.2}, **_run(802, 10.6)}],
                   "denoisers_fast": [{"preset": "gated-z", "label": "with gates, fast", "noise": "gaussian:sigma=25",
                                       "data": "crops", "optimizer": "adam", "learning_rate": 0.001,
                                       "command": "train z", "cbsd68": {"psnr": 11.44, "ssim": 0.3},
                                       **_run(803, 10.7)}],
                   "summary": {"final_train_mse": {"gated-x": 0.0123}, "target_met": True,
                               "fast": {"final_train_mse": {"gated-z": 0.0456}, "target_met": False}}},
    "orderings.json": {"claims": [
        {"id": "x.depth", "left": "deep", "right": "shallow", "left_value": 11.71, "right_value": 11.72,
         "metric": "PSNR (dB)", "better": "higher", "margin": 0.3, "recipe": "fast", "holds": False,
         "minutes": {"left": 5.0, "right": 4.0}, "paper_values": [42.81, 42.82], "paper_note": "Table 9",
         "why": "too few steps to tell"},
        {"id": "x.depth", "left": "deep", "right": "shallow", "left_value": None, "right_value": None,
         "metric": "PSNR (dB)", "better": "higher", "margin": 0.3, "recipe": "paper", "holds": None,
         "status": "not measured: run it", "minutes": {"left": None, "right": None},
         "paper_values": [42.81, 42.82], "paper_note": "Table 9"}]},
    "shipped.json": {"command": "python benchmarks/ship_models.py", "models": {"folder_x": {
        "preset": "preset-x", "weights": 1234, "macs_640x480": 2.5e9, "budget": _run(901, 11.5),
        "rows": [{"file": "model.keras", "sigma": 25, "dataset": "BSD68", "color": "gray", "psnr": 11.51,
                  "ssim": 0.7, "psnr_input": 9.5}],
        "at_90_minutes": {"step": 900, "minutes": 89.5, "psnr": {"25": 11.52}},
        "margin_over_BM3D": {"model.keras": {"25": -29.51}}, "beats_BM3D": False,
        "int8_minus_float32": {"25": 0.0}, "int8_within_0.1dB": True}}},
    "recipe.json": {"command": "python benchmarks/recipe.py", "network": "net", "test": "BSD68 gaussian:sigma=25",
                    "training_data": "data", "presets": {"fast": "preset-fast"}, "bm3d": 11.61,
                    "at_minutes": {"fast": {"15": {"psnr": 11.62}}},
                    "final": {"fast": {"step": 1001, "minutes": 12.5, "psnr": 11.63}}},
    "preset-fast_gray_eval.json": {"dataset": "BSD68", "color": "gray", "command": "evaluate x", "results": [
        {"noise": "gaussian:sigma=15", "psnr": 11.64, "ssim": 0.8, "psnr_input": 9.6, "psnr_frame": 11.65}]},
    "blind_levers.json": {"command": "python benchmarks/blind_levers.py", "preset": "preset-fast",
                          "conditions": "side by side", "test": "BSD68",
                          "arms": {"reference": {"what": "as is", "overrides": []},
                                   "w": {"what": "by rms", "overrides": ["loss_weighting=w"]}},
                          "rows": [{"arm": "reference", "sigma": 25, "psnr": 11.66, "ssim": 0.7, "bm3d_published": 41.01,
                                    **_run(1001, 12.5)},
                                   {"arm": "w", "sigma": 25, "psnr": 11.67, "ssim": 0.7, "bm3d_published": 41.01,
                                    **_run(1001, 12.6)}], "minus_reference": {"w": {"25": 0.01}},
                          "other_noises": {"w": {"poisson:peak=4": 11.68}}},
    "pipeline_step.json": {"command": "python benchmarks/pipeline.py --step preset-fast", "preset": "preset-fast",
                           "workload": {"network": "net", "model_kwargs": {}, "patch_size": 48, "batch_size": 16,
                                        "degradation": "d", "train_data": "t", "val_data": "v", "val_batches": 8,
                                        "steps_per_epoch": 250},
                           "steps": 200, "warmup": 20, "ms_per_step": {"stream": 3.5, "train_on_batch": 1193.4,
                                                                       "fit": 101.5, "train": 111.3},
                           "train_median_step_ms": 102.1, "train_epoch_end_ms": [1106.6, 2713.0],
                           "megapixels_per_s": 0.331, "machine": {"nproc": 2, "cpu_model": "cpu"}},
    "latency.json": {"command": "python benchmarks/latency.py",
                     "machine": {"nproc": 2, "cpu_model": "cpu"},
                     "settings": {"image": "img", "tflite_threads": 2, "weights": "random", "repeats": 3, "warmup": 1},
                     "results": [{"network": "DnCNN-17", "weights": 1000, "gmacs": 1.0,
                                  "methods": {"tflite_int8": {"median_ms": 1171.0, "gmac_per_s": 3.0}}}]},
    "memory.json": {"command": "python benchmarks/memory.py", "what": "rss", "model": "m", "large_size": [30, 40],
                    "machine": {"cpus": 2}, "bound_mb": 2048, "tiled_under_bound": True,
                    "results": [{"image": "gray", "shape": [30, 40], "tile": 512, "peak_rss_mb": 1181.0,
                                 "seconds": 1.5, "returncode": 0}]},
    "pipeline.json": {"command": "python benchmarks/pipeline.py",
                      "data": {"set": "s", "images": 2, "color": "gray"},
                      "workload": {"patch_size": 33, "target_size": 17, "batch_size": 64, "degradation": "d"},
                      "machine": {"nproc": 2, "cpu_model": "cpu"}, "batches": 10, "repeats": 3,
                      "results": [{"mode": "map_fn", "used_by_patch_dataset": True, "patches_per_s": 1191.0,
                                   "s_per_batch_of_64": 0.05}],
                      "training_need": {"model": "net", "s_per_batch_of_64": 0.35, "patches_per_s": 183.0}},
}

# page: (numbers from the results JSON, numbers from the reference file)
EXPECTED = {
    "dncnn.md": ([11.01], [41.12]),
    "dnresnet.md": ([11.11, 11.12, 11.13, 11.14], [42.03, 42.51, 42.54, 41.41]),
    "resunet.md": ([11.21, 11.22, 11.23, 11.24], [43.01, 43.02, 43.03]),
    "idgan.md": ([11.31, 11.32, 11.33, 11.34], [41.22, 41.32, 44.01, 44.02]),
    "gated.md": ([11.41, 11.42, 11.43, 11.44], []),
    "shipped.md": ([11.51, 11.52], [41.02, 41.12]),
    "recipe.md": ([11.61, 11.62, 11.63, 11.64, 11.65, 11.66, 11.67], [41.02, 41.01]),
    "latency.md": ([], [42.71]),
    "memory.md": ([], []),
    "pipeline.md": ([], []),
    "claims.md": ([11.71, 11.72], []),
}


@pytest.fixture
def synthetic(tmp_path):
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    for name, data in RESULTS.items():
        (results / name).write_text(json.dumps(data))
    (results / "latency.png").write_bytes(b"png")
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps(REFERENCE))
    exported = tmp_path / "exported_models" / "folder_x"
    exported.mkdir(parents=True)
    (exported / "MODEL_CARD.md").write_text("card")
    return {"results": results, "reference": reference, "exported": exported.parent,
            "out": tmp_path / "docs" / "results"}


def test_pages_hold_the_measured_and_the_published_numbers(pages_module, synthetic):
    assert pages_module.main(["--results", str(synthetic["results"]), "--reference", str(synthetic["reference"]),
                              "--exported", str(synthetic["exported"]), "--out", str(synthetic["out"])]) == 0
    written = {path.name: path.read_text() for path in synthetic["out"].glob("*.md")}
    assert set(written) == set(EXPECTED) | {"README.md"}
    for page, (measured, published) in EXPECTED.items():
        for value in measured + published:
            assert f2(value) in written[page], (page, value)
    for page in EXPECTED:  # each page says how its numbers were made
        source = "dnresnet.json" if page == "dnresnet.md" else page.replace(".md", ".json")
        if "command" in RESULTS.get(source, {}):
            assert RESULTS[source]["command"] in written[page], page
    assert "501 steps, 5.5 min" in written["dnresnet.md"]
    assert "7777" in written["gated.md"] and "8888" in written["gated.md"]
    # the fast-recipe sections beside the paper-recipe ones
    assert "0.1234" in written["resunet.md"] and "fast target" in written["resunet.md"]
    assert "0.4321" in written["idgan.md"] and "python benchmarks/idgan.py --preset idgan-y" in written["idgan.md"]
    assert "0.0456" in written["gated.md"] and "fast recipe" in written["gated.md"]
    assert "1171 (3)" in written["latency.md"] and "1181" in written["memory.md"] and "1191" in written["pipeline.md"]
    assert "1193.4" in written["pipeline.md"] and "python benchmarks/pipeline.py --step preset-fast" in written["pipeline.md"]
    assert "python benchmarks/blind_levers.py" in written["recipe.md"] and "+0.01" in written["recipe.md"]
    assert "--set loss_weighting=w" in written["recipe.md"]
    assert "| arm | Poisson peak 4 |" in written["recipe.md"] and "| `w` | 11.68 |" in written["recipe.md"]
    # figures and result files are linked relative to the page
    assert "](../../benchmarks/results/latency.png)" in written["latency.md"]
    assert "](../../benchmarks/results/dnresnet.json)" in written["dnresnet.md"]
    assert "](../../exported_models/folder_x/MODEL_CARD.md)" in written["shipped.md"]
    for page in EXPECTED:
        assert f"]({page})" in written["README.md"]
    # regenerated from the same files, nothing is stale
    assert pages_module.main(["--results", str(synthetic["results"]), "--reference", str(synthetic["reference"]),
                              "--exported", str(synthetic["exported"]), "--out", str(synthetic["out"]),
                              "--check"]) == 0


def test_a_page_follows_its_files(pages_module, synthetic):
    """No result file, no page; a changed reference number makes the page stale."""
    (synthetic["results"] / "memory.json").unlink()
    args = ["--results", str(synthetic["results"]), "--reference", str(synthetic["reference"]),
            "--exported", str(synthetic["exported"]), "--out", str(synthetic["out"])]
    pages_module.main(args)
    assert not (synthetic["out"] / "memory.md").exists()
    assert "memory" not in (synthetic["out"] / "README.md").read_text()
    reference = json.loads(synthetic["reference"].read_text())
    reference["denoising"]["DnCNN-B"]["psnr"]["25"] = 45.67
    synthetic["reference"].write_text(json.dumps(reference))
    assert pages_module.main(args + ["--check"]) == 1
    pages_module.main(args)
    assert "45.67" in (synthetic["out"] / "dncnn.md").read_text()


def test_readme_tables_follow_shipped_json(pages_module, synthetic, tmp_path):
    """The README's shipped-models block is regenerated from shipped.json; the rest is kept."""
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{pages_module.README_BEGIN}\nold table\n{pages_module.README_END}\nmiddle\n"
                      f"{pages_module.CLAIMS_BEGIN}\nold claims\n{pages_module.CLAIMS_END}\noutro\n")
    args = ["--results", str(synthetic["results"]), "--reference", str(synthetic["reference"]),
            "--exported", str(synthetic["exported"]), "--out", str(synthetic["out"]), "--readme", str(readme)]
    assert pages_module.main(args + ["--check"]) == 1
    pages_module.main(args)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "\nmiddle\n" in text
    assert "old table" not in text and "old claims" not in text
    claim = next(line for line in text.splitlines() if line.startswith("| `x.depth`"))
    assert "42.81 vs 42.82" in claim and "not measured" in claim and "11.71 vs 11.72: **fails**" in claim
    assert "- `x.depth`, fast recipe: too few steps to tell" in text
    row = next(line for line in text.splitlines() if line.startswith("| `folder_x`"))
    assert "1,234" in row and "11.51" in row and "901 steps" in row
    assert any(line.startswith("| BM3D (published)") for line in text.splitlines())
    assert pages_module.main(args + ["--check"]) == 0


def test_committed_pages_are_up_to_date(pages_module):
    """docs/results/ is what `python benchmarks/results_pages.py` writes from the repository."""
    pages = pages_module.render_pages()
    committed = {path.name for path in pages_module.DOCS.glob("*.md")}
    assert committed == set(pages), "regenerate: python benchmarks/results_pages.py"
    assert pages_module.stale_pages(pages) == [], "regenerate: python benchmarks/results_pages.py"
    readme = pages_module.readme_text(pages_module.Sources(out=pages_module.ROOT))
    assert readme is not None, "README.md lost its shipped-models markers"
    assert readme == pages_module.README.read_text(), "regenerate: python benchmarks/results_pages.py"


def test_pages_and_benchmarks_read_the_same_published_numbers(pages_module):
    """The paper numbers the benchmarks wrote into their rows are the reference file's."""
    src = pages_module.Sources()
    for row in json.loads((BENCHMARKS / "results" / "dnresnet.json").read_text())["rows"]:
        assert pages_module.dnresnet_paper(src, row) == row["paper"], row
    paper = src.reference["resunet"]["psnr"]
    for row in json.loads((BENCHMARKS / "results" / "resunet.json").read_text())["rows"]:
        if "paper_psnr" in row:
            assert pages_module.lookup(paper[row["task"]][row["model"]], row["sigma"]) == row["paper_psnr"]
    latency = json.loads((BENCHMARKS / "results" / "latency.json").read_text())
    assert latency["paper_table5"] == src.reference["dnresnet"]["latency_table5"]
    for run in json.loads((BENCHMARKS / "results" / "dncnn_reproduction.json").read_text())["runs"].values():
        assert src.published(run["model"].split(" (")[0], run["noise"]) == run["published_psnr"]


def test_evaluation_cache_reads_both_entry_formats(tmp_path):
    """evaluate_cached answers from the cache without evaluating: its own entries, and whole
    evaluate() reports stored under an older key."""
    bench = _import("_bench")
    report = {"model": "final", "dataset": "BSD68", "color": "gray", "seed": 0,
              "results": [{"noise": "gaussian:sigma=25", "psnr": 23.24567, "ssim": 0.63091, "psnr_input": 20.4777,
                           "psnr_frame": 22.0, "n_images": 68, "seconds": 3.21}]}
    entry = {"model": "m.keras", "noise": "gaussian:sigma=15", "dataset": "BSD68", "color": "gray", "images": 68,
             "psnr": 30.1, "ssim": 0.8, "psnr_input": 24.8, "seconds": 1.0, "psnr_frame": 30.5}
    cache = tmp_path / "cache.json"
    cache.write_text(json.dumps({"old_key": report, bench.cache_key("run/m", "gaussian:sigma=15", "BSD68", "gray"): entry}))
    got = bench.evaluate_cached(cache, "run/m", "missing.keras", "BSD68", "gaussian:sigma=25", "gray",
                                fallback_key="old_key")
    assert (got["psnr"], got["ssim"], got["psnr_input"], got["images"], got["dataset"]) == \
        (23.246, 0.6309, 20.478, 68, "BSD68")
    assert bench.evaluate_cached(cache, "run/m", "missing.keras", "BSD68", "gaussian:sigma=15", "gray") == entry
    assert bench.cached_evaluation(cache, "run/m", "gaussian:sigma=50", "BSD68", "gray") is None


def test_no_sys_path_edits_and_notebooks_read_paper_numbers():
    """The package is installed: no script, test or notebook edits the import path; notebooks
    take the papers' numbers from the one data file."""
    files = [*BENCHMARKS.glob("*.py"), *(ROOT / "tools").glob("*.py"), *(ROOT / "tests").glob("*.py"),
             *(ROOT / "kerasdenoise").rglob("*.py"), *(ROOT / "notebooks").glob("*.ipynb")]
    for path in files:
        code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        assert not re.search(r"sys\.path\.(insert|append)\(", code), path.name
    for path in (ROOT / "notebooks").glob("0[123]_*.ipynb"):
        assert "reference_numbers.json" in path.read_text(), path.name
    # the reference file parses and each published series is numbers
    reference = json.loads((BENCHMARKS / "reference_numbers.json").read_text())
    for name, entry in reference["denoising"].items():
        assert all(isinstance(v, float) for v in entry["psnr"].values()), name


def test_orderings_judge_claims_by_margin_and_direction():
    orderings = _import("orderings")
    Value, Claim = orderings.Value, orderings.Claim

    def fixed(value):
        return lambda recipe: None if value is None else Value(value, 10.0, "test")

    def judged(left, right, margin, better="higher", pairs=None):
        claim = Claim("x", "l", "r", margin, pairs or ((fixed(left), fixed(right)),), "run it", better=better)
        return orderings.judge(claim, "fast")

    assert judged(28.7, 28.4, 0.3)["holds"] and not judged(28.6, 28.4, 0.3)["holds"]
    assert judged(28.2, 28.4, -0.3)["holds"]  # a negative margin: within 0.3 dB below
    assert judged(0.1, 0.2, 0.0, better="lower")["holds"] and not judged(0.3, 0.2, 0.0, better="lower")["holds"]
    missing = judged(None, 28.4, 0.0)
    assert missing["holds"] is None and missing["status"] == "not measured: run it"
    # the first pair measured on both sides is the one judged
    entry = judged(None, None, 0.0, pairs=((fixed(29.0), fixed(None)), (fixed(28.0), fixed(27.5))))
    assert (entry["left_value"], entry["right_value"], entry["holds"]) == (28.0, 27.5, True)


def test_orderings_read_a_row_of_a_result_file(tmp_path, monkeypatch):
    """A claim side read from a benchmark's result file: the row picked by its fields, only for
    its recipe; a missing file, row or field is 'not measured'."""
    orderings = _import("orderings")
    monkeypatch.setattr(orderings, "RESULTS", tmp_path)
    rows = [{"task": "denoise", "model": "unet", "psnr": 29.1, "minutes": 12.0},
            {"task": "denoise", "model": "resunet", "psnr": 29.4, "minutes": 16.5},
            {"task": "deblur", "model": "unet", "psnr": 24.0}]
    get = lambda model, field="psnr", task="denoise": orderings.result_row(  # noqa: E731
        "r.json", ("fast", "rows"), {"task": task, "model": model}, field, "fast")
    assert get("unet")("fast") is None  # no file yet
    (tmp_path / "r.json").write_text(json.dumps({"fast": {"rows": rows}}))
    found = get("resunet")("fast")
    assert (found.value, found.minutes) == (29.4, 16.5)
    assert get("unet", task="deblur")("fast").value == 24.0
    assert get("resunet")("paper") is None  # another recipe's side
    assert get("resunet", "vgg_feature_distance")("fast") is None
    assert get("resunet", task="deblur")("fast") is None
    final = orderings.result_row("r.json", ("fast", "rows"), {"model": "unet"},
                                 lambda row: row["psnr"] - 1, "fast")
    assert final("fast").value == pytest.approx(28.1)  # the first matching row, through the function
    claim = orderings.Claim("resunet.denoise", "ResUNet", "UNet", 0.0, ((get("resunet"), get("unet")),), "run")
    assert orderings.judge(claim, "fast")["holds"] is True
    assert orderings.judge(claim, "paper")["holds"] is None
