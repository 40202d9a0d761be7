"""Frames of a video and the two visual networks' inputs, as the official LLP scripts make them.

Official recipe (AVVP-ECCV20 ``scripts/``, ``../shared/reference/backbones/README.md``): ffmpeg writes the video's
frames at 8 fps (``ffmpeg -i video -r 8``), 80 of the ``n`` frames are picked with
``np.round(np.linspace(0, n - 1, 80))`` (so a video of any length gives 80 frames spread over all of it), then

* ResNet-152 (pretrainedmodels' ``TransformImage``): PIL bilinear resize of the shorter side to 256 (= 224 / 0.875),
  centre crop 224, scale to [0, 1], ImageNet mean / std;
* R(2+1)D-18: the same 80 frames as 10 clips of 8, PIL bilinear ``Resize((112, 112))`` (aspect not kept), scale to
  [0, 1], Kinetics mean / std.

One difference, on purpose: the official script writes the frames as JPEG files and reads them back; here they are
decoded in memory (ffmpeg's RGB conversion, no JPEG loss), which is faster and needs no disk.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from mgn.extract.media import MediaError, ffmpeg_exe, probe, run_ffmpeg, window_arguments, window_length
from mgn.labels import FRAMES_PER_SEGMENT, NUM_FRAMES, NUM_SEGMENTS

__all__ = [
    "FRAME_RATE",
    "R2PLUS1D_MEAN",
    "R2PLUS1D_SIZE",
    "R2PLUS1D_STD",
    "RESNET_CROP",
    "RESNET_MEAN",
    "RESNET_RESIZE",
    "RESNET_STD",
    "pick_frame_indices",
    "r2plus1d_inputs",
    "resnet_inputs",
    "sample_frames",
]

FRAME_RATE = 8  # frames per second written by the official ``ffmpeg -r 8``
RESNET_CROP = 224
RESNET_RESIZE = int(math.floor(RESNET_CROP / 0.875))  # 256: pretrainedmodels' scale 0.875
RESNET_MEAN = (0.485, 0.456, 0.406)  # ImageNet, RGB, on [0, 1] values
RESNET_STD = (0.229, 0.224, 0.225)
R2PLUS1D_SIZE = 112
R2PLUS1D_MEAN = (0.43216, 0.394666, 0.37645)  # Kinetics-400
R2PLUS1D_STD = (0.22803, 0.22145, 0.216989)
_DECODE_BUDGET_BYTES = 768 * 2**20  # above this, count the frames first instead of holding them all


def pick_frame_indices(num_decoded: int, num_frames: int = NUM_FRAMES) -> np.ndarray:
    """The official choice of ``num_frames`` frames among ``num_decoded``: ``np.round(np.linspace(0, n - 1, k))``.

    Raises:
        ValueError: no frame was decoded.
    """
    if num_decoded < 1:
        raise ValueError("no frame to pick from")
    return np.round(np.linspace(0, num_decoded - 1, num_frames)).astype(np.int64)


def _decoded_frames(
    path: Path, fps: int, size: tuple[int, int], wanted: set[int] | None, input_arguments: list[str]
) -> tuple[dict[int, np.ndarray], int]:
    """Frames of ``path`` resampled to ``fps`` (ffmpeg ``-r``), streamed: ``{index: (H, W, 3) uint8}``.

    With ``wanted``, only those frame indices are kept (so a long video never sits in memory whole); otherwise all.
    Returns the kept frames and the number of frames decoded.
    """
    width, height = size
    frame_bytes = width * height * 3
    command = [ffmpeg_exe(), "-nostdin", "-v", "error", *input_arguments, "-i", str(path), "-an", "-r", str(fps)]
    command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    kept: dict[int, np.ndarray] = {}
    num_decoded = 0
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        while True:
            frame = process.stdout.read(frame_bytes)
            if len(frame) < frame_bytes:
                break
            if wanted is None or num_decoded in wanted:
                kept[num_decoded] = np.frombuffer(frame, np.uint8).reshape(height, width, 3)
            num_decoded += 1
        errors = process.stderr.read().decode(errors="replace").strip()
    if process.returncode != 0:
        last = errors.splitlines()[-1] if errors else f"exit code {process.returncode}"
        raise MediaError(f"{path}: ffmpeg could not decode the video ({last})")
    return kept, num_decoded


def sample_frames(
    path: str | Path,
    num_frames: int = NUM_FRAMES,
    fps: int = FRAME_RATE,
    *,
    start: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """The official ``num_frames`` RGB frames of a video: decoded at ``fps``, picked evenly over the whole video.

    Args:
        path: a video file ffmpeg can read.
        num_frames: frames to return (80 for LLP: 8 per 1-s segment of a 10-s clip).
        fps: the decoding frame rate (8, as ``ffmpeg -r 8``).
        start, duration: cut this window out of the video first (seconds; None: to the end), as if it were the file.

    Returns:
        ``(num_frames, H, W, 3)`` uint8, RGB, in time order (frames repeat when the video is shorter than
        ``num_frames / fps`` seconds).

    Raises:
        MediaError: the file is missing, empty, corrupt, has no video stream, or decodes to no frame.
    """
    path = Path(path)
    info = probe(path)
    if not info.has_video or info.size is None:
        raise MediaError(f"{path}: no video stream")
    window = window_arguments(start, duration)
    expected_frames = int(math.ceil(window_length(info, start, duration) * fps)) + 2
    wanted = None
    if expected_frames * info.size[0] * info.size[1] * 3 > _DECODE_BUDGET_BYTES:
        # Long or large video: count the frames at a tiny size first, then keep only the picked ones.
        tiny = ["-an", "-r", str(fps), "-s", "2x2", "-f", "rawvideo", "-pix_fmt", "rgb24"]
        counted = run_ffmpeg(path, tiny, "video", window)
        if len(counted) < 12:
            raise MediaError(f"{path}: the video stream decodes to no frame")
        wanted = set(pick_frame_indices(len(counted) // 12, num_frames).tolist())
    frames, num_decoded = _decoded_frames(path, fps, info.size, wanted, window)
    if num_decoded == 0:
        raise MediaError(f"{path}: the video stream decodes to no frame")
    indices = pick_frame_indices(num_decoded, num_frames)
    missing = sorted(set(indices.tolist()) - set(frames))
    if missing:  # the counting pass and the decoding pass disagree: never guess a frame
        raise MediaError(f"{path}: frame {missing[0]} of {num_decoded} could not be decoded")
    return np.stack([frames[i] for i in indices.tolist()])  # (K, H, W, 3)


def _normalised(images: list[Image.Image], mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """PIL RGB images -> ``(K, 3, H, W)`` float32: ``(x / 255 - mean) / std`` as torchvision's ToTensor + Normalize."""
    pixels = np.stack([np.asarray(image, dtype=np.uint8) for image in images])  # (K, H, W, 3)
    scaled = pixels.astype(np.float32) / np.float32(255.0)
    mean_array = np.asarray(mean, dtype=np.float32)
    std_array = np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(((scaled - mean_array) / std_array).transpose(0, 3, 1, 2))  # (K, 3, H, W)


def _check_frames(frames: np.ndarray) -> np.ndarray:
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8 or array.shape[0] == 0:
        raise ValueError(f"frames: expected (K, H, W, 3) uint8 RGB with K >= 1, found {array.shape} {array.dtype}")
    return array


def _resize_shorter_side(image: Image.Image, size: int) -> Image.Image:
    """torchvision ``Resize(size)`` on a PIL image: shorter side to ``size``, the longer one truncated, bilinear."""
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    if short == size:
        return image
    new_short, new_long = size, int(size * long / short)
    new_size = (new_short, new_long) if width <= height else (new_long, new_short)
    return image.resize(new_size, Image.BILINEAR)


def _centre_crop(image: Image.Image, size: int) -> Image.Image:
    """torchvision ``CenterCrop(size)``: offsets rounded with Python's ``round``."""
    width, height = image.size
    top, left = int(round((height - size) / 2.0)), int(round((width - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def resnet_inputs(frames: np.ndarray) -> np.ndarray:
    """ResNet-152 inputs of the official recipe: ``(K, H, W, 3)`` uint8 -> ``(K, 3, 224, 224)`` float32."""
    images = [Image.fromarray(frame) for frame in _check_frames(frames)]
    cropped = [_centre_crop(_resize_shorter_side(image, RESNET_RESIZE), RESNET_CROP) for image in images]
    return _normalised(cropped, RESNET_MEAN, RESNET_STD)


def r2plus1d_inputs(frames: np.ndarray) -> np.ndarray:
    """R(2+1)D-18 inputs of the official recipe: 80 frames ``(80, H, W, 3)`` uint8 -> 10 clips of 8 frames,
    ``(10, 3, 8, 112, 112)`` float32 [clip, channel, time, height, width]."""
    array = _check_frames(frames)
    if array.shape[0] != NUM_SEGMENTS * FRAMES_PER_SEGMENT:
        raise ValueError(f"frames: expected {NUM_SEGMENTS * FRAMES_PER_SEGMENT} frames, found {array.shape[0]}")
    size = (R2PLUS1D_SIZE, R2PLUS1D_SIZE)
    images = [Image.fromarray(frame).resize(size, Image.BILINEAR) for frame in array]
    pixels = _normalised(images, R2PLUS1D_MEAN, R2PLUS1D_STD)  # (80, 3, 112, 112)
    clips = pixels.reshape(NUM_SEGMENTS, FRAMES_PER_SEGMENT, 3, R2PLUS1D_SIZE, R2PLUS1D_SIZE)  # (10, 8, 3, H, W)
    return np.ascontiguousarray(clips.transpose(0, 2, 1, 3, 4))  # (10, 3, 8, 112, 112)
