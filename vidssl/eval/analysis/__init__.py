"""Analyses of what a run learned, or of the targets it learns from (``vidssl analyze``).

- :mod:`.speediness`  TransRank's toy experiment (§4.1, Figures 4 and 7): speediness scores of clips
  played at 0.5×, 1×, 2× and 4×, their normalisation, summary and figures
- :mod:`.sts_labels`  the STS labels of one video's clips, drawn and written to labels.json
- :mod:`.sts_figure`  the STS label figure of one clip (STS Fig. 9)

Import the modules themselves: they pull in plotting and optical flow, which
``import vidssl.eval`` should not.
"""
