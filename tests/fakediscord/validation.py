"""Payload checks that mirror Discord's limits. Each check returns a list of problems; an empty list means valid.

A problem is (path, code, message); `errors_object` turns them into Discord's nested "errors" shape, e.g.
{"embeds": {"0": {"title": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "..."}]}}}}.
"""

from __future__ import annotations

import re
from typing import Any

from .models import IS_COMPONENTS_V2, walk_components

Problem = tuple[tuple[Any, ...], str, str]

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_FILES = 10
MAX_ROWS = 5
MAX_V2_COMPONENTS = 40
MAX_CUSTOM_ID = 100

COMMAND_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")


class Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: tuple, code: str, message: str) -> None:
        self.problems.append((path, code, message))

    def max_len(self, path: tuple, value: Any, limit: int) -> None:
        if value is not None and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def length_between(self, path: tuple, value: Any, low: int, high: int) -> None:
        n = len(value) if value is not None else 0
        if not low <= n <= high:
            self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")

    def required(self, path: tuple, value: Any) -> bool:
        if value is None or value == "" or value == []:
            self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
            return False
        return True


def errors_object(problems: list[Problem]) -> dict:
    root: dict = {}
    for path, code, message in problems:
        node = root
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return root


def _is_url(value: Any, *, allow_attachment: bool = True) -> bool:
    if not isinstance(value, str):
        return False
    if allow_attachment and value.startswith("attachment://"):
        return len(value) > len("attachment://")
    return bool(re.match(r"^https?://[^\s/$.?#].[^\s]*$", value))


# --- messages -----------------------------------------------------------------------------


def check_embeds(c: Checker, embeds: Any, base: tuple = ()) -> None:
    if embeds is None:
        return
    if not isinstance(embeds, list):
        c.add((*base, "embeds"), "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        return
    if len(embeds) > MAX_EMBEDS:
        c.add((*base, "embeds"), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        p = (*base, "embeds", i)
        if not isinstance(embed, dict):
            c.add(p, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        title = embed.get("title")
        description = embed.get("description")
        c.max_len((*p, "title"), title, 256)
        c.max_len((*p, "description"), description, 4096)
        total += len(title or "") + len(description or "")
        if embed.get("url") is not None and not _is_url(embed["url"], allow_attachment=False):
            c.add((*p, "url"), "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        for key in ("image", "thumbnail"):
            sub = embed.get(key)
            if isinstance(sub, dict) and not _is_url(sub.get("url")):
                c.add((*p, key, "url"), "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            c.add((*p, "fields"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, fld in enumerate(fields):
            fp = (*p, "fields", j)
            name, value = fld.get("name"), fld.get("value")
            if c.required((*fp, "name"), name):
                c.max_len((*fp, "name"), name, 256)
            if c.required((*fp, "value"), value):
                c.max_len((*fp, "value"), value, 1024)
            total += len(name or "") + len(value or "")
        footer = embed.get("footer")
        if isinstance(footer, dict):
            c.max_len((*p, "footer", "text"), footer.get("text"), 2048)
            total += len(footer.get("text") or "")
        author = embed.get("author")
        if isinstance(author, dict):
            c.max_len((*p, "author", "name"), author.get("name"), 256)
            total += len(author.get("name") or "")
            if author.get("url") is not None and not _is_url(author["url"], allow_attachment=False):
                c.add((*p, "author", "url"), "URL_TYPE_INVALID_URL", "Not a well formed URL.")
    if total > MAX_EMBED_TOTAL:
        c.add((*base, "embeds"), "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}")


def _check_button(c: Checker, comp: dict, p: tuple) -> None:
    style = comp.get("style")
    if style not in (1, 2, 3, 4, 5, 6):
        c.add((*p, "style"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4, 5, 6}.")
        return
    if style == 5:
        if not _is_url(comp.get("url"), allow_attachment=False):
            c.add((*p, "url"), "BUTTON_COMPONENT_URL_REQUIRED", "A url is required for link buttons")
        if comp.get("custom_id") is not None:
            c.add((*p, "custom_id"), "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED", "A custom id cannot be used here")
    elif style == 6:
        if not comp.get("sku_id"):
            c.add((*p, "sku_id"), "BASE_TYPE_REQUIRED", "This field is required")
    else:
        if not comp.get("custom_id"):
            c.add((*p, "custom_id"), "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED", "A custom id is required")
        if comp.get("url") is not None:
            c.add((*p, "url"), "BUTTON_COMPONENT_URL_NOT_ALLOWED", "A url cannot be used here")
    c.max_len((*p, "label"), comp.get("label"), 80)
    if style != 6 and not comp.get("label") and not comp.get("emoji"):
        c.add((*p,), "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED", "A button needs a label or an emoji")


def _check_select(c: Checker, comp: dict, p: tuple) -> None:
    c.max_len((*p, "placeholder"), comp.get("placeholder"), 150)
    min_values = comp.get("min_values", 1)
    max_values = comp.get("max_values", 1)
    if not 0 <= min_values <= 25:
        c.add((*p, "min_values"), "NUMBER_TYPE_MAX", "int value should be between 0 and 25.")
    if not 1 <= max_values <= 25:
        c.add((*p, "max_values"), "NUMBER_TYPE_MAX", "int value should be between 1 and 25.")
    if comp.get("type") == 3:
        options = comp.get("options") or []
        if not 1 <= len(options) <= 25:
            c.add((*p, "options"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")
        if max_values > len(options) and options:
            c.add(
                (*p, "max_values"),
                "SELECT_COMPONENT_MAX_VALUES_EXCEEDS_OPTIONS",
                "max_values exceeds the number of options",
            )
        seen: set[str] = set()
        for k, opt in enumerate(options):
            op = (*p, "options", k)
            if c.required((*op, "label"), opt.get("label")):
                c.max_len((*op, "label"), opt.get("label"), 100)
            if c.required((*op, "value"), opt.get("value")):
                c.max_len((*op, "value"), opt.get("value"), 100)
            c.max_len((*op, "description"), opt.get("description"), 100)
            if opt.get("value") in seen:
                c.add((*op, "value"), "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED", "Option values must be unique")
            seen.add(opt.get("value"))


def _check_interactive(c: Checker, comp: dict, p: tuple, custom_ids: set[str]) -> None:
    t = comp.get("type")
    cid = comp.get("custom_id")
    if cid is not None:
        if len(cid) > MAX_CUSTOM_ID:
            c.add((*p, "custom_id"), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CUSTOM_ID} or fewer in length.")
        if cid in custom_ids:
            c.add((*p, "custom_id"), "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
        custom_ids.add(cid)
    elif t in (3, 5, 6, 7, 8):
        c.add((*p, "custom_id"), "BASE_TYPE_REQUIRED", "This field is required")
    if t == 2:
        _check_button(c, comp, p)
    elif t in (3, 5, 6, 7, 8):
        _check_select(c, comp, p)


def _check_action_row(c: Checker, row: dict, p: tuple, custom_ids: set[str]) -> None:
    children = row.get("components") or []
    if not 1 <= len(children) <= 5:
        c.add((*p, "components"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
    kinds = [ch.get("type") for ch in children]
    if any(k in (3, 5, 6, 7, 8) for k in kinds) and len(children) > 1:
        c.add(
            (*p, "components"), "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "The specified component exceeds the maximum width"
        )
    for j, child in enumerate(children):
        cp = (*p, "components", j)
        if child.get("type") not in (2, 3, 5, 6, 7, 8):
            c.add((*cp, "type"), "COMPONENT_TYPE_INVALID", "Component type is not valid in an action row")
            continue
        _check_interactive(c, child, cp, custom_ids)


def check_components(c: Checker, components: Any, flags: int, base: tuple = ()) -> None:
    if components is None:
        return
    if not isinstance(components, list):
        c.add((*base, "components"), "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        return
    custom_ids: set[str] = set()
    if not flags & IS_COMPONENTS_V2:
        if len(components) > MAX_ROWS:
            c.add((*base, "components"), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ROWS} or fewer in length.")
        for i, row in enumerate(components):
            p = (*base, "components", i)
            if row.get("type") != 1:
                c.add((*p, "type"), "COMPONENT_TYPE_INVALID", "Top level components must be action rows")
                continue
            _check_action_row(c, row, p, custom_ids)
        return
    # components v2: count every component, check rows and interactive items wherever they are nested
    total = sum(1 for _ in walk_components(components))
    if total > MAX_V2_COMPONENTS:
        c.add((*base, "components"), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_V2_COMPONENTS} or fewer in total.")

    def visit(items: list, p: tuple) -> None:
        for i, comp in enumerate(items):
            cp = (*p, i)
            t = comp.get("type")
            if t == 1:
                _check_action_row(c, comp, cp, custom_ids)
            elif t == 10:
                c.max_len((*cp, "content"), comp.get("content"), 4000)
            elif t == 9:
                visit(comp.get("components") or [], (*cp, "components"))
                acc = comp.get("accessory")
                if isinstance(acc, dict) and acc.get("type") == 2:
                    _check_interactive(c, acc, (*cp, "accessory"), custom_ids)
            elif t == 17:
                visit(comp.get("components") or [], (*cp, "components"))

    visit(components, (*base, "components"))


def check_message(
    payload: dict, *, creating: bool, file_count: int = 0, keeps_attachments: bool = False, base: tuple = ()
) -> tuple[list[Problem], bool]:
    """Checks a message create/edit body. Returns (problems, empty) where empty means "Cannot send an empty message"."""
    c = Checker()
    content = payload.get("content")
    flags = payload.get("flags") or 0
    if content is not None:
        if not isinstance(content, str):
            c.add((*base, "content"), "STRING_TYPE_CONVERT", "Could not interpret value as string.")
        else:
            c.max_len((*base, "content"), content, MAX_CONTENT)
    check_embeds(c, payload.get("embeds"), base)
    check_components(c, payload.get("components"), flags, base)
    if flags & IS_COMPONENTS_V2:
        if content:
            c.add((*base, "content"), "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2", "content is not allowed")
        if payload.get("embeds"):
            c.add((*base, "embeds"), "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2", "embeds are not allowed")
    if file_count > MAX_FILES:
        c.add((*base, "files"), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_FILES} or fewer in length.")
    empty = False
    if creating:
        has_content = isinstance(content, str) and content.strip() != ""
        empty = not (
            has_content
            or payload.get("embeds")
            or payload.get("components")
            or file_count
            or keeps_attachments
            or payload.get("sticker_ids")
            or payload.get("poll")
        )
    return c.problems, empty


# --- interaction callbacks -------------------------------------------------------------------


def _check_text_input(c: Checker, comp: dict, p: tuple, *, in_label: bool) -> None:
    if c.required((*p, "custom_id"), comp.get("custom_id")):
        c.max_len((*p, "custom_id"), comp.get("custom_id"), MAX_CUSTOM_ID)
    if comp.get("style") not in (1, 2):
        c.add((*p, "style"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2}.")
    label = comp.get("label")
    if in_label:
        c.max_len((*p, "label"), label, 45)
    elif c.required((*p, "label"), label):
        c.max_len((*p, "label"), label, 45)
    min_length, max_length = comp.get("min_length"), comp.get("max_length")
    if min_length is not None and not 0 <= min_length <= 4000:
        c.add((*p, "min_length"), "NUMBER_TYPE_MAX", "int value should be between 0 and 4000.")
    if max_length is not None and not 1 <= max_length <= 4000:
        c.add((*p, "max_length"), "NUMBER_TYPE_MAX", "int value should be between 1 and 4000.")
    if min_length is not None and max_length is not None and min_length > max_length:
        c.add((*p, "min_length"), "TEXT_INPUT_MIN_GREATER_THAN_MAX", "min_length is greater than max_length")
    c.max_len((*p, "value"), comp.get("value"), 4000)
    if comp.get("value") is not None and max_length is not None and len(comp["value"]) > max_length:
        c.add((*p, "value"), "BASE_TYPE_MAX_LENGTH", f"Must be {max_length} or fewer in length.")
    c.max_len((*p, "placeholder"), comp.get("placeholder"), 100)


def check_modal(data: dict) -> list[Problem]:
    c = Checker()
    base = ("data",)
    if c.required((*base, "custom_id"), data.get("custom_id")):
        c.max_len((*base, "custom_id"), data.get("custom_id"), MAX_CUSTOM_ID)
    if c.required((*base, "title"), data.get("title")):
        c.max_len((*base, "title"), data.get("title"), 45)
    components = data.get("components") or []
    c.length_between((*base, "components"), components, 1, 5)
    custom_ids: set[str] = set()
    for i, comp in enumerate(components):
        p = (*base, "components", i)
        t = comp.get("type")
        if t == 1:
            children = comp.get("components") or []
            if len(children) != 1 or children[0].get("type") != 4:
                c.add((*p, "components"), "MODAL_ACTION_ROW_INVALID", "A modal action row holds exactly one text input")
            for j, child in enumerate(children):
                if child.get("type") == 4:
                    _check_text_input(c, child, (*p, "components", j), in_label=False)
                    _dup(c, child, (*p, "components", j), custom_ids)
        elif t == 18:
            if c.required((*p, "label"), comp.get("label")):
                c.max_len((*p, "label"), comp.get("label"), 45)
            c.max_len((*p, "description"), comp.get("description"), 100)
            inner = comp.get("component")
            ip = (*p, "component")
            if not isinstance(inner, dict):
                c.add(ip, "BASE_TYPE_REQUIRED", "This field is required")
                continue
            it = inner.get("type")
            if it == 4:
                _check_text_input(c, inner, ip, in_label=True)
            elif it in (3, 5, 6, 7, 8):
                _check_interactive(c, inner, ip, set())
            elif it not in (19, 21, 22, 23):
                c.add((*ip, "type"), "COMPONENT_TYPE_INVALID", "Component type is not valid in a label")
            _dup(c, inner, ip, custom_ids)
        elif t == 10:
            c.max_len((*p, "content"), comp.get("content"), 4000)
        else:
            c.add((*p, "type"), "COMPONENT_TYPE_INVALID", "Component type is not valid in a modal")
    return c.problems


def _dup(c: Checker, comp: dict, p: tuple, seen: set[str]) -> None:
    cid = comp.get("custom_id")
    if cid is None:
        return
    if cid in seen:
        c.add((*p, "custom_id"), "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
    seen.add(cid)


def check_autocomplete(data: dict) -> list[Problem]:
    c = Checker()
    choices = data.get("choices")
    if choices is None:
        c.add(("data", "choices"), "BASE_TYPE_REQUIRED", "This field is required")
        return c.problems
    if len(choices) > 25:
        c.add(("data", "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for i, choice in enumerate(choices):
        p = ("data", "choices", i)
        name = choice.get("name")
        if c.required((*p, "name"), name):
            c.length_between((*p, "name"), name, 1, 100)
        value = choice.get("value")
        if isinstance(value, str):
            c.max_len((*p, "value"), value, 100)
        elif value is None:
            c.add((*p, "value"), "BASE_TYPE_REQUIRED", "This field is required")
    return c.problems


# --- command sync --------------------------------------------------------------------------


def _command_chars(cmd: dict) -> int:
    n = len(cmd.get("name") or "") + len(cmd.get("description") or "")
    for opt in cmd.get("options") or []:
        n += _command_chars(opt)
        for choice in opt.get("choices") or []:
            n += len(str(choice.get("name", ""))) + len(str(choice.get("value", "")))
    return n


def _check_options(c: Checker, options: list, p: tuple, depth: int) -> None:
    if len(options) > 25:
        c.add(p, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    names: set[str] = set()
    seen_optional = False
    for i, opt in enumerate(options):
        op = (*p, i)
        name = opt.get("name") or ""
        if not COMMAND_NAME_RE.match(name) or name != name.lower():
            c.add((*op, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if name in names:
            c.add((*op, "name"), "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option names must be unique")
        names.add(name)
        c.length_between((*op, "description"), opt.get("description"), 1, 100)
        t = opt.get("type")
        if t in (1, 2):
            if depth >= 2 or (t == 2 and depth >= 1):
                c.add((*op, "type"), "APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Subcommands nested too deep")
            _check_options(c, opt.get("options") or [], (*op, "options"), depth + 1)
            continue
        if opt.get("required"):
            if seen_optional:
                c.add(
                    (*op, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        if len(choices) > 25:
            c.add((*op, "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if choices and opt.get("autocomplete"):
            c.add(
                (*op, "autocomplete"),
                "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE",
                "Autocomplete cannot be used with choices",
            )
        for k, choice in enumerate(choices):
            c.length_between((*op, "choices", k, "name"), choice.get("name"), 1, 100)
            if isinstance(choice.get("value"), str):
                c.max_len((*op, "choices", k, "value"), choice["value"], 100)


def check_commands(commands: Any) -> list[Problem]:
    c = Checker()
    if not isinstance(commands, list):
        c.add((), "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        return c.problems
    if len(commands) > 100:
        c.add((), "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    seen: set[tuple[int, str]] = set()
    for i, cmd in enumerate(commands):
        p = (i,)
        t = cmd.get("type", 1)
        name = cmd.get("name") or ""
        if t == 1:
            if not COMMAND_NAME_RE.match(name) or name != name.lower():
                c.add((*p, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            c.length_between((*p, "description"), cmd.get("description"), 1, 100)
        else:
            c.length_between((*p, "name"), name, 1, 32)
        if (t, name) in seen:
            c.add(
                (*p, "name"),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique ({name})",
            )
        seen.add((t, name))
        _check_options(c, cmd.get("options") or [], (*p, "options"), 0)
        if _command_chars(cmd) > 4000:
            c.add(p, "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (4000)")
    return c.problems
