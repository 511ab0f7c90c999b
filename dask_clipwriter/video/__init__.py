"""The batch job's upstream stages: from source videos to clip records (no Dask in here).

One module per stage: listing (find videos), plan (spans, uuids, chunks), transcode (cut and
encode clips), motion (motion scores), windows (caption windows), frames and previews
(sampled frames, animated WebP), plugins (model plug-ins), stage_settings (every knob),
chunk (one chunk end to end), samples (synthetic videos for the demo and tests).
Import the stage modules directly; this package imports nothing heavy on its own.
"""
