"""The README.md model card that `sean publish` writes into its folder: what a receiver reads first, made of
the facts `sean inspect` shows (model_facts), so that the card and the command never disagree."""

from __future__ import annotations

from sean_core.checkpoint_files import CARD_MARK, CONFIG_FILE, WEIGHTS_FILE
from sean_core.install import installed_version
from sean_train.commands.inspect_model import SHOWN_CONFIG, ModelFacts

# The settings of the recorded training config (extra.training.train) that the card lists, in this order.
SHOWN_TRAINING = ("batch_size", "epochs", "epochs_decay", "lr_g", "lr_d", "lambda_l1", "lambda_feat", "lambda_vgg",
                  "amp", "seed", "synthetic_train_size")


# The config keys the card's model list above states in words, left out of its config list.
IN_THE_MODEL_LIST = ("domain", "num_classes", "style_dim", "height", "width")


def model_card(facts: ModelFacts, name: str) -> str:
    """The card of the model folder called `name` whose facts (model_facts of the folder as written) are `facts`."""
    config = facts.config
    domain = config.get("domain") or "no domain"
    classes = ", ".join(facts.class_names) if facts.class_names else "not named"
    total = sum(facts.parameters.values()) if facts.parameters is not None else None
    lines = [
        CARD_MARK,
        f"# SEAN model: {name} ({domain})",
        "",
        f"A SEAN image synthesis model (`{CONFIG_FILE}` + `{WEIGHTS_FILE}`): it paints an image of a label map, "
        f"each class region in the style (a code per class) taken from a style image. Written by `sean publish` "
        f"of sean-deploy {installed_version()}; "
        f"`sean inspect {name}` shows these facts and each SEAN layer's branch mix.",
        "",
        "## Model",
        "",
        f"- domain: {domain}",
        f"- classes ({config.get('num_classes', len(facts.class_names))}): {classes}",
        f"- resolution: {config.get('width')}x{config.get('height')} (width x height)",
        f"- style length: {config.get('style_dim')} numbers per class",
        f"- parameters: {total:,}" if total is not None else "- parameters: not recorded",
        f"- weights: {facts.weights_text()}" + ("; loading casts them to fp32" if facts.weights != "fp32" else ""),
        f"- training step: {facts.step}" if facts.step is not None else "- training step: not recorded",
        "",
        "Model config (the rest is in config.json):",
        "",
        *[f"- {key}: {config[key]}" for key in SHOWN_CONFIG if key in config and key not in IN_THE_MODEL_LIST],
    ]
    train = (facts.training or {}).get("train")
    if isinstance(train, dict):
        lines += ["", "## Training settings (the run's recorded config; all of it is in config.json)", ""]
        lines += [f"- {key}: {train[key]}" for key in SHOWN_TRAINING if key in train]
    lines += [
        "",
        "## Use it",
        "",
        f"From the folder that holds `{name}`, with sean-deploy installed:",
        "",
        "```bash",
        f"sean inspect {name}                     # the facts above, and each layer's branch mix",
        f"sean demo --checkpoint {name} -o demo   # example images, style swaps and a report",
        f"sean export {name} -o package           # ONNX graphs for `sean synth`, `sean serve`",
        "```",
        "",
        f"Keep `{CONFIG_FILE}` and `{WEIGHTS_FILE}` together: loading checks the weights against the sha256 "
        f"that `{CONFIG_FILE}` records. Loaders do not read this file.",
        "",
    ]
    return "\n".join(lines)
