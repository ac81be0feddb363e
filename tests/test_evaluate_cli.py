"""kerasdenoise-evaluate and kerasdenoise-denoise (kerasdenoise/cli/, wrapped by tools/*.py): help,
errors on bad input, tiny end-to-end runs; the console scripts are installed."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
SCRIPTS = ("kerasdenoise-train", "kerasdenoise-evaluate", "kerasdenoise-denoise", "kerasdenoise-export")


def _run(tool, *args, cwd):
    """``tool``: a file of tools/ (``evaluate.py``) or an installed console script."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("PYTHONPATH", None)  # the tools must find the package by themselves
    if tool.endswith(".py"):
        command = [sys.executable, str(TOOLS / tool)]
    else:  # the script beside this interpreter (the venv's bin/), else on PATH
        script = Path(sys.executable).parent / tool
        command = [str(script) if script.exists() else shutil.which(tool) or tool]
    return subprocess.run(
        [*command, *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


def write_images(folder, n, size, channels, seed=0):
    """``n`` smooth 8-bit PNGs (gray when ``channels`` is 1) named img0.png, img1.png, ..."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        image = cv2.GaussianBlur(rng.random((*size, channels)).astype(np.float32), (0, 0), 2.0)
        image = image.reshape(*size, channels)
        image = (image - image.min()) / (image.max() - image.min() + 1e-6)
        pixels = np.round(image * 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"img{i}.png"), pixels[..., 0] if channels == 1 else pixels)
    return folder


from conftest import load_tool as _load_tool  # noqa: E402


@pytest.mark.parametrize("tool", ["evaluate.py", "denoise.py"])
def test_tool_wrappers_run_from_any_folder(tool, tmp_path):
    result = _run(tool, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--model" in result.stdout and f"usage: kerasdenoise-{tool[:-3]}" in result.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_console_scripts_are_installed(script, tmp_path):
    result = _run(script, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"usage: {script}" in result.stdout
    assert ("--config" if script == "kerasdenoise-train" else "--model") in result.stdout


def test_evaluate_errors_name_the_bad_input(tmp_path, capsys):
    evaluate = _load_tool("evaluate")
    images = write_images(tmp_path / "imgs", n=1, size=(24, 24), channels=1)
    missing = tmp_path / "no_such_model.keras"
    assert evaluate.main(["--model", str(missing), "--test-dir", str(images),
                          "--noise", "gaussian:sigma=25", "--quiet"]) != 0
    assert "no_such_model.keras" in capsys.readouterr().err
    assert evaluate.main(["--model", "identity", "--test-dir", str(images),
                          "--noise", "blurry:strength=9", "--quiet"]) != 0
    assert "blurry" in capsys.readouterr().err
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    assert evaluate.main(["--model", "identity", "--test-dir", str(empty),
                          "--noise", "gaussian:sigma=25", "--quiet"]) != 0
    assert "empty_folder" in capsys.readouterr().err
    assert evaluate.main(["--model", "bm3d", "--test-dir", str(images),
                          "--noise", "jpeg:quality=10", "--quiet"]) != 0
    assert "Gaussian" in capsys.readouterr().err


def test_evaluate_end_to_end_writes_the_report(tmp_path):
    images = write_images(tmp_path / "imgs", n=2, size=(32, 40), channels=1)
    out_json = tmp_path / "report.json"
    saved = tmp_path / "saved"
    result = _run("kerasdenoise-evaluate", "--model", "identity", "--test-dir", images,
                  "--noise", "gaussian:sigma=25", "--noise", "gaussian:sigma=50",
                  "--color", "gray", "--json", out_json, "--save-images", saved, "--quiet",
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "gaussian:sigma=25" in result.stdout
    report = json.loads(out_json.read_text())
    assert {"model", "dataset", "color", "seed", "results", "command"} <= set(report)
    assert (report["model"], report["dataset"], report["color"], report["seed"]) == (
        "identity", "imgs", "gray", 0)
    assert report["command"].startswith("kerasdenoise-evaluate --model identity --test-dir ")
    assert [r["noise"] for r in report["results"]] == ["gaussian:sigma=25", "gaussian:sigma=50"]
    for entry in report["results"]:
        assert {"noise", "psnr", "ssim", "psnr_input", "n_images", "seconds", "per_image",
                "notes"} <= set(entry)
        assert entry["n_images"] == 2 and len(entry["per_image"]) == 2
        assert {e["name"] for e in entry["per_image"]} == {"img0", "img1"}
        # identity: the output is the clipped noisy image, measured like the input
        assert entry["psnr"] == pytest.approx(entry["psnr_input"], abs=1e-6)
        assert 0 < entry["ssim"] < 1
    low, high = report["results"]
    assert low["psnr_input"] > high["psnr_input"] + 4  # sigma 25 vs 50: about 6 dB
    assert len(list(saved.rglob("*_denoised.png"))) == 4


def test_evaluate_is_repeatable_and_seeded(tmp_path):
    from kerasdenoise.evaluation import evaluate

    images = write_images(tmp_path / "imgs", n=2, size=(24, 24), channels=3)
    first = evaluate("identity", str(images), ["gaussian:sigma=15"], color="rgb", progress=False)
    again = evaluate("identity", str(images), ["gaussian:sigma=15"], color="rgb", progress=False)
    other = evaluate("identity", str(images), ["gaussian:sigma=15"], color="rgb", seed=1,
                     progress=False)
    assert first["results"][0]["per_image"] == again["results"][0]["per_image"]
    assert first["results"][0]["psnr"] != other["results"][0]["psnr"]
    y = evaluate("identity", str(images), ["gaussian:sigma=15"], color="y", progress=False)
    assert y["color"] == "y" and y["results"][0]["n_images"] == 2


def test_denoise_keeps_bit_depth_and_color(tmp_path, capsys):
    import cv2

    denoise = _load_tool("denoise")
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    gray16 = rng.integers(0, 65536, (20, 24), dtype=np.uint16)
    color8 = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / "gray16.png"), gray16)
    cv2.imwrite(str(folder / "color8.jpg"), color8)
    out = tmp_path / "out"
    assert denoise.main([str(folder), "--model", "identity", "-o", str(out)]) == 0
    gray_out = cv2.imread(str(out / "gray16.png"), cv2.IMREAD_UNCHANGED)
    assert gray_out.dtype == np.uint16 and gray_out.shape == (20, 24)
    np.testing.assert_array_equal(gray_out, gray16)  # identity keeps every 16-bit level
    color_out = cv2.imread(str(out / "color8.png"), cv2.IMREAD_UNCHANGED)
    assert color_out.dtype == np.uint8 and color_out.shape == (20, 24, 3)
    capsys.readouterr()
    assert denoise.main([str(tmp_path / "nowhere.png"), "--model", "identity", "-o", str(out)]) != 0
    assert "nowhere.png" in capsys.readouterr().err
    assert denoise.main([str(folder), "--model", str(tmp_path / "gone.tflite"), "-o", str(out)]) != 0
    assert "gone.tflite" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert denoise.main([str(tmp_path / "empty"), "--model", "identity", "-o", str(out)]) != 0
    assert "empty" in capsys.readouterr().err
