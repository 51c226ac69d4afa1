"""Looking at results: a static HTML report of a results file (`lang-sam-report`).

- `collect`: per video counts, timings, objects' lifespans and best frames, thumbnails, failures;
- `page`: the HTML page (no script; every user string escaped);
- `cli`: the command line.
"""
