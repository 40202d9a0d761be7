"""The official LLP feature pipeline: a video in, the three feature arrays of the official layout out.

* :mod:`mgn.extract.video`: 80 frames at 8 fps, ResNet-152 and R(2+1)D-18 inputs;
* :mod:`mgn.extract.audio`: 16-kHz audio, VGGish log-mel examples and postprocess;
* :mod:`mgn.extract.backbones`: ResNet-152, R(2+1)D-18 and VGGish, under the published weights' key names;
* :mod:`mgn.extract.weights`: the published weight files, downloaded once and checked;
* :mod:`mgn.extract.pipeline`: one video -> ``vggish (10, 128)``, ``res152 (80, 2048)``, ``r2plus1d_18 (10, 512)``;
* ``python -m mgn.extract``: a folder of videos -> an LLP-format ``feats/`` folder.

Submodules are imported on use (torch is needed only by the networks).
"""
