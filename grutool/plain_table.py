"""rich tables written fast where the output is plain text (a pipe, a file, NO_COLOR).

`inspect` prints one table per cell; rich lays each out in about 7 ms (measuring every cell
of every column, wrapping, styling), so a file of 2000 cells took 14 s to print, nearly all
of it in rich. Where nothing is styled (no colour system) and the table fits the console as
it is, the layout is simple: each column as wide as its widest cell, padded by one space each
side, between the box's lines. `print_table` writes exactly what rich would (the same box
lines, justification, and the title and caption wrapped by rich itself) and hands every other
table (a terminal with colour, a table too wide that rich would shrink, markup in a cell,
options this module does not know) to rich.
"""

from __future__ import annotations

import re
import weakref
from typing import Any, cast

from rich.console import Console, ConsoleOptions, JustifyMethod
from rich.table import Table
from rich.text import Text

# What rich would read as markup or emoji in a string, or lay out specially.
_SPECIAL = re.compile(r"[\[:\n\t\r\x1b]")
# Text made only of these is one cell per character, which the fast wrap below assumes.
_NARROW = re.compile(r"[ -~→×…Δ]*")
# rich's word: a run of non-space with the spaces around it (rich._wrap.re_word)
_WORD = re.compile(r"\s*\S+\s*")




def print_table(out: Console, table: Table, blank_line_before: bool = False) -> None:
    """`out.print(table)` (after `out.print()` with `blank_line_before`), written directly
    where the result is plain text."""
    text = plain_table(out, table)
    if text is None:
        if blank_line_before:
            out.print()
        out.print(table)
    else:
        out.file.write("\n" + text if blank_line_before else text)


def print_lines(out: Console, lines: list[Text]) -> None:
    """`out.print(line, crop=False, overflow="ignore")` for each line, written directly
    where the output is plain text and every line is made of one-cell characters: rich then
    writes each line as it is, unbroken however wide ("ignore"), its style having no colour
    to show. The 6,000 lines of an `inspect` of 2000 cells took rich 0.5 s."""
    if (out.color_system is None and not out.legacy_windows
            and all(_NARROW.fullmatch(line.plain) for line in lines)):
        out.file.write("".join(f"{line.plain}\n" for line in lines))
        return
    for line in lines:
        out.print(line, crop=False, overflow="ignore")


def plain_table(out: Console, table: Table) -> str | None:
    """What `out.print(table)` writes, or None where rich must lay it out itself."""
    if out.color_system is not None or out.legacy_windows or not _simple(table) or table.box is None:
        return None
    options = _options(out)
    columns = table.columns
    header = _plain([column.header for column in columns])
    plain_body = [_plain(list(column.cells)) for column in columns]
    if header is None or any(cells is None for cells in plain_body):
        return None
    body = cast("list[list[str]]", plain_body)  # no None in it: checked above
    # Every character is one cell wide (`_plain`): lengths are widths.
    widths = [max(map(len, [head, *cells])) + 2 for head, cells in zip(header, body, strict=True)]
    width = sum(widths) + len(widths) + 1
    if width > options.max_width:
        return None  # rich would shrink and wrap the columns
    box = table.box.substitute(
        options, safe=out.safe_box if table.safe_box is None else table.safe_box)  # as rich does
    justify: list[str] = [column.justify for column in columns]
    lines = _annotation(out, table.title, table.title_justify, width)
    lines.append(box.get_top(widths))
    lines.append(_row(header, widths, justify, box.head_left, box.head_vertical, box.head_right))
    lines.append(box.get_row(widths, "head", edge=True))
    for row in zip(*body, strict=True):
        lines.append(_row(row, widths, justify, box.mid_left, box.mid_vertical, box.mid_right))
    lines.append(box.get_bottom(widths))
    lines.extend(_annotation(out, table.caption, table.caption_justify, width))
    return "\n".join(lines) + "\n"


def _options(out: Console) -> ConsoleOptions:
    """The console's options (its width), found once per console: rich asks the terminal
    and the environment each time, which costs more than laying out a small table. A plain
    console writes to a file or a pipe, whose width does not change."""
    options = _OPTIONS.get(out)
    if options is None:
        options = _OPTIONS[out] = out.options
    return options


_OPTIONS: weakref.WeakKeyDictionary[Console, ConsoleOptions] = weakref.WeakKeyDictionary()


def _simple(table: Table) -> bool:
    """The options under which the layout above is rich's."""
    return (table.box is not None and table.show_header and table.show_edge
            and not table.show_footer and not table.show_lines and not table.leading
            and tuple(table.padding) == (0, 1, 0, 1) and not table.collapse_padding
            and table.pad_edge and not table.expand and table.width is None
            and table.min_width is None and bool(table.columns)
            and all(column.width is None and column.min_width is None
                    and column.max_width is None and column.ratio is None
                    and column.justify in ("left", "right") and not column.footer
                    for column in table.columns))


def _plain(cells: list[Any]) -> list[str] | None:
    """The cells' texts when each renders as itself: a Text, or a string without markup, on
    one line of one-cell characters; else None."""
    texts, strings = [], []
    for cell in cells:
        if isinstance(cell, str):
            strings.append(cell)
            texts.append(cell)
        elif isinstance(cell, Text):
            texts.append(cell.plain)
        else:
            return None
    if _SPECIAL.search("".join(strings)) or not _NARROW.fullmatch("".join(texts)):
        return None
    return texts


def _row(cells: list[str] | tuple[str, ...], widths: list[int], justify: list[str],
         left: str, vertical: str, right: str) -> str:
    return left + vertical.join(
        f" {text.rstrip().rjust(width - 2)} " if side == "right"  # rich strips, then justifies
        else f" {text.ljust(width - 2)} "
        for text, width, side in zip(cells, widths, justify, strict=True)) + right


def _annotation(out: Console, text: Any, justify: JustifyMethod, width: int) -> list[str]:
    """A title or caption as rich's table renders it: wrapped to the table's width and,
    left-justified, padded to it."""
    if not text:
        return []
    if isinstance(text, Text):
        fast = (text.plain if text.justify in (None, justify) and text.overflow in (None, "fold")
                and not text.no_wrap else None)
    else:
        fast = text if isinstance(text, str) and not _SPECIAL.search(text.replace("\n", "")) \
            else None
    if fast is not None and justify == "left" and _NARROW.fullmatch(fast.replace("\n", "")):
        return [line for paragraph in fast.split("\n") for line in _wrap_left(paragraph, width)]
    rendered = out.render_str(text, highlight=False) if isinstance(text, str) else text
    lines = rendered.wrap(out, width, justify=rendered.justify or justify,
                          overflow=rendered.overflow or "fold", tab_size=rendered.tab_size or 8,
                          no_wrap=bool(rendered.no_wrap))
    return [line.plain for line in lines]


def _wrap_left(text: str, width: int) -> list[str]:
    """`Text(text).wrap(console, width, justify="left", overflow="fold")` for text of
    one-cell characters on one line: rich's word wrap (rich._wrap.divide_line), trailing
    spaces beyond the width dropped, long words folded, each line padded to the width."""
    breaks: list[int] = []
    offset = 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group()
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:  # folded across lines
            pieces = [word[i:i + width] for i in range(0, len(word), width)]
            for index, piece in enumerate(pieces):
                if start:
                    breaks.append(start)
                if index == len(pieces) - 1:
                    offset = len(piece)
                else:
                    start += len(piece)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    lines = []
    for begin, end in zip([0, *breaks], [*breaks, len(text)], strict=True):
        line = text[begin:end]
        if len(line) > width:  # rich's rstrip_end, then truncate
            spaces = len(line) - len(line.rstrip())
            line = line[:len(line) - min(spaces, len(line) - width)][:width]
        lines.append(line + " " * (width - len(line)))
    return lines
