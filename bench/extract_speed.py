"""Feature-extraction speed on the CPU: one 10-s clip end to end, ours vs the official scripts' order; prints JSON.

What is measured, in one run, with the same (deterministic stand-in) weights for both sides
(``../shared/reference/backbones/weights_rule.py``; timings do not depend on weight values):

* ``ours``: ``mgn.extract.pipeline`` on the clip: ``prepare_inputs`` (ffmpeg decode in memory, PIL
  transforms), VGGish + postprocess, ResNet-152 (batches of ``--batch-size``), R(2+1)D-18 (10 clips at
  once) through the fused CPU modules (``backbones.fuse_for_cpu``), then one MGN forward (``MGN(MGNConfig())``);
  fp32. ``ours_plain``: the same networks without fusion (``cpu_fusion=False``), on the same inputs.
* ``official``: the official scripts' order (AVVP-ECCV20 ``scripts/``): ffmpeg writes JPEG frames at 8 fps into a
  temporary folder, 80 are picked with ``np.round(np.linspace(0, n - 1, 80))``; ResNet-152 loads, transforms and runs
  each image on its own (``extract_rgb_feat.py``); R(2+1)D-18 reloads the frames and runs the 10 clips one by one;
  moviepy writes a 16 kHz WAV and VGGish runs on its examples; one network at a time, plain modules, fp32; then the
  official-order MGN forward (``bench/official_order.py``).
* ``bf16``: with native bf16 (AVX-512 BF16 / AMX) the whole clip again in bf16; without it (``--bf16 auto``) a probe on
  a subset of the clip's inputs (all 10 VGGish examples, ``--probe-frames`` frames, ``--probe-clips`` clips), since
  emulated bf16 is several times slower than fp32; ``--bf16 full`` forces the whole clip, ``off`` skips it.
* ``folder``: ``mgn.extract.folder.extract_folder`` on ``--clips`` copies of the demo videos (renamed to 11-character
  IDs): videos per minute (the folder runner decodes the next video while the networks run).
* ``agreement``: cosine similarity per stream (min and mean over rows) of ours vs official (they differ by the JPEG
  round trip and the audio path), ours vs ours_plain (float rounding only) and bf16 vs fp32.
* ``single_thread``: CPU seconds per item at one thread, official style (one item per forward, plain modules) vs
  ours, on a few of the clip's inputs: hardly disturbed by other processes, unlike the two-thread wall times.
* ``efficiency``: the networks' arithmetic per clip (GFLOP) over their CPU seconds: a load-independent figure of how
  close to the CPU's peak they run, and CPU seconds per thread: about the wall time on an idle machine.

Timings are wall-clock seconds (``cpu_s``: CPU seconds of this process and its ffmpeg children, for context on a
loaded machine); variants run interleaved, ``--repeats`` times, medians reported; the load average is recorded before
and after. The official order runs in the first ``--official-repeats`` repeats only (it is several times slower).
Usage: ``python bench/extract_speed.py [--threads 2] [--repeats 2] [--official-repeats 1] [--clips 2] [--bf16 auto]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.official_order import official_order_forward  # noqa: E402
from mgn.extract import backbones  # noqa: E402
from mgn.extract.audio import SAMPLE_RATE, decode_audio, log_mel_examples, vggish_postprocess  # noqa: E402
from mgn.extract.folder import extract_folder  # noqa: E402
from mgn.extract.media import ffmpeg_exe  # noqa: E402
from mgn.extract.pipeline import (  # noqa: E402
    NETWORKS,
    ExtractorConfig,
    FeatureExtractor,
    ModelInputs,
    _ten_examples,
    prepare_inputs,
)
from mgn.extract.video import (  # noqa: E402
    R2PLUS1D_MEAN,
    R2PLUS1D_SIZE,
    R2PLUS1D_STD,
    RESNET_CROP,
    RESNET_MEAN,
    RESNET_RESIZE,
    RESNET_STD,
    _centre_crop,
    _resize_shorter_side,
    pick_frame_indices,
    r2plus1d_inputs,
    resnet_inputs,
    sample_frames,
)
from mgn.extract.weights import PCAParams  # noqa: E402
from mgn.labels import FRAMES_PER_SEGMENT, NUM_FRAMES, NUM_SEGMENTS  # noqa: E402
from mgn.models import MGN, MGNConfig  # noqa: E402

SHARED = REPO_ROOT.parent / "shared"
DEFAULT_VIDEO = SHARED / "llp" / "BjCEufrlXm4.mp4"
DEMO_VIDEOS = REPO_ROOT / "assets" / "demo" / "video"
STREAMS = {"vggish": "audio", "resnet152": "visual", "r2plus1d_18": "visual_st"}


# machine and timing ---------------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                wanted = (
                    "avx2",
                    "fma",
                    "avx512f",
                    "avx512_bf16",
                    "avx512_vnni",
                    "amx_bf16",
                    "amx_tile",
                    "avx_ne_convert",
                )
                return sorted(flag for flag in line.split(":", 1)[1].split() if flag in wanted)
    except OSError:
        pass
    return []


def _bf16_native() -> bool:
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def _load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def machine() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn_available": torch.backends.mkldnn.is_available(),
        "mkldnn_bf16_native": _bf16_native(),
        "cpu_fusion_available": backbones.cpu_fusion_available(),
        "load_average_1_5_15": _load(),
    }


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class Stages:
    """Wall and CPU seconds of named stages, in order."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def time(self, name: str, function: Callable[[], Any]) -> Any:
        cpu, wall = _cpu_seconds(), time.perf_counter()
        result = function()
        self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - wall
        self.cpu[name] = self.cpu.get(name, 0.0) + _cpu_seconds() - cpu
        return result

    def add(self, name: str, wall: float, cpu: float) -> None:
        self.wall[name] = self.wall.get(name, 0.0) + wall
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu


def _median_stages(runs: list[Stages], total_of: list[str]) -> dict[str, Any]:
    names = list(runs[0].wall)
    totals = [sum(run.wall[name] for name in total_of) for run in runs]
    cpu_totals = [sum(run.cpu[name] for name in total_of) for run in runs]
    return {
        "total_s": round(statistics.median(totals), 2),
        "total_s_each": [round(value, 2) for value in totals],
        "total_cpu_s": round(statistics.median(cpu_totals), 2),
        "stages_s": {name: round(statistics.median(run.wall[name] for run in runs), 3) for name in names},
        "stages_cpu_s": {name: round(statistics.median(run.cpu[name] for run in runs), 3) for name in names},
    }


# weights --------------------------------------------------------------------------------------------------------


def _rule_module(backbones_dir: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("backbone_weights_rule", backbones_dir / "weights_rule.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rule_networks(backbones_dir: Path) -> tuple[dict[str, torch.nn.Module], PCAParams]:
    """The three backbones with the fixtures' stand-in weights (classifier included, dropped by ``build``) and the
    fixture's VGGish PCA parameters."""
    rule = _rule_module(backbones_dir)
    networks = {}
    for name in NETWORKS:
        with safe_open(backbones_dir / f"{name}.safetensors", framework="pt") as handle:
            metadata = handle.metadata()
            if name == "vggish":
                pca = PCAParams(handle.get_tensor("pca_eigen_vectors").float(), handle.get_tensor("pca_means").float())
        shapes = {key: tuple(shape) for key, shape in json.loads(metadata["shapes"]).items()}
        networks[name] = backbones.build(name, rule.rule_state_dict(shapes, int(metadata["seed"])))
    return networks, pca


# ours -----------------------------------------------------------------------------------------------------------


def _mgn_inputs(audio: np.ndarray, visual: np.ndarray, visual_st: np.ndarray) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(array))[None] for array in (audio, visual, visual_st))


def run_ours(video: Path, extractor: FeatureExtractor, mgn: MGN) -> tuple[Stages, dict[str, np.ndarray], ModelInputs]:
    """One clip through our pipeline; the stages as :meth:`FeatureExtractor.extract` runs them, plus MGN."""
    stages = Stages()
    inputs = stages.time("prepare_inputs", lambda: prepare_inputs(video))
    raw = stages.time("vggish", lambda: extractor.run_network("vggish", inputs.log_mel))
    pca = extractor.pca
    eigen_vectors, means = pca.eigen_vectors.numpy(), pca.means.numpy()
    audio = stages.time("vggish_postprocess", lambda: vggish_postprocess(raw, eigen_vectors, means))
    visual = stages.time("resnet152", lambda: extractor.run_network("resnet152", inputs.images))
    visual_st = stages.time("r2plus1d_18", lambda: extractor.run_network("r2plus1d_18", inputs.clips))
    with torch.inference_mode():
        stages.time("mgn", lambda: mgn(*_mgn_inputs(audio, visual, visual_st)))
    return stages, {"audio_raw": raw, "audio": audio, "visual": visual, "visual_st": visual_st}, inputs


def run_networks_only(inputs: ModelInputs, extractor: FeatureExtractor) -> tuple[Stages, dict[str, np.ndarray]]:
    stages = Stages()
    features = {
        STREAMS[name]: stages.time(name, lambda name=name: extractor.run_network(name, _batch(inputs, name)))
        for name in NETWORKS
    }
    return stages, features


def _batch(inputs: ModelInputs, network: str) -> np.ndarray:
    return {"vggish": inputs.log_mel, "resnet152": inputs.images, "r2plus1d_18": inputs.clips}[network]


def prepare_breakdown(video: Path) -> dict[str, float]:
    """``prepare_inputs``'s parts, timed one by one."""
    stages = Stages()
    frames = stages.time("decode_video", lambda: sample_frames(video))
    waveform = stages.time("decode_audio", lambda: decode_audio(video)[0])
    stages.time("log_mel", lambda: _ten_examples(waveform))
    stages.time("resnet_transforms", lambda: resnet_inputs(frames))
    stages.time("r2plus1d_transforms", lambda: r2plus1d_inputs(frames))
    return {name: round(value, 3) for name, value in stages.wall.items()}


# the official order ---------------------------------------------------------------------------------------------


def _to_tensor_normalised(image: Image.Image, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """torchvision ``ToTensor()`` + ``Normalize(mean, std)`` on one PIL image: ``(3, H, W)`` float32."""
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
    return (pixels - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


def _load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def run_official(
    video: Path, networks: dict[str, torch.nn.Module], pca: PCAParams, mgn: MGN, scratch: Path
) -> tuple[Stages, dict[str, np.ndarray]]:
    """The official scripts, one after the other, on the plain modules (fp32)."""
    from moviepy import AudioFileClip

    stages = Stages()
    frames_dir = scratch / "frames"
    shutil.rmtree(frames_dir, ignore_errors=True)
    frames_dir.mkdir(parents=True)
    command = [
        ffmpeg_exe(),
        "-nostdin",
        "-loglevel",
        "error",
        "-i",
        str(video),
        "-r",
        "8",
        str(frames_dir / "%06d.jpg"),
    ]
    stages.time("ffmpeg_jpeg_frames", lambda: subprocess.run(command, check=True))

    def picked() -> list[Path]:
        files = sorted(frames_dir.glob("*.jpg"))
        return [files[index] for index in pick_frame_indices(len(files), NUM_FRAMES)]

    resnet, r2plus1d, vggish = networks["resnet152"], networks["r2plus1d_18"], networks["vggish"]
    forward_wall = forward_cpu = 0.0
    rows = []
    with torch.no_grad():
        cpu, wall = _cpu_seconds(), time.perf_counter()
        for path in picked():  # extract_rgb_feat.py: one image at a time
            image = _centre_crop(_resize_shorter_side(_load_rgb(path), RESNET_RESIZE), RESNET_CROP)
            tensor = _to_tensor_normalised(image, RESNET_MEAN, RESNET_STD)[None]
            start_cpu, start = _cpu_seconds(), time.perf_counter()
            rows.append(resnet(tensor))
            forward_wall += time.perf_counter() - start
            forward_cpu += _cpu_seconds() - start_cpu
        stages.add("resnet152", time.perf_counter() - wall, _cpu_seconds() - cpu)
        stages.add("resnet152_forward_only", forward_wall, forward_cpu)
        visual = torch.cat(rows).numpy()

        def r2plus1d_clips() -> np.ndarray:  # extract_3D_feat.py: reload the frames, one clip at a time
            files = picked()
            outputs = []
            for segment in range(NUM_SEGMENTS):
                clip = [
                    _to_tensor_normalised(
                        _load_rgb(path).resize((R2PLUS1D_SIZE, R2PLUS1D_SIZE), Image.BILINEAR),
                        R2PLUS1D_MEAN,
                        R2PLUS1D_STD,
                    )
                    for path in files[segment * FRAMES_PER_SEGMENT : (segment + 1) * FRAMES_PER_SEGMENT]
                ]
                outputs.append(r2plus1d(torch.stack(clip, dim=1)[None]))  # (1, 3, 8, 112, 112)
            return torch.cat(outputs).numpy()

        visual_st = stages.time("r2plus1d_18", r2plus1d_clips)

        wav = scratch / "audio.wav"

        def write_wav() -> None:
            clip = AudioFileClip(str(video))
            try:
                clip.write_audiofile(str(wav), fps=SAMPLE_RATE, logger=None)
            finally:
                clip.close()

        stages.time("moviepy_wav", write_wav)

        def vggish_features() -> tuple[np.ndarray, np.ndarray]:
            with wave.open(str(wav), "rb") as handle:
                channels = handle.getnchannels()
                samples = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
            waveform = (samples.reshape(-1, channels) / 32768.0).mean(axis=1)
            examples = log_mel_examples(waveform, SAMPLE_RATE)  # torchvggish's waveform_to_examples
            examples = examples[pick_frame_indices(len(examples), NUM_SEGMENTS)]
            raw = vggish(torch.from_numpy(examples[:, None]).float()).numpy()
            return raw, vggish_postprocess(raw, pca.eigen_vectors.numpy(), pca.means.numpy())

        raw, audio = stages.time("vggish", vggish_features)
        stages.time("mgn", lambda: official_order_forward(mgn, *_mgn_inputs(audio, visual, visual_st)))
    return stages, {"audio_raw": raw, "audio": audio, "visual": visual, "visual_st": visual_st}


def gflop_per_clip(networks: dict[str, torch.nn.Module]) -> dict[str, float]:
    """Arithmetic of one clip per network (``torch.utils.flop_counter``: 2 per multiply-add): 80 frames, 10 clips,
    10 examples."""
    from torch.utils.flop_counter import FlopCounterMode

    shapes = {"vggish": (1, 1, 96, 64), "resnet152": (1, 3, 224, 224), "r2plus1d_18": (1, 3, 8, 112, 112)}
    items = {"vggish": NUM_SEGMENTS, "resnet152": NUM_FRAMES, "r2plus1d_18": NUM_SEGMENTS}
    result = {}
    for name in NETWORKS:
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            networks[name](torch.zeros(shapes[name]))
        result[name] = round(counter.get_total_flops() * items[name] / 1e9, 1)
    return result


def single_thread_networks(
    inputs: ModelInputs, networks: dict[str, torch.nn.Module], ours: FeatureExtractor, items: dict[str, int]
) -> dict[str, Any]:
    """CPU seconds per item at one thread, official style (plain module, one item per forward) vs ours (fused,
    batched), on a few of the clip's inputs: a comparison that other processes on the machine hardly disturb (one
    thread waits on no other; at two threads a small forward waits for the other thread at every operation), and, over
    a whole clip's items, the networks' CPU-time ratio."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    result: dict[str, Any] = {}
    try:
        for name in NETWORKS:
            batch = _batch(inputs, name)[: items[name]]
            with torch.no_grad():
                networks[name](torch.from_numpy(batch[:1]))  # warm-up
                start = time.process_time()
                for index in range(len(batch)):
                    networks[name](torch.from_numpy(batch[index : index + 1]))
                official = (time.process_time() - start) / len(batch)
            ours.run_network(name, batch)  # warm-up: kernels and weight layout for this shape and thread count
            start = time.process_time()
            ours.run_network(name, batch)
            fused = (time.process_time() - start) / len(batch)
            result[name] = {
                "items": len(batch),
                "official_cpu_s_per_item": round(official, 4),
                "ours_cpu_s_per_item": round(fused, 4),
                "ratio": round(official / fused, 2),
            }
    finally:
        torch.set_num_threads(threads)
    per_clip = {"vggish": NUM_SEGMENTS, "resnet152": NUM_FRAMES, "r2plus1d_18": NUM_SEGMENTS}
    official_clip = sum(per_clip[n] * result[n]["official_cpu_s_per_item"] for n in NETWORKS)
    ours_clip = sum(per_clip[n] * result[n]["ours_cpu_s_per_item"] for n in NETWORKS)
    result["clip_networks"] = {
        "official_cpu_s": round(official_clip, 2),
        "ours_cpu_s": round(ours_clip, 2),
        "ratio": round(official_clip / ours_clip, 2),
    }
    return result


# agreement, bf16, folder ----------------------------------------------------------------------------------------


def cosine(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Row-wise cosine similarity of two ``(N, D)`` arrays: min and mean."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    values = np.where(norms > 0, (a * b).sum(axis=1) / np.maximum(norms, 1e-300), 1.0)
    return {"min": round(float(values.min()), 6), "mean": round(float(values.mean()), 6)}


def agreement(ours: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, Any]:
    result = {}
    for stream in ours:
        if stream in other:
            scale = float(np.abs(ours[stream]).max()) or 1.0
            result[stream] = {
                **cosine(ours[stream], other[stream]),
                "max_abs_diff_rel": float(f"{np.abs(ours[stream] - other[stream]).max() / scale:.3g}"),
            }
    return result


def bf16_probe(
    inputs: ModelInputs, fp32: FeatureExtractor, bf16: FeatureExtractor, frames: int, clips: int, repeats: int
) -> dict[str, Any]:
    """bf16 vs fp32 on a subset of the clip's inputs: seconds per item (medians, interleaved) and cosine."""
    subsets = {"vggish": inputs.log_mel, "resnet152": inputs.images[:frames], "r2plus1d_18": inputs.clips[:clips]}
    result = {}
    for name, batch in subsets.items():
        times: dict[str, list[float]] = {"fp32": [], "bf16": []}
        outputs = {}
        for _ in range(repeats):
            for precision, extractor in (("fp32", fp32), ("bf16", bf16)):
                start = time.perf_counter()
                outputs[precision] = extractor.run_network(name, batch)
                times[precision].append((time.perf_counter() - start) / len(batch))
        fp32_s, bf16_s = statistics.median(times["fp32"]), statistics.median(times["bf16"])
        result[STREAMS[name]] = {
            "items": len(batch),
            "fp32_s_per_item": round(fp32_s, 4),
            "bf16_s_per_item": round(bf16_s, 4),
            "bf16_speedup": round(fp32_s / bf16_s, 3),
            "cosine": cosine(outputs["fp32"], outputs["bf16"]),
        }
    return result


def folder_throughput(extractor: FeatureExtractor, clips: int, scratch: Path) -> dict[str, Any]:
    demos = sorted(DEMO_VIDEOS.glob("*.mp4"))
    if not demos:
        return {"skipped": f"no demo videos in {DEMO_VIDEOS}"}
    videos = scratch / "folder_videos"
    videos.mkdir()
    for index in range(clips):
        shutil.copy(demos[index % len(demos)], videos / f"benchclip{index:02d}.mp4")  # 11-character IDs
    start = time.perf_counter()
    report = extract_folder(videos, scratch / "folder_out", extractor, progress=False)
    seconds = time.perf_counter() - start
    return {
        "clips": clips,
        "computed": len(report.computed),
        "failed": len(report.failed),
        "seconds": round(seconds, 2),
        "seconds_per_video": round(seconds / clips, 2),
        "videos_per_minute": round(60 * clips / seconds, 2),
    }


# main -----------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="the 10-s clip (default: the real LLP clip)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads")
    parser.add_argument("--batch-size", type=int, default=ExtractorConfig.batch_size, help="ResNet-152 batch")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats of ours and ours_plain")
    parser.add_argument("--official-repeats", type=int, default=1, help="how many of those repeats run the official")
    parser.add_argument("--clips", type=int, default=2, help="videos for the folder throughput (0: skip)")
    parser.add_argument("--bf16", choices=("auto", "full", "off"), default="auto", help="see the module docstring")
    parser.add_argument("--probe-frames", type=int, default=2, help="bf16 probe: ResNet-152 frames")
    parser.add_argument("--probe-clips", type=int, default=1, help="bf16 probe: R(2+1)D-18 clips")
    parser.add_argument("--single-frames", type=int, default=8, help="single-thread comparison: ResNet-152 frames")
    parser.add_argument("--no-plain", action="store_true", help="skip the unfused networks (ours_plain)")
    parser.add_argument("--no-official", action="store_true", help="skip the official order")
    parser.add_argument("--reference", type=Path, default=SHARED / "reference" / "backbones", help="weights rule dir")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if not args.video.is_file():
        raise SystemExit(f"video not found: {args.video}")
    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {
        "machine": machine(),
        "config": {
            "video": str(args.video),
            "threads": args.threads,
            "batch_size": args.batch_size,
            "repeats": args.repeats,
            "official_repeats": min(args.official_repeats, args.repeats),
            "weights": "weights_rule stand-ins (timings do not depend on weight values)",
        },
    }
    started = time.perf_counter()
    networks, pca = rule_networks(args.reference)
    config = ExtractorConfig(device="cpu", batch_size=args.batch_size)
    ours = FeatureExtractor(networks, pca, config)
    plain = FeatureExtractor(networks, pca, ExtractorConfig(device="cpu", batch_size=args.batch_size, cpu_fusion=False))
    torch.manual_seed(0)
    mgn = MGN(MGNConfig()).eval()
    # warm-up at the shapes the runs use (oneDNN builds its kernels per shape; ours reorders its weights once): ours and
    # plain in chunks as the pipeline cuts them, the official order one item at a time
    for name in NETWORKS:
        item = {"vggish": (1, 96, 64), "resnet152": (3, 224, 224), "r2plus1d_18": (3, 8, 112, 112)}[name]
        rows = NUM_FRAMES if name == "resnet152" else NUM_SEGMENTS
        sizes = {len(chunk) for chunk in np.array_split(np.arange(rows), -(-rows // args.batch_size))}
        noise = np.random.default_rng(0).standard_normal((max(sizes), *item)).astype(np.float32)  # no repeated rows
        for size in sorted(sizes):
            ours.run_network(name, noise[:size])
            plain.run_network(name, noise[:size])
        plain.run_network(name, noise[:1])
    result["setup_s"] = round(time.perf_counter() - started, 2)
    result["gflop_per_clip"] = gflop_per_clip(networks)

    runs: dict[str, list[Stages]] = {"ours": [], "official": [], "ours_plain_networks": []}
    with tempfile.TemporaryDirectory(prefix="extract_speed_") as scratch_name:
        scratch = Path(scratch_name)
        for repeat in range(args.repeats):  # interleaved
            stages, ours_features, inputs = run_ours(args.video, ours, mgn)
            runs["ours"].append(stages)
            if not args.no_official and repeat < args.official_repeats:
                stages, official_features = run_official(args.video, networks, pca, mgn, scratch)
                runs["official"].append(stages)
            if not args.no_plain:
                stages, plain_features = run_networks_only(inputs, plain)
                runs["ours_plain_networks"].append(stages)
        ours_stage_names = ["prepare_inputs", "vggish", "vggish_postprocess", "resnet152", "r2plus1d_18", "mgn"]
        result["ours_fp32"] = _median_stages(runs["ours"], ours_stage_names)
        result["ours_fp32"]["prepare_breakdown_s"] = prepare_breakdown(args.video)
        if runs["official"]:
            official_names = ["ffmpeg_jpeg_frames", "resnet152", "r2plus1d_18", "moviepy_wav", "vggish", "mgn"]
            result["official_order_fp32"] = _median_stages(runs["official"], official_names)
        if runs["ours_plain_networks"]:
            result["ours_plain_networks_fp32"] = _median_stages(runs["ours_plain_networks"], list(NETWORKS))
            result["fusion_speedup"] = {
                kind: {
                    name: round(result["ours_plain_networks_fp32"][key][name] / result["ours_fp32"][key][name], 2)
                    for name in NETWORKS
                }
                for kind, key in (("wall", "stages_s"), ("cpu", "stages_cpu_s"))
            }

        agreements: dict[str, Any] = {}
        if runs["official"]:
            agreements["ours_vs_official"] = agreement(ours_features, official_features)
        if runs["ours_plain_networks"]:
            fused = {stream: ours_features[stream] for stream in ("audio_raw", "visual", "visual_st")}
            unfused = {"audio_raw": plain_features["audio"], **{s: plain_features[s] for s in ("visual", "visual_st")}}
            agreements["ours_fused_vs_plain"] = agreement(fused, unfused)

        result["single_thread"] = single_thread_networks(
            inputs, networks, ours, {"vggish": NUM_SEGMENTS, "resnet152": args.single_frames, "r2plus1d_18": 8}
        )

        native = _bf16_native()
        mode = "off" if args.bf16 == "off" else ("full" if args.bf16 == "full" or native else "probe")
        result["bf16"] = {"native_on_this_cpu": native, "mode": mode}
        if mode != "off":
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the no-native-bf16 warning: recorded above
                bf16 = FeatureExtractor(
                    networks, pca, ExtractorConfig(device="cpu", batch_size=args.batch_size, precision="bf16")
                )
            if mode == "probe":
                result["bf16"]["probe"] = bf16_probe(inputs, ours, bf16, args.probe_frames, args.probe_clips, 1)
            else:
                bf16_runs = []
                for _ in range(args.repeats):
                    stages, bf16_features, _inputs = run_ours(args.video, bf16, mgn)
                    bf16_runs.append(stages)
                result["bf16"]["ours_bf16"] = _median_stages(bf16_runs, ours_stage_names)
                agreements["bf16_vs_fp32"] = agreement(ours_features, bf16_features)
        result["agreement"] = agreements

        if args.clips > 0:
            result["folder"] = folder_throughput(ours, args.clips, scratch)

    ours_total = result["ours_fp32"]["total_s"]
    network_cpu = sum(result["ours_fp32"]["stages_cpu_s"][name] for name in NETWORKS)
    result["efficiency"] = {  # load-independent: arithmetic per CPU second, and the wall time it implies when idle
        "networks_gflop": round(sum(result["gflop_per_clip"].values()), 1),
        "networks_cpu_s": round(network_cpu, 2),
        "gflops_per_core": round(sum(result["gflop_per_clip"].values()) / network_cpu, 1),
        "end_to_end_cpu_s_per_thread": round(result["ours_fp32"]["total_cpu_s"] / args.threads, 2),
    }
    targets: dict[str, Any] = {"fp32_end_to_end_s": ours_total, "fp32_under_20_s": ours_total < 20.0}
    if "official_order_fp32" in result:
        official = result["official_order_fp32"]
        speedup = official["total_s"] / ours_total
        targets |= {
            "fp32_speedup_vs_official": round(speedup, 2),
            "fp32_cpu_speedup_vs_official": round(official["total_cpu_s"] / result["ours_fp32"]["total_cpu_s"], 2),
            "fp32_at_least_1_5x": speedup >= 1.5,
        }
    if "ours_bf16" in result["bf16"]:
        targets["bf16_end_to_end_s"] = result["bf16"]["ours_bf16"]["total_s"]
        targets["bf16_under_20_s"] = targets["bf16_end_to_end_s"] < 20.0
    result["targets"] = targets
    result["load_average_end_1_5_15"] = _load()
    result["wall_s"] = round(time.perf_counter() - started, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
