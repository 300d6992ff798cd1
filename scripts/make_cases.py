#!/usr/bin/env python3
"""Writes real inputs for the real models, and onnxruntime's outputs for them, as .npy files:

    target/models/cases/<model>/<case>/inputs/<input name>.npy
    target/models/cases/<model>/<case>/expected/<output name>.npy

A streaming case is a folder of steps (`step_000`, `step_001`, ...), each laid out as above; the
state inputs are given only in step 0 (zeros) and are carried by the session afterwards.

Inputs come from real data shipped by packages: scikit-image's sample photographs and scanned
text, the spoken WAVs of Debian's alsa-utils, and espeak-ng speech. Run scripts/fetch-models.sh
first. Usage: scripts/make_cases.py [--models-dir target/models]
"""
import argparse
import os
import subprocess
import tempfile
import wave

import numpy as np
import onnxruntime as ort
import skimage.data
import skimage.transform

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def nchw(image_hwc):
    return np.ascontiguousarray(image_hwc.transpose(2, 0, 1)[None].astype(np.float32))


def rgb(image):
    return np.stack([image] * 3, axis=-1) if image.ndim == 2 else image[..., :3]


def resized(image, h, w):
    """Float RGB in [0, 1], resized to h x w."""
    return skimage.transform.resize(rgb(image), (h, w), anti_aliasing=True).astype(np.float32)


def imagenet(image, h, w):
    return nchw((resized(image, h, w) - IMAGENET_MEAN) / IMAGENET_STD)


def paddle_text(image, h, w):
    return nchw((resized(image, h, w) - 0.5) / 0.5)


def read_wav_16k(path):
    with wave.open(path) as f:
        rate, width, channels = f.getframerate(), f.getsampwidth(), f.getnchannels()
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16 if width == 2 else np.uint8)
    pcm = pcm.reshape(-1, channels)[:, 0].astype(np.float32)
    if rate != 16000:
        t_out = np.arange(int(len(pcm) * 16000 / rate)) / 16000
        pcm = np.interp(t_out, np.arange(len(pcm)) / rate, pcm).astype(np.float32)
    return pcm


def espeak_16k(text, voice="en"):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "clip.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", "120", "-w", path, text], check=True)
        return read_wav_16k(path)


class Writer:
    def __init__(self, root):
        self.root = root
        self.count = 0

    def case(self, model, case, session, inputs, feed_names=None):
        """Runs `session` on `inputs`, writes inputs (all, or `feed_names`) and outputs."""
        outputs = session.run(None, inputs)
        folder = os.path.join(self.root, model, case)
        for sub, named in (("inputs", {k: v for k, v in inputs.items()
                                       if feed_names is None or k in feed_names}),
                           ("expected", {o.name: v for o, v in zip(session.get_outputs(), outputs)})):
            os.makedirs(os.path.join(folder, sub), exist_ok=True)
            for name, value in named.items():
                np.save(os.path.join(folder, sub, name.replace("/", "_") + ".npy"), value)
        self.count += 1
        return outputs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models-dir", default="target/models")
    args = parser.parse_args()
    onnx_dir = os.path.join(args.models_dir, "onnx")
    out = Writer(os.path.join(args.models_dir, "cases"))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    session = lambda name: ort.InferenceSession(os.path.join(onnx_dir, name + ".onnx"), opts)

    mobilenet = session("mobilenet_v2")
    for name in ("chelsea", "astronaut", "coffee"):
        out.case("mobilenet_v2", name, mobilenet, {"input": imagenet(getattr(skimage.data, name)(), 224, 224)})

    page = skimage.data.page()  # a scanned page of text, 191 x 384
    det = session("ppocr_v4_det")
    out.case("ppocr_v4_det", "page", det, {"x": imagenet(page, 192, 384)})
    out.case("ppocr_v4_det", "text", det, {"x": imagenet(skimage.data.text(), 160, 448)})
    line = page[10:40, 10:370]  # one line of the page
    out.case("ppocr_v4_rec", "page_line", session("ppocr_v4_rec"), {"x": paddle_text(line, 48, 320)})
    out.case("ppocr_cls", "page_line", session("ppocr_cls"), {"x": paddle_text(line, 48, 192)})

    speech = read_wav_16k("/usr/share/sounds/alsa/Front_Center.wav")
    for vad_name in ("silero_vad", "silero_vad_op18_ifless"):
        vad = session(vad_name)
        state = np.zeros((2, 1, 128), np.float32)
        sr = np.array(16000, np.int64)
        for step in range(min(len(speech) // 512, 40)):
            chunk = (speech[step * 512:(step + 1) * 512] / 32768.0)[None].astype(np.float32)
            feed = {"input": chunk, "state": state, "sr": sr}
            _, state = out.case(vad_name, f"front_center/step_{step:03d}", vad, feed,
                                None if step == 0 else {"input", "sr"})

    mel, embedding, jarvis = session("oww_melspectrogram"), session("oww_embedding"), session("oww_hey_jarvis")
    scores = {}
    for phrase, voice in (("hey jarvis", "en-us+m3"), ("good morning", "en-us+m3")):
        name = phrase.replace(" ", "_")
        audio = np.concatenate([np.zeros(8000, np.float32), espeak_16k(phrase, voice), np.zeros(16000, np.float32)])
        (spec,) = out.case("oww_melspectrogram", name, mel, {"input": audio[None]})
        frames = spec[0, 0] / 10.0 + 2.0  # openWakeWord's scaling of the mel features: [time, 32]
        windows = np.stack([frames[i:i + 76] for i in range(0, len(frames) - 75, 8)])[..., None]
        windows = windows.astype(np.float32)
        out.case("oww_embedding", name + "_window0", embedding, {"input_1": windows[:1]})
        (emb,) = embedding.run(None, {"input_1": windows})
        emb = emb.reshape(len(windows), 96)
        # The classifier sees the last 16 embeddings; keep the position where it scores highest.
        runs = [emb[end - 16:end][None].astype(np.float32) for end in range(16, len(emb) + 1)]
        best = max(runs, key=lambda x: float(jarvis.run(None, {"x.1": x})[0].ravel()[0]))
        (score,) = out.case("oww_hey_jarvis", name, jarvis, {"x.1": best})
        scores[phrase] = float(score.ravel()[0])
    print(f"wrote {out.count} cases; wake-word scores: " +
          ", ".join(f"'{p}' {v:.3f}" for p, v in scores.items()))


if __name__ == "__main__":
    main()
