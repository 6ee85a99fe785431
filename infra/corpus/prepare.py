#!/usr/bin/env python3
"""Prepare the bundled Wikipedia sample into WikiText-style raw text splits.

Input : a MediaWiki XML dump (bz2), e.g. .deps/corpus/enwiki-sample.xml.bz2
Output: <out>/wiki.calibration.raw, wiki.validation.raw, wiki.test.raw, manifest.json

The outputs are checked against a committed SHA256SUMS file, so every machine
evaluates on byte-identical text. When the outputs already exist and match, the
script returns at once (a second `make setup` takes seconds). Standard library
only; deterministic (no dict-order, locale or time dependence).

Usage:
  prepare.py --source dump.xml.bz2 --out DIR --checksums SHA256SUMS [--update-checksums]
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import html
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

# MARK: - Constants

SPLITS = ("calibration", "validation", "test")
# Position of an article in hash order, modulo 5, decides its split: 1/5
# calibration, 1/5 validation, 3/5 test. Hash order (not title order) so the
# alphabetical clustering of the sample (all titles start with "A") does not
# bias a split; cycling over the hash order (not thresholding the hash) so the
# counts are exactly 20/20/60 % even on a sample of ~100 articles.
SPLIT_CYCLE = ("calibration", "validation", "test", "test", "test")
MIN_ARTICLE_CHARS = 500
OUTPUT_NAME = "wiki.{split}.raw"
FORMAT_VERSION = 2  # bump when the cleaning changes the output on purpose

# Sections that hold only references, link lists or bibliography: dropped whole
# (with their subsections), like WikiText keeps only article prose.
DROPPED_SECTIONS = {
    "references", "external links", "see also", "further reading", "notes",
    "bibliography", "sources", "citations", "footnotes", "notes and references",
    "references and notes", "works cited", "literature", "primary sources",
    "secondary sources", "external links and references", "other reading",
    "selected bibliography", "general references", "specific references",
}
# Tags whose whole content is not prose.
DROPPED_ELEMENTS = (
    "ref", "references", "gallery", "math", "chem", "timeline", "score",
    "imagemap", "syntaxhighlight", "source", "hiero", "graph", "mapframe",
)
LINK_NAMESPACES_DROPPED = {"file", "image", "media", "category"}
DISAMBIGUATION_TEMPLATE = re.compile(
    r"\{\{\s*(disambiguation|disambig|dab|hndis|geodis|surname|given name|set index)\b",
    re.IGNORECASE,
)
INTERLANGUAGE_PREFIX = re.compile(r"^[a-z]{2,3}(-[a-z0-9-]+)?$")

# Innermost templates that render visible inline text, and how to keep it.
# Everything else in `{{…}}` (infoboxes, citations, pronunciations) is dropped.
INLINE_TEMPLATE = re.compile(r"\{\{\s*([^{}|]+?)\s*(\|[^{}]*)?\}\}")
RANGE_WORDS = {"-", "–", "to", "and", "or", "by", "x", "×", "+/-", "±"}
UNIT_WORDS = {"C": "°C", "F": "°F", "K": "K"}

# MARK: - Wiki markup cleaning


def render_inline_template(match: re.Match) -> str:
    """Text of a unit conversion / language / formatting template, else keep it."""
    name = match.group(1).strip().lower()
    if name.startswith("formatnum:"):
        return match.group(1).split(":", 1)[1].strip()
    params = [p.strip() for p in (match.group(2) or "").split("|")[1:]]
    positional = [p for p in params if "=" not in p]
    if name in ("convert", "cvt") and positional:
        # {{convert|10|km|mi}} -> "10 km"; {{convert|10|-|20|km}} -> "10–20 km"
        words = [positional[0]]
        rest = positional[1:]
        while len(rest) >= 2 and rest[0] in RANGE_WORDS:
            words.append(("–" if rest[0] in ("-", "–") else f" {rest[0]} ") + rest[1])
            rest = rest[2:]
        unit = UNIT_WORDS.get(rest[0], rest[0]) if rest else ""
        return "".join(words) + (f" {unit}" if unit else "")
    if name in ("lang", "transl") and len(positional) >= 2:
        return positional[-1]
    if name in ("nowrap", "nobr", "math", "mvar", "small", "smallcaps", "sc", "em",
                "var", "abbr", "keypress", "script") and positional:
        return positional[0]
    if name == "as of" and positional:
        return "As of " + " ".join(positional[:3])
    if name in ("circa", "c.") and not positional:
        return "c."
    if name in ("frac", "sfrac") and positional:
        return "/".join(positional) if len(positional) <= 2 else \
            f"{positional[0]} {positional[1]}/{positional[2]}"
    return match.group(0)


def strip_nested(text: str) -> str:
    """Remove templates `{{…}}` and tables `{|…|}`, both nestable in each other.

    A stack scanner instead of regexes because templates nest inside tables and
    vice versa. An opener that is never closed is treated as literal text
    (dropped opener only), so one broken template cannot swallow an article.
    """
    out: list[str] = []
    stack: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        two = text[i:i + 2]
        if two == "{{":
            stack.append(("T", i))
            i += 2
            continue
        if two == "{|":
            stack.append(("B", i))
            i += 2
            continue
        if stack:
            kind = stack[-1][0]
            if two == "}}" and kind == "T":
                stack.pop()
                i += 2
                continue
            if two == "|}" and kind == "B":
                stack.pop()
                i += 2
                continue
            i += 1
            continue
        out.append(text[i])
        i += 1
    if stack:
        start = stack[0][1]
        return "".join(out) + strip_nested(text[start + 2:])
    return "".join(out)


def render_link(inner: str) -> str:
    """Render the inside of one `[[…]]` link as its visible text."""
    target, sep, label = inner.partition("|")
    target = target.strip()
    if ":" in target and not target.startswith(":"):
        prefix = target.split(":", 1)[0].strip().lower()
        if prefix in LINK_NAMESPACES_DROPPED:
            return ""
        if not sep and INTERLANGUAGE_PREFIX.match(prefix):
            return ""
    if sep:
        # `[[a|b|c]]` (file-style options) shows the last part; `[[a|]]` (pipe
        # trick) shows the target without namespace and parenthetical.
        label = label.rsplit("|", 1)[-1].strip() if "|" in label else label.strip()
        if label:
            return label
        bare = target.lstrip(":").split(":", 1)[-1]
        return re.sub(r"\s*\([^)]*\)$", "", bare)
    return target.lstrip(":")


def strip_links(text: str) -> str:
    """Replace `[[…]]` links (nestable, e.g. in file captions) by their text."""
    out: list[str] = []
    stack: list[list[str]] = []
    i, n = 0, len(text)
    while i < n:
        two = text[i:i + 2]
        if two == "[[":
            stack.append([])
            i += 2
            continue
        if two == "]]" and stack:
            rendered = render_link("".join(stack.pop()))
            (stack[-1] if stack else out).append(rendered)
            i += 2
            continue
        (stack[-1] if stack else out).append(text[i])
        i += 1
    # Unclosed openers: keep their text as it is.
    for part in stack:
        out.append("".join(part))
    return "".join(out)


RE_COMMENT = re.compile(r"<!--.*?(-->|$)", re.DOTALL)
RE_SELF_CLOSING = re.compile(
    r"<(%s)\b[^>]*?/\s*>" % "|".join(DROPPED_ELEMENTS), re.IGNORECASE)
RE_ELEMENT = re.compile(
    r"<(%s)\b[^>]*>.*?</\1\s*>" % "|".join(DROPPED_ELEMENTS), re.IGNORECASE | re.DOTALL)
RE_NOWIKI = re.compile(r"</?nowiki\s*/?>", re.IGNORECASE)
RE_BR = re.compile(r"<br\s*/?\s*>", re.IGNORECASE)
RE_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*\b[^>]*>")
RE_EXTERNAL_LABELED = re.compile(r"\[(?:https?:|ftp:)?//[^\s\]]+\s+([^\]]*)\]")
RE_EXTERNAL_BARE = re.compile(r"\[(?:https?:|ftp:)?//[^\s\]]+\]")
RE_QUOTES = re.compile(r"'{2,5}")
RE_MAGIC = re.compile(r"__[A-Z]+__")
RE_HEADING = re.compile(r"^(={1,6})\s*(.*?)\s*\1\s*$")
RE_SPACES = re.compile(r"[ \t\u00a0]+")
RE_EMPTY_PARENS = re.compile(r"\(\s*[,;:]?\s*\)")
RE_PAREN_LEAD_PUNCT = re.compile(r"\(\s*(?:[,;:]\s*)+")
RE_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:!?)])")
RE_SPACE_AFTER_PAREN = re.compile(r"\( +")


def clean_inline(text: str) -> str:
    """Strip all markup that is not line structure (headings, lists)."""
    text = RE_COMMENT.sub("", text)
    text = RE_SELF_CLOSING.sub("", text)
    text = RE_ELEMENT.sub("", text)
    text = RE_NOWIKI.sub("", text)
    text = INLINE_TEMPLATE.sub(render_inline_template, text)
    text = strip_nested(text)
    text = strip_links(text)
    text = RE_EXTERNAL_LABELED.sub(r"\1", text)
    text = RE_EXTERNAL_BARE.sub("", text)
    text = RE_BR.sub(" ", text)
    text = RE_TAG.sub("", text)
    text = RE_QUOTES.sub("", text)
    text = RE_MAGIC.sub("", text)
    return html.unescape(text)


def tidy(line: str) -> str:
    """Collapse spaces and the punctuation holes that removed templates leave."""
    line = RE_SPACES.sub(" ", line).strip()
    line = RE_EMPTY_PARENS.sub("", line)
    line = RE_PAREN_LEAD_PUNCT.sub("(", line)
    line = RE_SPACES.sub(" ", line)
    line = RE_SPACE_BEFORE_PUNCT.sub(r"\1", line)
    line = RE_SPACE_AFTER_PAREN.sub("(", line)
    return line.strip()


def is_prose(line: str) -> bool:
    """True when a cleaned line carries words, not markup debris."""
    return sum(ch.isalnum() for ch in line) >= 2


def article_to_text(title: str, wikitext: str) -> str:
    """Render one article as WikiText-style raw text (title heading first)."""
    text = clean_inline(wikitext)
    blocks: list[tuple[int, str]] = []  # (heading level or 0 for text, content)
    paragraph: list[str] = []
    skip_below: int | None = None  # inside a dropped section of this level

    def flush() -> None:
        if paragraph:
            joined = tidy(" ".join(paragraph))
            if is_prose(joined):
                blocks.append((0, joined))
            paragraph.clear()

    for raw in text.split("\n"):
        line = raw.strip()
        heading = RE_HEADING.match(line)
        if heading:
            flush()
            level, name = len(heading.group(1)), tidy(heading.group(2))
            if skip_below is not None and level > skip_below:
                continue
            skip_below = None
            if name.lower() in DROPPED_SECTIONS:
                skip_below = level
                continue
            blocks.append((max(level, 2), name))
            continue
        if skip_below is not None:
            continue
        if not line or line.startswith(("|", "!", "----")):
            flush()
            continue
        if line[0] in "*#:;":
            # A list item is a line of its own, without its bullets.
            flush()
            item = tidy(line.lstrip("*#:; "))
            if is_prose(item):
                blocks.append((0, item))
            continue
        paragraph.append(line)
    flush()

    # Drop headings whose section ended up empty (walk backwards so a chain of
    # empty subsections disappears together).
    kept: list[tuple[int, str]] = []
    for level, content in reversed(blocks):
        if level and (not kept or (kept[-1][0] and kept[-1][0] <= level)):
            continue
        kept.append((level, content))
    kept.reverse()

    lines = [f"= {title} ="]
    for level, content in kept:
        lines.append(f"{'=' * level} {content} {'=' * level}" if level else content)
    return "\n\n".join(lines) + "\n"


# MARK: - Dump reading


@dataclass(frozen=True)
class Article:
    title: str
    text: str


def read_articles(source: Path) -> tuple[list[Article], dict[str, int]]:
    """Parse the dump; keep main-namespace, non-redirect, non-disambiguation pages."""
    stats = {"pages": 0, "redirects": 0, "other_namespaces": 0,
             "disambiguations": 0, "too_short": 0, "kept": 0}
    articles: list[Article] = []
    with bz2.open(source, "rb") as stream:
        for _, element in ET.iterparse(stream, events=("end",)):
            if not element.tag.endswith("}page"):
                continue
            stats["pages"] += 1
            ns = element.tag[: -len("page")]
            title = (element.findtext(f"{ns}title") or "").strip()
            namespace = (element.findtext(f"{ns}ns") or "").strip()
            body = element.findtext(f"{ns}revision/{ns}text") or ""
            redirect = element.find(f"{ns}redirect") is not None
            element.clear()
            if namespace != "0" or ":" in title:
                stats["other_namespaces"] += 1
                continue
            if redirect or body.lstrip().upper().startswith("#REDIRECT"):
                stats["redirects"] += 1
                continue
            if title.endswith("(disambiguation)") or DISAMBIGUATION_TEMPLATE.search(body):
                stats["disambiguations"] += 1
                continue
            rendered = article_to_text(title, body)
            if len(rendered) - len(title) - 5 < MIN_ARTICLE_CHARS:
                stats["too_short"] += 1
                continue
            articles.append(Article(title, rendered))
    stats["kept"] = len(articles)
    return articles, stats


def assign_splits(articles: list[Article]) -> dict[str, list[Article]]:
    """Split by article: order by sha256(title), cycle through SPLIT_CYCLE."""
    by_hash = sorted(articles, key=lambda a: (hashlib.sha256(a.title.encode()).hexdigest(), a.title))
    splits: dict[str, list[Article]] = {name: [] for name in SPLITS}
    for position, article in enumerate(by_hash):
        splits[SPLIT_CYCLE[position % len(SPLIT_CYCLE)]].append(article)
    for name in SPLITS:
        splits[name].sort(key=lambda a: a.title)
    return splits


# MARK: - Files and checksums


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary sibling, fsync, then rename over the target."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_checksums(path: Path) -> dict[str, str]:
    """Parse a `sha256sum`-format file: `<hex>  <name>` per line."""
    expected: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            raise SystemExit(f"prepare: error: {path}:{number}: expected '<sha256>  <file>', got {line!r}")
        expected[parts[1].lstrip("*")] = parts[0]
    return expected


def outputs_match(out: Path, expected: dict[str, str]) -> bool:
    names = [OUTPUT_NAME.format(split=s) for s in SPLITS]
    if not all(name in expected for name in names) or not (out / "manifest.json").is_file():
        return False
    return all((out / n).is_file() and sha256_file(out / n) == expected[n] for n in names)


# MARK: - Main


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True, help="MediaWiki XML dump (.xml.bz2)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--checksums", type=Path, required=True, help="SHA256SUMS of the three outputs")
    parser.add_argument("--update-checksums", action="store_true",
                        help="rewrite --checksums from the produced files instead of verifying them")
    parser.add_argument("--force", action="store_true", help="rebuild even when outputs already match")
    args = parser.parse_args(argv)

    expected: dict[str, str] = {}
    if args.checksums.is_file():
        expected = read_checksums(args.checksums)
    elif not args.update_checksums:
        print(f"prepare: error: checksum file {args.checksums} is missing; "
              "run with --update-checksums to create it", file=sys.stderr)
        return 2

    if not args.force and not args.update_checksums and outputs_match(args.out, expected):
        print(f"prepare: corpus splits in {args.out} already match {args.checksums.name}")
        return 0

    if not args.source.is_file():
        print(f"prepare: error: source dump {args.source} not found (run 'make setup')", file=sys.stderr)
        return 2

    articles, stats = read_articles(args.source)
    splits = assign_splits(articles)
    args.out.mkdir(parents=True, exist_ok=True)

    manifest = {
        "format_version": FORMAT_VERSION,
        "source": args.source.name,
        "source_sha256": sha256_file(args.source),
        "split_rule": "sort articles by sha256(title); position mod 5: 0 calibration, 1 validation, 2-4 test",
        "min_article_chars": MIN_ARTICLE_CHARS,
        "pages": stats,
        "splits": {},
    }
    actual: dict[str, str] = {}
    for name in SPLITS:
        text = "\n".join(a.text for a in splits[name])
        data = text.encode("utf-8")
        file_name = OUTPUT_NAME.format(split=name)
        write_atomic(args.out / file_name, data)
        actual[file_name] = hashlib.sha256(data).hexdigest()
        manifest["splits"][name] = {
            "file": file_name,
            "articles": len(splits[name]),
            "titles": [a.title for a in splits[name]],
            "chars": len(text),
            "bytes": len(data),
            "sha256": actual[file_name],
        }
    write_atomic(args.out / "manifest.json",
                 (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))

    if args.update_checksums:
        body = "".join(f"{actual[f]}  {f}\n" for f in sorted(actual))
        write_atomic(args.checksums, body.encode())
        print(f"prepare: wrote {args.checksums}")
    else:
        bad = [f for f in sorted(actual) if expected.get(f) != actual[f]]
        if bad:
            for f in bad:
                print(f"prepare: error: checksum mismatch for {f}: expected {expected.get(f, '<none>')}, "
                      f"got {actual[f]}", file=sys.stderr)
            print("prepare: the prepared corpus differs from the committed one (different source dump "
                  "or cleaning code?). If the change is intended, rerun with --update-checksums and "
                  "commit infra/corpus/SHA256SUMS.", file=sys.stderr)
            return 1

    summary = ", ".join(f"{n} {manifest['splits'][n]['articles']} articles/"
                        f"{manifest['splits'][n]['chars']} chars" for n in SPLITS)
    print(f"prepare: {stats['kept']} of {stats['pages']} pages kept; {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
