"""Data layer: read a training file (or a hub data set's rows) into `Example`s, pick rows, render prompts.

Modules: `examples` (Example, Splits), `paths` (where a data path points, a hub ref, the form a request keeps,
a file's sha256), `records` (text and JSON records with one-line errors), `formats` (the registry: each
format's name, detection, loader and fields; `load_examples`, `detect_format`), the loaders (`team_csv`,
`alpaca`, `korquad`, `hub_rows` for a hub split's rows with its column mapping), `hub_fetch` (a hub data set's
snapshot and commit), `load` (a run's data: `load_data`), `select` (row selection), `prompts` (rendering).

Every problem with the data is a one-line `UserError` naming the file, the row or line, and the field.
"""

from __future__ import annotations

from typing import get_args

from harness.config import DataSettings
from harness.data.examples import SPLITS, Example, Split, Splits
from harness.data.formats import (
    BY_NAME,
    FORMATS,
    REGISTRY,
    DataFormat,
    check_config_formats,
    detect_format,
    load_examples,
)
from harness.data.hub_rows import AUTO_COLUMNS, ROLES, hub_examples, parse_columns
from harness.data.load import _HUB_LOADS, Loaded, load_data
from harness.data.paths import HubRef, file_sha256, hub_ref, resolve_data_path, stored_data_path
from harness.data.prompts import render_completion, render_prompt, validate_template
from harness.data.select import select_rows
from harness.data.team_csv import CSV_INDEX_NAMES, CSV_REQUIRED

check_config_formats(get_args(DataSettings.model_fields["format"].annotation))

__all__ = [
    "AUTO_COLUMNS", "BY_NAME", "CSV_INDEX_NAMES", "CSV_REQUIRED", "FORMATS", "REGISTRY", "ROLES", "SPLITS",
    "_HUB_LOADS", "DataFormat", "Example", "HubRef", "Loaded", "Split", "Splits", "detect_format", "file_sha256",
    "hub_examples", "hub_ref", "load_data", "load_examples", "parse_columns", "render_completion", "render_prompt",
    "resolve_data_path", "select_rows", "stored_data_path", "validate_template",
]  # fmt: skip
