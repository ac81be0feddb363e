"""tools/demo.py: its help, and its errors on bad arguments (the full demo is `make demo`)."""
import importlib.util
import json
import subprocess
import sys

from conftest import ROOT

DEMO = [sys.executable, str(ROOT / "tools" / "demo.py")]


def test_demo_help_and_bad_arguments():
    done = subprocess.run(DEMO + ["--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and "before_after.png" in done.stdout
    bad = subprocess.run(DEMO + ["--steps", "many"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and "--steps" in bad.stderr


def _demo_module():
    spec = importlib.util.spec_from_file_location("demo", ROOT / "tools" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    return demo


def test_demo_reference_table_reads_the_shipped_measurements():
    demo = _demo_module()
    table = demo.reference_set_table()
    shipped = json.loads((ROOT / "benchmarks" / "results" / "shipped.json").read_text())["models"]
    for folder, item in shipped.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| shipped {folder} |"))
        float32 = {r["sigma"]: r["psnr"] for r in item["rows"] if r["file"] == "model_float32.tflite"}
        assert row.split("|")[3:6] == [f" {float32[s]:.2f} " for s in (15, 25, 50)]
    published = json.loads((ROOT / "benchmarks" / "reference_numbers.json").read_text())["denoising"]
    assert f"| BM3D (published) | BSD68 | {published['BM3D']['psnr']['15']:.2f} |" in table


def test_demo_measures_the_official_dncnn_only_where_the_shared_data_has_it(tmp_path, monkeypatch):
    demo = _demo_module()
    monkeypatch.setenv("KERASDENOISE_DATA", str(tmp_path))
    assert demo.official_dncnn("gray") == [] and demo.official_dncnn("rgb") == []
    folder = tmp_path / "reference_models" / "dncnn"
    folder.mkdir(parents=True)
    (folder / "GD_Color_Blind.mat").write_bytes(b"stand-in")
    assert demo.official_dncnn("gray") == []
    assert demo.official_dncnn("rgb") == [("CDnCNN-B (official weights)",
                                           f"dncnn-official:{folder / 'GD_Color_Blind.mat'}")]
