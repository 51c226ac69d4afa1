"""The results file: everything between a finished video and the lines on disk, and back.

- `record/`: building a video's record (frames, object summary, RLE masks, schema);
- `spool`: a record's frames on disk while its video runs, and the sidecar files;
- `jsonl`: the durable JSONL results and the failure ledger; `index`: the index beside them;
- `jsonstream`, `reader`: reading records back without loading whole lines;
- `keys`: the resume key (video, prompt) and file names derived from it;
- `video_list`: the list of videos as written; `orphans`: sidecars no record points to;
- `merge`: combining the results of sharded runs; `maskcrop`: RLE from a mask's box crop.
"""
