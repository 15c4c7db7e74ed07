"""docs/paper-settings.md is what its generator writes now; the papers' key settings,
transcribed here once from shared/papers/, agree with data/paper_settings.csv and, where the
CSV says ``equal``, with the presets; the generator refuses a false ``equal``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from highlight_pipeline import paper_settings as ps
from highlight_pipeline.config import load_configs
from highlight_pipeline.runs import resolve_run

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "paper-settings.md"

# The papers' own values, written once from the text (not from the CSV): (paper, dataset,
# setting as the CSV names it) -> value, in the config's units (384×224, width × height in
# the paper, is [224, 384] here); None: the paper does not state it. A row of the CSV may
# hold a value for every dataset of the paper (dataset `all`).
STATED = {
    # AV-PH §4.1 (Implementation Details): Adam; 100 epochs at 5e-3 on YouTube, 20 at 2.5e-3
    # on TVSum, 10 at 5e-4 on QVHighlights; no batch size. §3.1: UMAP to 10 dimensions,
    # K-means "for a range of values for K" (none given). §4.1: top t = 50% of the clips.
    ("avph", "youtube", "optimizer"): "adam",
    ("avph", "youtube", "learning rate"): 5e-3,
    ("avph", "youtube", "epochs"): 100,
    ("avph", "youtube", "batch size"): None,
    ("avph", "tvsum", "learning rate"): 2.5e-3,
    ("avph", "tvsum", "epochs"): 20,
    ("avph", "qvhighlights", "learning rate"): 5e-4,
    ("avph", "qvhighlights", "epochs"): 10,
    ("avph", "qvhighlights", "self-attention modules"): 2,
    ("avph", "qvhighlights", "FC layers of the score regressor"): 3,
    ("avph", "youtube", "UMAP dimensions"): 10,
    ("avph", "youtube", "K range (K-means, best silhouette)"): None,
    ("avph", "youtube", "top t of clips as pseudo-highlights"): 0.5,
    ("avph", "youtube", "recurrence similarity"): "cosine",
    # CHD §4.1 (Implementation Details): Adam, lr 1e-5, 10 epochs, B = 32 videos, d = 512,
    # tau = 0.1, dropout 0.1, "on each dataset".
    ("chd", "youtube", "optimizer"): "adam",
    ("chd", "youtube", "learning rate"): 1e-5,
    ("chd", "youtube", "epochs"): 10,
    ("chd", "youtube", "batch size"): 32,
    ("chd", "tvsum", "learning rate"): 1e-5,
    ("chd", "vtw", "epochs"): 10,
    ("chd", "youtube", "embedding size d"): 512,
    ("chd", "youtube", "temperature τ"): 0.1,
    ("chd", "youtube", "dropout p"): 0.1,
    ("chd", "vtw", "clip length (frames)"): 100,
    # HPCL §4.2: Adam, lr 1e-4, 20 epochs, no batch size; T = 20, n = 2, 8 heads, dropout
    # 0.5, d = 256, d_k = d_v = 512; Eq. 9 margin 0.7, L = 3; Eq. 11 lambdas 1, 0.3, 0.1.
    ("hpcl", "youtube", "optimizer"): "adam",
    ("hpcl", "youtube", "learning rate"): 1e-4,
    ("hpcl", "youtube", "epochs"): 20,
    ("hpcl", "youtube", "batch size"): None,
    ("hpcl", "youtube", "segments per sampled sequence T"): 20,
    ("hpcl", "youtube", "encoder/decoder layers n"): 2,
    ("hpcl", "youtube", "attention heads"): 8,
    ("hpcl", "youtube", "dropout"): 0.5,
    ("hpcl", "youtube", "embedding dimension d"): 256,
    ("hpcl", "youtube", "margin (Eq. 9)"): 0.7,
    ("hpcl", "youtube", "hard-pair region L"): 3,
    ("hpcl", "youtube", "λ2 (L_HPCL)"): 0.3,
    ("hpcl", "youtube", "λ3 (L_rank)"): 0.1,
    # PLD-VHD supplement §1: SGD, 1500 epochs, no lr or batch size; TASED at 384×224 with 32
    # frames, C3D at 112×112 with 16; beta 0.0005, 0.001 for dog, gymnastics and skiing.
    ("pld", "youtube", "optimizer"): "sgd",
    ("pld", "youtube", "learning rate"): None,
    ("pld", "youtube", "epochs"): 1500,
    ("pld", "youtube", "batch size"): None,
    ("pld", "youtube", "frame size (TASED)"): [224, 384],
    ("pld", "youtube", "window length L (TASED)"): 32,
    ("pld", "youtube", "frame size (C3D)"): [112, 112],
    ("pld", "youtube", "window length L (C3D)"): 16,
    ("pld", "youtube", "β"): 0.0005,
    ("pld", "tvsum", "β"): 0.0005,
    ("pld", "cosum", "β"): 0.0005,
    ("pld", "youtube", "β per domain"): {"dog": 0.001, "gymnastics": 0.001, "skiing": 0.001},
}

# Rules the papers state in words: the phrases the CSV's `stated` must hold, the status the
# presets have today and, for a rule they now follow, the value the preset must resolve to
# (the method's own protocol and split scheme, `paper_evaluation`).
STATED_RULES = {
    # HPCL §4.1: "For each category of 5 videos, following [59], we choose the longer two
    # videos for training and the remaining three videos for testing."
    ("hpcl", "tvsum", "split"): (("per category", "longer two", "three"), "equal", ["longest2"]),
    # HPCL §4.1: "select the higher 50% of the scores as the segment-level highlight
    # annotations".
    ("hpcl", "tvsum", "ground truth"): (("higher 50%",), "equal", "tvsum-top5-top50"),
    # PLD-VHD §4.1.1: "select top 50% of shots in terms of the scores provided by annotators
    # for each video".
    ("pld", "tvsum", "ground truth"): (("top 50%", "for each video"), "equal", "tvsum-top5-top50"),
    # AV-PH §4.1: SlowFast and CLIP (ViT-B/32) visual features on QVHighlights.
    ("avph", "qvhighlights", "visual features"): (("SlowFast", "CLIP"), "equal", "slowfast_clip"),
}


@pytest.fixture(scope="module")
def rows() -> list[ps.Row]:
    return ps.load_rows()


def find(rows: list[ps.Row], paper: str, dataset: str, setting: str) -> ps.Row:
    found = [
        r
        for r in rows
        if r.paper == paper and r.setting == setting and r.dataset in (dataset, "all")
    ]
    assert len(found) == 1, f"{paper}/{dataset} {setting!r}: {len(found)} rows in the CSV"
    return found[0]


def preset_value(row: ps.Row, dataset: str):
    """The value the preset of (paper, dataset) gives the row's path: the run's settings and
    pseudo settings and the dataset's keys read here directly, the rest by the generator."""
    config = ps.preset_config(REPO, row.paper, dataset)
    run = resolve_run(config, dataset, row.method, row.variant)
    head, _, rest = row.path.partition(".")
    if head in ("settings", "pseudo") and "|" not in rest:
        value = run[head]
        for key in rest.split("."):
            value = value[key]
        return value
    if head == "dataset" and rest == "split_schemes":  # the method's own, else the dataset's
        own = config["datasets"][dataset].get("paper_evaluation", {}).get(row.method, {})
        return own.get("split_schemes", config["datasets"][dataset]["split_schemes"])
    return ps.resolve_path(row.path, config, dataset, run, REPO)


def test_page_is_what_the_generator_writes_now():
    assert PAGE.is_file(), f"write it: {ps.COMMAND}"
    assert PAGE.read_text(encoding="utf-8") == ps.render_paper_settings(REPO), (
        f"docs/paper-settings.md is stale: {ps.COMMAND}"
    )


@pytest.mark.parametrize("key", sorted(STATED), ids=lambda k: "-".join(k))
def test_stated_settings_against_csv_and_presets(rows, key):
    paper, dataset, setting = key
    value = STATED[key]
    row = find(rows, paper, dataset, setting)
    if value is None:
        assert row.status == "not stated" and not row.stated
        return
    assert row.stated, f"{row.where()}: the paper states {value!r}"
    assert ps.same(ps.parse_value(row.target()), value), (
        f"{row.where()}: the CSV has {row.target()!r}, the paper {value!r}"
    )
    resolved = preset_value(row, dataset)
    if row.status == "equal":
        assert ps.same(resolved, value), f"{row.where()}: the preset gives {resolved!r}"
    else:
        assert not ps.same(resolved, value)


@pytest.mark.parametrize("key", sorted(STATED_RULES), ids=lambda k: "-".join(k))
def test_stated_rules(rows, key):
    paper, dataset, setting = key
    phrases, status, value = STATED_RULES[key]
    row = find(rows, paper, dataset, setting)
    for phrase in phrases:
        assert phrase.casefold() in row.stated.casefold(), f"{row.where()}: {phrase!r}"
    assert row.status == status and row.why
    if value is not None:
        assert preset_value(row, dataset) == value, row.where()


def test_avph_k_range_is_recorded_with_tvsum_categories(rows):
    row = find(rows, "avph", "tvsum", "K range (K-means, best silhouette)")
    assert row.path == "pseudo.k_min|pseudo.k_max"
    assert "10 real categories" in row.why
    assert preset_value(row, "tvsum") == [2, 6]


def _one_row(tmp_path: Path, **values: str) -> Path:
    row = {c: "" for c in ps.COLUMNS}
    row.update(paper="chd", dataset="youtube", method="chd", variant="full", source="§4.1")
    row.update(values)
    path = tmp_path / "settings.csv"
    path.write_text(
        ",".join(ps.COLUMNS) + "\n" + ",".join(row[c] for c in ps.COLUMNS) + "\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    "values, message",
    [
        # the paper's lr is 1e-5: a row that says 1e-3 and claims `equal` is refused
        (
            {"setting": "learning rate", "path": "settings.lr", "stated": "1e-3"},
            "claims `equal`",
        ),
        (
            {"setting": "batch size", "path": "settings.batch_size", "stated": "16"},
            "claims `equal`",
        ),
        # a claimed difference where the preset has the paper's value
        (
            {
                "setting": "learning rate",
                "path": "settings.lr",
                "stated": "1e-5",
                "status": "our choice",
                "why": "x",
            },
            "make it `equal`",
        ),
        ({"setting": "lr", "stated": "1e-5"}, "without a `path`"),
        ({"setting": "lr", "path": "settings.nope", "stated": "1"}, "does not resolve"),
    ],
)
def test_generator_refuses_false_claims(tmp_path, values, message):
    values.setdefault("status", "equal")
    csv_path = _one_row(tmp_path, **values)
    with pytest.raises(ps.PaperSettingsError, match="line 2") as caught:
        ps.render_paper_settings(REPO, csv_path)
    assert message in str(caught.value)
    assert values["setting"] in str(caught.value)


def test_computed_status_and_differences_are_listed(tmp_path):
    csv_path = _one_row(
        tmp_path,
        setting="learning rate",
        path="settings.lr",
        stated="1e-3",
        status="our choice",
        why="a reason",
    )
    page = ps.render_paper_settings(REPO, csv_path)
    assert (
        "| learning rate | 1e-3 | §4.1 | `1e-05` (settings.lr) | **our choice** | a reason |"
        in page
    )
    assert "* chd, youtube, learning rate (§4.1): **our choice**: a reason" in page


# ------------------------------------------------------------------ a run's own settings


def test_run_differences_name_what_the_config_changes():
    """A run in its paper's preset differs in nothing the paper states and the preset
    follows; the same run under the embedded CPU setting says which settings differ."""
    preset = ps.preset_config(REPO, "pld", "tvsum")
    assert ps.run_differences(preset, "tvsum", "pld", "tased-full") == []
    embedded = load_configs([REPO / "config.yaml"])
    found = ps.run_differences(embedded, "synthetic", "pld", "tased-full", "youtube")
    settings = [line.split(":")[0] for line in found]
    assert "optimizer" in settings and "epochs" in settings
    assert "optimizer: adam (paper: SGD)" in found
    changed = json.loads(json.dumps(preset))
    changed["datasets"]["tvsum"]["methods"]["pld"]["epochs"] = 40
    assert ps.run_differences(changed, "tvsum", "pld", "tased-full") == ["epochs: 40 (paper: 1500)"]
    # no paper, or nothing reported on the dataset: nothing to differ from
    assert ps.run_differences(embedded, "synthetic", "random", "default", "youtube") == []
    assert ps.run_differences(embedded, "synthetic", "pld", "tased-full", "vtw") == []


def test_an_ablation_row_is_not_flagged_for_its_own_change():
    """hpcl's loss ablations set λ2/λ3 to 0 on purpose (Table 4): not a difference."""
    config = ps.preset_config(REPO, "hpcl", "youtube")
    main = ps.run_differences(config, "youtube", "hpcl", "co-av")
    ablation = ps.run_differences(config, "youtube", "hpcl", "loss-ce")
    assert not any(line.startswith("λ") for line in ablation), ablation
    assert main == ablation  # everything else is compared alike
