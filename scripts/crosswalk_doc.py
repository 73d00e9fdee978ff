"""Write docs/tracking-statuses.md from the crosswalk tables, so the published doc never drifts.

python scripts/crosswalk_doc.py          # rewrite the doc
python scripts/crosswalk_doc.py --check  # exit 1 when the committed doc is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "tracking-statuses.md"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from aftersale.tracking.providers.doc import render_markdown

    text = render_markdown()
    if "--check" in argv:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{DOC.relative_to(ROOT)} is out of date: run {sys.argv[0]}\n")
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {DOC.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
