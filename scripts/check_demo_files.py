"""Load every file the demo wrote in the consumer it is for; exit 1 if any fails.

JSONL and the JSON envelope: Hugging Face `datasets`; CSV: pandas; Markdown:
GitHub's renderer (cmark-gfm); OpenAI's files also against its chat format
(scripts/check_openai_jsonl.py).
"""
import sys
import tempfile
from pathlib import Path

import cmarkgfm
import datasets
import pandas

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_openai_jsonl import problems  # noqa: E402


def check(path: Path, cache: str) -> str:
    if path.suffix == ".jsonl":
        rows = len(datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=cache))
        if "anthropic" not in path.name and "sharegpt" not in path.name:
            found = list(problems(path.read_bytes()))
            if found:
                raise ValueError(found[0])
        return f"datasets: {rows} rows"
    if path.suffix == ".json":
        rows = len(datasets.load_dataset("json", data_files=str(path), field="conversations", split="train",
                                         cache_dir=cache))
        return f"datasets (field conversations): {rows} rows"
    if path.suffix == ".csv":
        frame = pandas.read_csv(path, encoding="utf-8-sig", keep_default_na=False)
        return f"pandas: {len(frame)} rows x {len(frame.columns)} columns"
    if path.suffix == ".md":
        html = cmarkgfm.github_flavored_markdown_to_html(path.read_text())
        return f"cmark-gfm: {html.count('<blockquote>')} blockquotes"
    raise ValueError(f"no consumer for {path.name}")


def main(directory: str) -> int:
    datasets.disable_progress_bars()
    failed = 0
    with tempfile.TemporaryDirectory() as cache:
        for path in sorted(Path(directory).iterdir()):
            try:
                print(f"  {path.name:40} {check(path, cache)}")
            except Exception as error:  # report every file, then fail
                failed += 1
                print(f"  {path.name:40} FAILED: {error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
