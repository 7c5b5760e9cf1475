#!/usr/bin/env python3
"""Fine-tune a chat model on a correctly training bundle.

    python3 train.py --dry-run [--config config.json]
        Check config.json and every line of the data files with the standard
        library only (no torch, no transformers), print a summary, exit 0; on a
        problem print "file:line: what is wrong and how to fix it" and exit 2.

    python3 train.py [--config config.json]
        Supervised fine-tuning with transformers + peft (see requirements.txt):
        the tokenizer's chat template renders each conversation, the loss covers
        assistant tokens only, LoRA by default (method "full" trains every
        weight), bf16 where the GPU supports it. Evaluates and checkpoints every
        epoch into <output_dir>/checkpoints and resumes from the last complete
        checkpoint when relaunched. Writes the adapter or model and the
        tokenizer to <output_dir>/final and a summary to
        <output_dir>/report.json. When the bundle has a test part (test_file),
        writes <output_dir>/predictions.jsonl: one line per test example, in
        order, {"index", "messages" (the prompt, without the answer),
        "reference" (the answer in the data), "prediction" (greedy, batched)}.

A TERM (from `correctly train cancel`, or the watchdog at --max-duration)
stops training at the end of the current step after saving a checkpoint there;
a relaunch resumes from it. While it trains it touches the file named by
CORRECTLY_PROGRESS_FILE, the beat the box's stall watchdog listens for.

The config defaults to the config.json beside this file; relative paths in it
are resolved against the config's folder. HF_TOKEN, or a file named by
HF_TOKEN_FILE, authenticates downloads of gated models; the token is never
printed. When MLFLOW_TRACKING_URI is set and mlflow is importable, params and
per-epoch losses are logged there too; an unreachable server only warns.

Exit codes: 0 done, 1 training failed, 2 bad config, data or usage, 3 out of
memory, 4 stopped by TERM (checkpoint saved), 130 interrupted. This file is shipped verbatim in every bundle by `correctly train
bundle`; it runs on Python 3.8 and later.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import signal
import sys
import time

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_OUT_OF_MEMORY = 3
EXIT_STOPPED = 4
EXIT_INTERRUPTED = 130

# Label value the model's loss ignores (torch.nn.CrossEntropyLoss ignore_index).
IGNORE_INDEX = -100

# How many problems a dry run lists before it only counts them.
MAX_PROBLEMS = 20

ROLES = ("system", "user", "assistant")

# Used when the base model's tokenizer has no chat template of its own (plain
# base models): ChatML, with the tokenizer's end-of-sequence token closing each
# assistant turn so that the trained model learns to stop.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class Problem(Exception):
    """A problem with the bundle's config or data, reported as file:line."""

    def __init__(self, path, line, message):
        Exception.__init__(self, "%s:%d: %s" % (path, line, message))
        self.path = path
        self.line = line
        self.message = message


class Problems(Exception):
    """Every problem a check found, in file order."""

    def __init__(self, problems):
        Exception.__init__(self, "%d problem(s)" % len(problems))
        self.problems = problems


class SetupError(Exception):
    """The real run cannot start or finish; the message says what to do."""


class OutOfMemory(Exception):
    """The run ran out of (GPU) memory; the message says what to change."""


class Stopped(Exception):
    """A TERM stopped the run; the message says what was saved."""


def warn(message):
    sys.stderr.write("warning: %s\n" % message)
    sys.stderr.flush()


def say(message):
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def display_path(path):
    """Return path relative to the working directory when it lies below it."""
    try:
        cwd = os.getcwd()
        rel = os.path.relpath(path, cwd)
    except (OSError, ValueError):
        return path
    if cwd == os.sep or rel == ".." or rel.startswith(".." + os.sep):
        return os.path.abspath(path)
    return rel


# ---------------------------------------------------------------------------
# Config


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _int_at_least(low):
    def check(value):
        if not _is_int(value):
            return "must be a whole number, like %d" % max(low, 1)
        if value < low:
            return "must be at least %d" % low
        return None

    return check


def _positive_number(value):
    if not _is_number(value):
        return "must be a number, like 0.0002"
    if value <= 0:
        return "must be greater than 0"
    return None


def _fraction(value):
    if not _is_number(value):
        return "must be a number between 0 and 1, like 0.05"
    if value < 0 or value >= 1:
        return "must be at least 0 and below 1"
    return None


def _non_empty_string(value):
    if not isinstance(value, str) or not value.strip():
        return 'must be a non-empty string, like "output"'
    return None


def _optional_path(value):
    if not isinstance(value, str):
        return 'must be a path relative to the config, like "data/test.jsonl", or "" for none'
    return None


def _base_model(value):
    if not isinstance(value, str) or not value.strip():
        return 'must be a Hugging Face model id or a local path, like "Qwen/Qwen2.5-0.5B-Instruct"'
    if value != value.strip() or any(c.isspace() for c in value):
        return "must not contain spaces: give the model id exactly as on the Hugging Face Hub"
    return None


def _method(value):
    if value not in ("lora", "full"):
        return 'must be "lora" (train a small adapter) or "full" (train every weight), not %s' % json.dumps(value)
    return None


def _target_modules(value):
    if isinstance(value, str):
        if not value.strip():
            return 'must be "auto", a module name pattern, or a list of module names like ["q_proj", "v_proj"]'
        return None
    if isinstance(value, list):
        if not value:
            return 'must not be an empty list: use "auto" to adapt every linear layer'
        for name in value:
            if not isinstance(name, str) or not name.strip():
                return 'must list module names as non-empty strings, like ["q_proj", "v_proj"]'
        return None
    return 'must be "auto" or a list of module names like ["q_proj", "v_proj"]'


LORA_FIELDS = (
    ("r", 16, _int_at_least(1)),
    ("alpha", 32, _positive_number),
    ("dropout", 0.05, _fraction),
    ("target_modules", "auto", _target_modules),
)

# (key, default, check). A default of None marks a required key; learning_rate
# has its default filled in by method. A null value in config.json means the
# default.
CONFIG_FIELDS = (
    ("base_model", None, _base_model),
    ("method", "lora", _method),
    ("epochs", 3, _int_at_least(1)),
    ("batch_size", 4, _int_at_least(1)),
    ("learning_rate", "by method", _positive_number),
    ("seed", 42, _int_at_least(0)),
    ("max_seq_len", 1024, _int_at_least(16)),
    ("gradient_accumulation_steps", 1, _int_at_least(1)),
    ("output_dir", "output", _non_empty_string),
    ("train_file", "data/train.jsonl", _non_empty_string),
    ("val_file", "data/val.jsonl", _non_empty_string),
    ("test_file", "", _optional_path),
    ("max_new_tokens", 256, _int_at_least(1)),
    ("lora", "nested", None),
    ("num_generations", 3, _int_at_least(0)),
    ("warmup_ratio", 0.03, _fraction),
    ("save_total_limit", 2, _int_at_least(1)),
)

DEFAULT_LEARNING_RATE = {"lora": 2e-4, "full": 2e-5}


def _key_line(text, key, after=0):
    """Return the 1-based line of the first `"key":` at or after offset after."""
    match = re.compile(r'"%s"\s*:' % re.escape(key)).search(text, after)
    if match is None:
        return 1
    return text.count("\n", 0, match.start()) + 1


def load_config(path, display=None):
    """Read and check a bundle's config.json.

    Returns (config, warnings): config has every key of CONFIG_FIELDS filled in
    (defaults for absent or null keys) plus "config_dir", the folder relative
    paths are resolved against; warnings lists unknown keys as "file:line:
    warning" strings. Raises Problems listing every problem found.
    """
    display = display or display_path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise Problems([Problem(display, 1, "cannot read the config: %s: run `correctly train bundle` again, or pass --config PATH" % (e.strerror or e))])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise Problems([Problem(display, line, "not valid UTF-8: save the file as UTF-8")])
    try:
        data = json.loads(text)
    except ValueError as e:
        raise Problems([Problem(display, getattr(e, "lineno", 1), "invalid JSON: %s (column %d): fix the syntax" % (getattr(e, "msg", e), getattr(e, "colno", 0)))])
    if not isinstance(data, dict):
        raise Problems([Problem(display, 1, 'the config must be a JSON object like {"base_model": "..."}')])

    problems = []
    warnings = []
    config = {}
    known = set(name for name, _, _ in CONFIG_FIELDS)
    for key in sorted(data):
        if key not in known:
            warnings.append("%s:%d: warning: unknown key %s ignored" % (display, _key_line(text, key), json.dumps(key)))

    for key, default, check in CONFIG_FIELDS:
        value = data.get(key)
        if key == "lora":
            continue
        if value is None:
            if default is None:
                problems.append(Problem(display, 1, 'missing "%s": add it, e.g. "%s": "Qwen/Qwen2.5-0.5B-Instruct"' % (key, key)))
                continue
            config[key] = default
            continue
        reason = check(value)
        if reason:
            problems.append(Problem(display, _key_line(text, key), "%s %s" % (key, reason)))
            continue
        config[key] = value

    lora = data.get("lora")
    lora_cfg = dict((name, default) for name, default, _ in LORA_FIELDS)
    if lora is not None:
        lora_at = text.find('"lora"')
        if not isinstance(lora, dict):
            problems.append(Problem(display, _key_line(text, "lora"), 'lora must be an object like {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "auto"}'))
        else:
            lora_known = set(name for name, _, _ in LORA_FIELDS)
            for key in sorted(lora):
                if key not in lora_known:
                    warnings.append("%s:%d: warning: unknown key lora.%s ignored" % (display, _key_line(text, key, max(lora_at, 0)), key))
            for key, _, check in LORA_FIELDS:
                value = lora.get(key)
                if value is None:
                    continue
                reason = check(value)
                if reason:
                    problems.append(Problem(display, _key_line(text, key, max(lora_at, 0)), "lora.%s %s" % (key, reason)))
                    continue
                lora_cfg[key] = value
    config["lora"] = lora_cfg

    if problems:
        raise Problems(problems)
    if config["learning_rate"] == "by method":
        config["learning_rate"] = DEFAULT_LEARNING_RATE[config["method"]]
    config["config_dir"] = os.path.dirname(os.path.abspath(path))
    config["_key_lines"] = dict((key, _key_line(text, key)) for key in known)
    config["_display"] = display
    return config, warnings


def resolve(config, key):
    """Return config[key] as a path, resolved against the config's folder."""
    return os.path.join(config["config_dir"], config[key])


# ---------------------------------------------------------------------------
# Data


def check_example(obj):
    """Return why obj is not a usable chat example, or None when it is.

    A usable example is {"messages": [...]} where each message has a role
    (system, user or assistant) and string content, a system message comes
    only first, the first other message is the user's, and the last message is
    a non-empty assistant answer (the text trained on).
    """
    if not isinstance(obj, dict):
        return 'expected a JSON object like {"messages": [...]}, got %s' % _json_kind(obj)
    if "messages" not in obj:
        return 'missing "messages": each line needs {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}'
    messages = obj["messages"]
    if not isinstance(messages, list):
        return '"messages" must be a list of {"role": ..., "content": ...} objects, got %s' % _json_kind(messages)
    if not messages:
        return '"messages" is empty: add a user message and the assistant answer'
    for i, message in enumerate(messages):
        where = "messages[%d]" % i
        if not isinstance(message, dict):
            return '%s must be an object like {"role": "user", "content": "..."}, got %s' % (where, _json_kind(message))
        role = message.get("role")
        if role not in ROLES:
            if role is None:
                return '%s has no "role": set it to "system", "user" or "assistant"' % where
            return '%s.role is %s: use "system", "user" or "assistant"' % (where, json.dumps(role, ensure_ascii=False))
        content = message.get("content")
        if not isinstance(content, str):
            if content is None:
                return '%s has no "content": give the message text as a string' % where
            return "%s.content must be a string, got %s" % (where, _json_kind(content))
        if role == "system" and i != 0:
            return "%s is a system message: put the system message first, and only once" % where
    first = 1 if messages[0]["role"] == "system" else 0
    if first >= len(messages) or messages[first]["role"] != "user":
        if not any(m["role"] == "user" for m in messages):
            return 'no user message: add the learner\'s text as a "user" message before the answer'
        return 'messages[%d] is "%s": the conversation must start with a "user" message (after an optional system message)' % (first, messages[first]["role"] if first < len(messages) else "missing")
    last = messages[-1]
    if last["role"] != "assistant":
        return 'the last message is "%s": end each example with the "assistant" answer to train on' % last["role"]
    if not last["content"].strip():
        return "the final assistant message is empty: give the corrected answer, or drop the example"
    return None


def _json_kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def read_examples(path, display=None):
    """Read a JSONL file of chat examples.

    Returns a list of (line number, messages). Raises Problems listing each bad
    line as file:line (at most MAX_PROBLEMS of them are kept, the rest
    counted); an empty line is a problem too, so that the dry run and the
    real run see the same examples.
    """
    display = display or display_path(path)
    with open(path, "rb") as f:
        raw = f.read()
    examples = []
    problems = []
    more = 0
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last line
    for number, line in enumerate(lines, 1):
        reason = None
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            reason = "not valid UTF-8 at byte %d of the line: write the file as UTF-8" % (e.start + 1)
        else:
            if not text.strip():
                reason = "empty line: remove it (one JSON object per line)"
            else:
                try:
                    obj = json.loads(text)
                except ValueError as e:
                    reason = "invalid JSON: %s (column %d): write one JSON object per line" % (getattr(e, "msg", e), getattr(e, "colno", 0))
                else:
                    reason = check_example(obj)
        if reason:
            if len(problems) < MAX_PROBLEMS:
                problems.append(Problem(display, number, reason))
            else:
                more += 1
            continue
        examples.append((number, obj["messages"]))
    if more:
        problems.append(Problem(display, len(lines), "... and %d more bad line(s) in this file" % more))
    if problems:
        raise Problems(problems)
    return examples


def example_stats(examples):
    """Return counts and average/longest character lengths of examples."""
    n = len(examples)
    prompt = answer = longest = 0
    for _, messages in examples:
        p = sum(len(m["content"]) for m in messages[:-1])
        a = len(messages[-1]["content"])
        prompt += p
        answer += a
        longest = max(longest, p + a)
    return {
        "examples": n,
        "avg_chars": (prompt + answer) / n if n else 0.0,
        "avg_prompt_chars": prompt / n if n else 0.0,
        "avg_answer_chars": answer / n if n else 0.0,
        "max_chars": longest,
    }


def _example_key(messages):
    blob = json.dumps(messages, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).digest()


def load_bundle(config_path):
    """Check config and data; return (config, train, val, warnings).

    The test examples (when test_file is set) are in config["_test"]. Raises
    Problems with every problem found across config.json and the data files.
    """
    config, warnings = load_config(config_path)
    problems = []
    data = {"test_file": []}
    for key in ("train_file", "val_file", "test_file"):
        if key == "test_file" and not config[key]:
            continue
        path = resolve(config, key)
        shown = display_path(path)
        if not os.path.isfile(path):
            problems.append(Problem(config["_display"], config["_key_lines"].get(key, 1),
                                    "%s %s: no such file: write the bundle again with `correctly train bundle`, or fix the path (relative to the config's folder)" % (key, json.dumps(config[key]))))
            continue
        try:
            data[key] = read_examples(path, shown)
        except Problems as e:
            problems.extend(e.problems)
        except OSError as e:
            problems.append(Problem(shown, 1, "cannot read: %s" % (e.strerror or e)))
    if "train_file" in data and not data["train_file"]:
        problems.append(Problem(display_path(resolve(config, "train_file")), 1,
                                "no training examples: the file is empty; generate and accept records first, then run `correctly train bundle` again"))
    if problems:
        raise Problems(problems)
    train, val = data["train_file"], data["val_file"]
    config["_test"] = data["test_file"]
    if not val:
        warnings.append("%s: warning: no validation examples: eval loss and generations are skipped (raise --val-ratio)" % display_path(resolve(config, "val_file")))
    elif config["num_generations"] > len(val):
        warnings.append("warning: num_generations is %d but there are %d validation examples: generating for all of them" % (config["num_generations"], len(val)))
    if val:
        seen = set(_example_key(m) for _, m in train)
        overlap = sum(1 for _, m in val if _example_key(m) in seen)
        if overlap:
            warnings.append("%s: warning: %d validation example(s) also appear in the training data; eval loss will look better than it is" % (display_path(resolve(config, "val_file")), overlap))
    return config, train, val, warnings


def steps_per_epoch(n, config):
    batches = -(-n // config["batch_size"])
    return max(1, -(-batches // config["gradient_accumulation_steps"]))


def print_summary(config, train, val, out=say):
    lora = config["lora"]
    if config["method"] == "lora":
        method = "lora (r=%s, alpha=%s, dropout=%s, target_modules=%s)" % (
            lora["r"], lora["alpha"], lora["dropout"],
            lora["target_modules"] if isinstance(lora["target_modules"], str) else ",".join(lora["target_modules"]))
    else:
        method = "full"
    out("config %s" % config["_display"])
    out("  base_model    %s" % config["base_model"])
    out("  method        %s" % method)
    out("  epochs %d, batch_size %d, gradient_accumulation_steps %d, learning_rate %g, warmup_ratio %g" % (
        config["epochs"], config["batch_size"], config["gradient_accumulation_steps"], config["learning_rate"], config["warmup_ratio"]))
    out("  seed %d, max_seq_len %d, save_total_limit %d, num_generations %d, max_new_tokens %d, output_dir %s" % (
        config["seed"], config["max_seq_len"], config["save_total_limit"], config["num_generations"], config["max_new_tokens"], config["output_dir"]))
    parts = [("train_file", train), ("val_file", val)]
    if config.get("test_file"):
        parts.append(("test_file", config.get("_test", [])))
    for key, examples in parts:
        s = example_stats(examples)
        out("%s: %d examples, avg %.0f chars (prompt %.0f, answer %.0f), longest %d chars" % (
            display_path(resolve(config, key)), s["examples"], s["avg_chars"], s["avg_prompt_chars"], s["avg_answer_chars"], s["max_chars"]))
    per_epoch = steps_per_epoch(len(train), config)
    out("steps: %d per epoch, %d in all" % (per_epoch, per_epoch * config["epochs"]))


# ---------------------------------------------------------------------------
# Pieces of the real run that need no torch (tested by train_test.py)


def common_prefix_len(a, b):
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def build_labels(render, messages, max_len):
    """Tokenize one conversation and mask everything but the assistant's text.

    render(messages, add_generation_prompt) returns token ids from the
    tokenizer's chat template. The tokens of each assistant turn (its content
    and the template's end-of-turn marker) are the span between the rendered
    prompt before it (with the generation prompt) and the rendering that
    includes it; comparing renderings by common prefix keeps this right for
    templates that tokenize a boundary differently. Returns (input_ids,
    labels, truncated): both cut to max_len tokens, labels IGNORE_INDEX outside
    assistant spans, truncated True when the cut removed tokens; or None when
    no assistant token survives the cut.
    """
    ids = list(render(messages, False))
    labels = [IGNORE_INDEX] * len(ids)
    for i, message in enumerate(messages):
        if message["role"] != "assistant" or i == 0:
            continue
        start = common_prefix_len(render(messages[:i], True), ids)
        end = len(ids) if i == len(messages) - 1 else common_prefix_len(render(messages[:i + 1], False), ids)
        for k in range(start, end):
            labels[k] = ids[k]
    truncated = len(ids) > max_len
    ids, labels = ids[:max_len], labels[:max_len]
    if all(label == IGNORE_INDEX for label in labels):
        return None
    return ids, labels, truncated


def pad_features(features, pad_id, multiple=1):
    """Right-pad a batch: input_ids with pad_id, labels with IGNORE_INDEX.

    Returns lists input_ids, labels and attention_mask (1 for real tokens),
    each as long as the longest example rounded up to a multiple of multiple.
    """
    longest = max(len(f["input_ids"]) for f in features)
    if multiple > 1:
        longest = -(-longest // multiple) * multiple
    batch = {"input_ids": [], "labels": [], "attention_mask": []}
    for f in features:
        pad = longest - len(f["input_ids"])
        batch["input_ids"].append(list(f["input_ids"]) + [pad_id] * pad)
        batch["labels"].append(list(f["labels"]) + [IGNORE_INDEX] * pad)
        batch["attention_mask"].append([1] * len(f["input_ids"]) + [0] * pad)
    return batch


def _epoch_of(value):
    # Trainer reports fractional epochs (1.5 is half-way through the second);
    # a log at exactly 2.0 closes the second epoch.
    return max(1, int(math.ceil(value - 1e-6)))


def epoch_losses(log_history):
    """Per-epoch train loss (step-weighted mean of logged losses) and eval loss.

    log_history is Trainer.state.log_history, which survives resuming from a
    checkpoint. Returns [{"epoch", "train_loss", "eval_loss"}] sorted by epoch;
    a loss nobody logged is None.
    """
    rows = {}
    last_step = 0
    for entry in log_history:
        if "epoch" not in entry or entry["epoch"] is None:
            continue
        epoch = _epoch_of(entry["epoch"])
        row = rows.setdefault(epoch, {"epoch": epoch, "_sum": 0.0, "_steps": 0, "eval_loss": None})
        if "loss" in entry:
            step = entry.get("step", last_step + 1)
            weight = max(1, step - last_step)
            last_step = step
            row["_sum"] += entry["loss"] * weight
            row["_steps"] += weight
        if "eval_loss" in entry:
            row["eval_loss"] = entry["eval_loss"]
    out = []
    for epoch in sorted(rows):
        row = rows[epoch]
        if not row["_steps"] and row["eval_loss"] is None:
            continue
        out.append({
            "epoch": epoch,
            "train_loss": row["_sum"] / row["_steps"] if row["_steps"] else None,
            "eval_loss": row["eval_loss"],
        })
    return out


def write_json_atomic(path, obj):
    """Write obj as JSON to path through a temporary file and os.replace."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, ".%s.tmp-%d" % (os.path.basename(path), os.getpid()))
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def hf_token(environ):
    """Return the Hugging Face token from HF_TOKEN or the file HF_TOKEN_FILE names.

    Returns None when neither is set. Raises SetupError (never showing the
    token) when the file cannot be read or is empty.
    """
    token = (environ.get("HF_TOKEN") or "").strip()
    if token:
        return token
    path = environ.get("HF_TOKEN_FILE")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            token = f.read().strip()
        mode = os.stat(path).st_mode
    except (OSError, UnicodeDecodeError) as e:
        raise SetupError("read HF_TOKEN_FILE %s: %s: upload the token file again, or unset HF_TOKEN_FILE for public models" % (path, getattr(e, "strerror", None) or e.__class__.__name__))
    if not token:
        raise SetupError("HF_TOKEN_FILE %s is empty: write the token into it, or unset HF_TOKEN_FILE for public models" % path)
    if mode & 0o077:
        warn("HF_TOKEN_FILE %s can be read by other users: chmod 600 it" % path)
    return token


def lora_target_modules(value):
    """Map the config's target_modules to peft's: "auto" means every linear layer."""
    if value == "auto":
        return "all-linear"
    return value


def generation_input(messages):
    """Return (prompt messages, user text, reference answer) of an example."""
    prompt = messages[:-1]
    user = ""
    for message in prompt:
        if message["role"] == "user":
            user = message["content"]
    return prompt, user, messages[-1]["content"]


def fold_system(messages):
    """Merge a leading system message into the first user message.

    For chat templates that reject the system role (Gemma's, for one).
    """
    if len(messages) < 2 or messages[0]["role"] != "system":
        return messages
    rest = [dict(m) for m in messages[1:]]
    rest[0]["content"] = messages[0]["content"] + "\n\n" + rest[0]["content"]
    return rest


def checkpoint_complete(path):
    """Report whether a Trainer checkpoint was saved to the end.

    Trainer writes trainer_state.json after the weights and optimizer state, so
    a run killed while saving leaves a checkpoint without a readable one.
    """
    try:
        with open(os.path.join(path, "trainer_state.json"), encoding="utf-8") as f:
            json.load(f)
    except (OSError, ValueError):
        return False
    return True


def last_complete_checkpoint(ckpt_dir, last_checkpoint):
    """Return the newest complete checkpoint in ckpt_dir, or None.

    last_checkpoint is transformers' get_last_checkpoint. Checkpoints newer
    than the last complete one are half-written and are removed, so that
    resuming neither loads nor later rotates them.
    """
    while True:
        last = last_checkpoint(ckpt_dir)
        if last is None or checkpoint_complete(last):
            return last
        warn("%s was not saved completely (the run stopped while saving): removing it and resuming from the one before" % display_path(last))
        shutil.rmtree(last)


def training_arguments(accepted, wanted):
    """Keep the TrainingArguments keywords this transformers version accepts.

    accepted is the set of parameter names; eval_strategy was called
    evaluation_strategy before transformers 4.41.
    """
    kwargs = dict(wanted)
    if "eval_strategy" in kwargs and "eval_strategy" not in accepted and "evaluation_strategy" in accepted:
        kwargs["evaluation_strategy"] = kwargs.pop("eval_strategy")
    dropped = sorted(k for k in kwargs if k not in accepted)
    for key in dropped:
        del kwargs[key]
    return kwargs, dropped


def warmup_steps(total_steps, ratio):
    """Warm-up steps for a share of the run (warmup_ratio is deprecated in transformers 5)."""
    return int(math.ceil(total_steps * ratio))


def _version_tuple(version):
    out = []
    for part in re.split(r"[.+-]", version):
        if not part.isdigit():
            break
        out.append(int(part))
    return tuple(out)


def dtype_kwargs(transformers_version, dtype):
    """from_pretrained's keyword for the weights' dtype: dtype since 4.56, torch_dtype before."""
    if _version_tuple(transformers_version) >= (4, 56):
        return {"dtype": dtype}
    return {"torch_dtype": dtype}


def left_pad(prompts, pad_id):
    """Left-pad token id lists for batched generation.

    Returns (input_ids, attention_mask, width): every row ends at the same
    column, so the generated tokens of each row start at width.
    """
    width = max(len(p) for p in prompts)
    ids = [[pad_id] * (width - len(p)) + list(p) for p in prompts]
    mask = [[0] * (width - len(p)) + [1] * len(p) for p in prompts]
    return ids, mask, width


def prediction_record(index, messages, prediction):
    """One line of predictions.jsonl: the prompt, the data's answer, the model's."""
    prompt, _, reference = generation_input(messages)
    return {"index": index, "messages": prompt, "reference": reference, "prediction": prediction}


def write_jsonl_atomic(path, rows):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, ".%s.tmp-%d" % (os.path.basename(path), os.getpid()))
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Beat(object):
    """Touches the progress file (CORRECTLY_PROGRESS_FILE) at most once a second.

    Only real progress beats: a step, a log, a checkpoint, a generated batch.
    A thread beating on its own would hide a hung run from the watchdog.
    """

    def __init__(self, path, clock=time.time):
        self.path = path
        self.clock = clock
        self.last = 0.0

    def __call__(self, force=False):
        if not self.path:
            return
        t = self.clock()
        if not force and t - self.last < 1.0:
            return
        self.last = t
        try:
            with open(self.path, "a"):
                pass
            os.utime(self.path, None)
        except OSError:
            pass


class StopRequest(object):
    """Set by the first TERM; later ones are ignored (the watchdog KILLs a run that hangs)."""

    def __init__(self):
        self.requested = False

    def install(self):
        def on_term(signum, frame):
            self.requested = True
        try:
            signal.signal(signal.SIGTERM, on_term)
        except ValueError:  # not the main thread (tests)
            pass
        return self


def out_of_memory_kind(e, torch):
    """Return "GPU" or "host" when e is torch running out of that memory, else None."""
    cuda_oom = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    if isinstance(cuda_oom, type) and isinstance(e, cuda_oom):
        return "GPU"
    any_oom = getattr(torch, "OutOfMemoryError", None)
    if isinstance(any_oom, type) and isinstance(e, any_oom):
        return "GPU"
    text = str(e)
    if isinstance(e, RuntimeError) and "CUDA out of memory" in text:
        return "GPU"
    if isinstance(e, (RuntimeError, MemoryError)) and ("can't allocate memory" in text or isinstance(e, MemoryError)):
        return "host"
    return None


def out_of_memory_message(e, config, step, kind):
    first = (str(e).strip().splitlines() or [e.__class__.__name__])[0][:300]
    return ("out of %s memory at step %d (%s) with batch_size %d, max_seq_len %d: lower batch_size or max_seq_len "
            "in config.json (raise gradient_accumulation_steps to keep the effective batch of %d), then train again; "
            "a relaunch resumes from the last checkpoint") % (
        kind, step, first, config["batch_size"], config["max_seq_len"],
        config["batch_size"] * config["gradient_accumulation_steps"])


# ---------------------------------------------------------------------------
# Real run (needs requirements.txt)


class MlflowLog(object):
    """Logs params and metrics to MLflow; any failure warns once and stops logging."""

    def __init__(self, mlflow):
        self.mlflow = mlflow
        self.active = True

    @classmethod
    def open(cls, environ):
        if not environ.get("MLFLOW_TRACKING_URI"):
            return None
        # Keep an unreachable server from stalling training in retries.
        environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
        try:
            import mlflow
        except ImportError:
            warn("MLFLOW_TRACKING_URI is set but mlflow is not installed: python3 -m pip install mlflow, or unset MLFLOW_TRACKING_URI")
            return None
        return cls(mlflow)

    def _call(self, what, fn, *args, **kwargs):
        if not self.active:
            return
        try:
            fn(*args, **kwargs)
        except Exception as e:  # any mlflow failure must not stop training
            self.active = False
            warn("mlflow %s failed, not logging there any more: %s" % (what, e.__class__.__name__))

    def start(self, run_name, params):
        self._call("start run", self.mlflow.start_run, run_name=run_name)
        self._call("log params", self.mlflow.log_params, params)

    def metrics(self, values, step):
        values = dict((k, v) for k, v in values.items() if v is not None)
        if values:
            self._call("log metrics", self.mlflow.log_metrics, values, step=step)

    def end(self, status):
        self._call("end run", self.mlflow.end_run, status=status)


def mlflow_params(config, train_n, val_n):
    lora = config["lora"]
    params = {
        "base_model": config["base_model"],
        "method": config["method"],
        "epochs": config["epochs"],
        "batch_size": config["batch_size"],
        "gradient_accumulation_steps": config["gradient_accumulation_steps"],
        "learning_rate": config["learning_rate"],
        "warmup_ratio": config["warmup_ratio"],
        "seed": config["seed"],
        "max_seq_len": config["max_seq_len"],
        "train_examples": train_n,
        "val_examples": val_n,
    }
    if config["method"] == "lora":
        params.update({
            "lora_r": lora["r"],
            "lora_alpha": lora["alpha"],
            "lora_dropout": lora["dropout"],
            "lora_target_modules": lora["target_modules"] if isinstance(lora["target_modules"], str) else ",".join(lora["target_modules"]),
        })
    return params


def _token_ids(out):
    """Normalize apply_chat_template's result to a flat list of ints."""
    if hasattr(out, "keys") and "input_ids" in out:
        out = out["input_ids"]
    if hasattr(out, "tolist"):
        out = out.tolist()
    out = list(out)
    if out and isinstance(out[0], (list, tuple)):
        out = list(out[0])
    return out


def run_training(config, train, val, environ):
    """Fine-tune, save output_dir/final, predict the test part, write output_dir/report.json.

    Raises SetupError (cannot run), OutOfMemory, or Stopped (a TERM: a
    checkpoint was saved where training stopped).
    """
    started = time.time()
    stop = StopRequest().install()
    beat = Beat(environ.get("CORRECTLY_PROGRESS_FILE"))
    token = hf_token(environ)
    if token:
        environ["HF_TOKEN"] = token
    try:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments
        from transformers.trainer_callback import PrinterCallback
        from transformers.trainer_utils import get_last_checkpoint
    except ImportError as e:
        raise SetupError("cannot import %s (%s): install the pinned packages with: python3 -m pip install -r requirements.txt" % (getattr(e, "name", None) or "a training package", e))
    peft = None
    if config["method"] == "lora":
        try:
            import peft
        except ImportError as e:
            raise SetupError("cannot import peft (%s): install the pinned packages with: python3 -m pip install -r requirements.txt" % e)
    else:
        try:
            import peft
        except ImportError:
            peft = None

    transformers.set_seed(config["seed"])
    base_dir = config["config_dir"]
    output_dir = os.path.join(base_dir, config["output_dir"])
    ckpt_dir = os.path.join(output_dir, "checkpoints")
    final_dir = os.path.join(output_dir, "final")
    os.makedirs(ckpt_dir, exist_ok=True)
    test = config.get("_test") or []

    cuda = torch.cuda.is_available()
    if cuda and torch.cuda.is_bf16_supported():
        precision, load_dtype = "bf16", torch.bfloat16
    elif cuda:
        precision, load_dtype = "fp16", torch.float16
    else:
        precision, load_dtype = "fp32", torch.float32
    if config["method"] == "full":
        # Mixed precision keeps fp32 master weights; the optimizer needs them.
        load_dtype = torch.float32
    gpu = torch.cuda.get_device_name(0) if cuda else "cpu"
    say("device %s, precision %s, torch %s, transformers %s%s" % (
        gpu, precision, torch.__version__, transformers.__version__, ", peft %s" % peft.__version__ if peft else ""))

    say("loading tokenizer %s" % config["base_model"])
    tokenizer = AutoTokenizer.from_pretrained(config["base_model"], token=token)
    if not getattr(tokenizer, "chat_template", None):
        warn("%s has no chat template: using a ChatML template (saved with the model)" % config["base_model"])
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise SetupError("tokenizer of %s has neither a pad nor an end-of-sequence token: choose a chat model" % config["base_model"])
        tokenizer.pad_token = tokenizer.eos_token

    template = {"fold_system": False}

    def render(messages, add_generation_prompt):
        if template["fold_system"]:
            messages = fold_system(messages)
        return _token_ids(tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt))

    probe = next((m for _, m in train if m[0]["role"] == "system"), train[0][1])
    try:
        render(probe, False)
    except Exception as e:  # jinja2 raises TemplateError from the template's own checks
        if probe[0]["role"] != "system":
            raise SetupError("the chat template of %s cannot render the data: %s: choose a chat model" % (config["base_model"], e))
        template["fold_system"] = True
        try:
            render(probe, False)
        except Exception as e2:
            raise SetupError("the chat template of %s cannot render the data: %s: choose a chat model" % (config["base_model"], e2))
        warn("the chat template of %s rejects system messages (%s): prepending the system text to the first user message" % (config["base_model"], e))

    def encode(examples, name):
        features, dropped, cut = [], 0, 0
        for _, messages in examples:
            full = build_labels(render, messages, config["max_seq_len"])
            beat()
            if full is None:
                dropped += 1
                continue
            ids, labels, truncated = full
            if truncated:
                cut += 1
            features.append({"input_ids": ids, "labels": labels})
        say("%s: %d examples tokenized, %d cut at max_seq_len %d, %d dropped (prompt longer than max_seq_len)" % (
            name, len(features), cut, config["max_seq_len"], dropped))
        return features

    train_features = encode(train, "train")
    val_features = encode(val, "val")
    if not train_features:
        raise SetupError("every training example is longer than max_seq_len %d before the answer: raise max_seq_len in config.json" % config["max_seq_len"])

    say("loading model %s (%s)" % (config["base_model"], str(load_dtype).replace("torch.", "")))
    model = AutoModelForCausalLM.from_pretrained(config["base_model"], token=token, **dtype_kwargs(transformers.__version__, load_dtype))
    model.config.use_cache = False
    if config["method"] == "lora":
        lora = config["lora"]
        lora_config = peft.LoraConfig(
            task_type=peft.TaskType.CAUSAL_LM,
            r=lora["r"],
            lora_alpha=lora["alpha"],
            lora_dropout=lora["dropout"],
            target_modules=lora_target_modules(lora["target_modules"]),
            bias="none",
        )
        model = peft.get_peft_model(model, lora_config)
        # Trainable weights stay fp32 under mixed precision ("Attempting to
        # unscale FP16 gradients" otherwise); recent peft does this itself.
        for param in model.parameters():
            if param.requires_grad and param.dtype != torch.float32:
                param.data = param.data.float()
        model.print_trainable_parameters()
        sys.stdout.flush()

    pad_id = tokenizer.pad_token_id
    multiple = 8 if cuda else 1

    def collate(features):
        batch = pad_features(features, pad_id, multiple)
        return dict((k, torch.tensor(v, dtype=torch.long)) for k, v in batch.items())

    per_epoch = steps_per_epoch(len(train_features), config)
    logging_steps = max(1, min(50, per_epoch // 10))

    mlflow_log = MlflowLog.open(environ)
    stopped_at = {}

    class Progress(TrainerCallback):
        """Prints progress lines, beats, closes each epoch's loss window, feeds MLflow, honours a TERM."""

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                say("training: %d examples, %d epochs, %d steps (%d per epoch)" % (
                    len(train_features), config["epochs"], state.max_steps, per_epoch))
            beat(True)

        def on_step_end(self, args, state, control, **kwargs):
            beat()
            if stop.requested and not stopped_at:
                # save a checkpoint at this step, then stop: a relaunch resumes here
                stopped_at["step"] = state.global_step
                control.should_save = True
                control.should_training_stop = True
                say("TERM received: stopping after step %d; saving a checkpoint there" % state.global_step)
            return control

        def on_save(self, args, state, control, **kwargs):
            beat(True)

        def on_log(self, args, state, control, logs=None, **kwargs):
            beat()
            if not state.is_world_process_zero or not logs:
                return
            if "loss" in logs:
                say("epoch %.2f/%d step %d/%d loss %.4f lr %.3g elapsed %ds" % (
                    state.epoch or 0.0, config["epochs"], state.global_step, state.max_steps,
                    logs["loss"], logs.get("learning_rate", 0.0), time.time() - started))
            if "eval_loss" in logs:
                say("epoch %d eval_loss %.4f" % (_epoch_of(state.epoch or 1), logs["eval_loss"]))

        def on_epoch_end(self, args, state, control, **kwargs):
            # Log the steps since the last log so each epoch's train loss covers
            # exactly that epoch (unless the last step just logged).
            every = getattr(state, "logging_steps", None) or args.logging_steps
            logged_now = state.global_step % every == 0 or (args.logging_first_step and state.global_step == 1)
            if not logged_now:
                control.should_log = True
            if not val_features and mlflow_log and state.is_world_process_zero:
                # No evaluation follows: log what the epoch has so far.
                rows = epoch_losses(state.log_history)
                if rows:
                    mlflow_log.metrics({"train_loss": rows[-1]["train_loss"]}, rows[-1]["epoch"])
            return control

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            beat(True)
            if mlflow_log and state.is_world_process_zero:
                rows = epoch_losses(state.log_history)
                if rows:
                    row = rows[-1]
                    mlflow_log.metrics({"train_loss": row["train_loss"], "eval_loss": row["eval_loss"]}, row["epoch"])

    import inspect
    accepted = set(inspect.signature(TrainingArguments.__init__).parameters)
    kwargs, dropped = training_arguments(accepted, {
        "output_dir": ckpt_dir,
        "num_train_epochs": config["epochs"],
        "per_device_train_batch_size": config["batch_size"],
        "per_device_eval_batch_size": config["batch_size"],
        "gradient_accumulation_steps": config["gradient_accumulation_steps"],
        "learning_rate": config["learning_rate"],
        "warmup_steps": warmup_steps(per_epoch * config["epochs"], config["warmup_ratio"]),
        "lr_scheduler_type": "linear",
        "weight_decay": 0.0,
        "logging_strategy": "steps",
        "logging_steps": logging_steps,
        "logging_first_step": True,
        "eval_strategy": "epoch" if val_features else "no",
        "save_strategy": "epoch",
        "save_total_limit": config["save_total_limit"],
        "seed": config["seed"],
        "data_seed": config["seed"],
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "report_to": "none",
        "remove_unused_columns": False,
        "prediction_loss_only": True,
        "label_names": ["labels"],
        "disable_tqdm": True,
        "dataloader_pin_memory": cuda,
    })
    if dropped:
        warn("this transformers version ignores TrainingArguments %s" % ", ".join(dropped))
    trainer = Trainer(
        model=model,
        args=TrainingArguments(**kwargs),
        train_dataset=train_features,
        eval_dataset=val_features or None,
        data_collator=collate,
        callbacks=[Progress()],
    )
    trainer.remove_callback(PrinterCallback)  # Progress prints instead

    def check_stop(what):
        if stop.requested:
            raise Stopped("TERM received %s: nothing more was trained; relaunch to finish" % what)

    def generate(examples, what):
        """Greedy answers to the examples' prompts, in order, a batch at a time (left-padded)."""
        model = trainer.model
        model.eval()
        model.config.use_cache = True
        device = next(model.parameters()).device
        texts = []
        batch = config["batch_size"]
        for i in range(0, len(examples), batch):
            check_stop("while generating %s" % what)
            chunk = examples[i:i + batch]
            ids, mask, width = left_pad([render(generation_input(m)[0], True) for _, m in chunk], pad_id)
            with torch.inference_mode():
                out = model.generate(
                    input_ids=torch.tensor(ids, dtype=torch.long, device=device),
                    attention_mask=torch.tensor(mask, dtype=torch.long, device=device),
                    max_new_tokens=config["max_new_tokens"],
                    do_sample=False,
                    pad_token_id=pad_id,
                )
            for row in out:
                texts.append(tokenizer.decode(row[width:], skip_special_tokens=True).strip())
            beat(True)
            say("%s: %d/%d generated" % (what, len(texts), len(examples)))
        return texts

    last = last_complete_checkpoint(ckpt_dir, get_last_checkpoint)
    if last:
        say("resuming from %s" % display_path(last))
    check_stop("before training")
    status = "FAILED"
    step = {"n": 0}
    try:
        if mlflow_log:
            mlflow_log.start(os.path.basename(os.path.abspath(base_dir)), mlflow_params(config, len(train_features), len(val_features)))
        trainer.train(resume_from_checkpoint=last)
        step["n"] = trainer.state.global_step
        if stopped_at:
            raise Stopped("stopped by TERM after step %d of %d: checkpoint %s saved; relaunch to resume from it" % (
                stopped_at["step"], trainer.state.max_steps,
                display_path(os.path.join(ckpt_dir, "checkpoint-%d" % stopped_at["step"]))))
        losses = epoch_losses(trainer.state.log_history)
        final_eval_loss = None
        if val_features:
            final_eval_loss = losses[-1]["eval_loss"] if losses and losses[-1]["eval_loss"] is not None else trainer.evaluate()["eval_loss"]

        tmp_dir = final_dir + ".tmp"
        shutil.rmtree(tmp_dir, ignore_errors=True)
        trainer.save_model(tmp_dir)
        tokenizer.save_pretrained(tmp_dir)
        shutil.rmtree(final_dir, ignore_errors=True)
        os.replace(tmp_dir, final_dir)
        beat(True)
        say("saved %s to %s" % ("adapter" if config["method"] == "lora" else "model", display_path(final_dir)))

        generations = []
        chosen = val[:config["num_generations"]]
        for i, (text, (_, messages)) in enumerate(zip(generate(chosen, "validation samples"), chosen), 1):
            _, user, reference = generation_input(messages)
            generations.append({"input": user, "reference": reference, "output": text})
            say("generation %d/%d: %s" % (i, len(chosen), json.dumps(text, ensure_ascii=False)[:300]))

        predictions = None
        if test:
            rows = [prediction_record(i, m, text) for i, (text, (_, m)) in enumerate(zip(generate(test, "test predictions"), test))]
            path = os.path.join(output_dir, "predictions.jsonl")
            write_jsonl_atomic(path, rows)
            predictions = {"file": "predictions.jsonl", "examples": len(rows)}
            say("wrote %s (%d test examples)" % (display_path(path), len(rows)))

        report = {
            "base_model": config["base_model"],
            "method": config["method"],
            "epochs": config["epochs"],
            "train_examples": len(train_features),
            "val_examples": len(val_features),
            "test_examples": len(test),
            "losses": losses,
            "final_eval_loss": final_eval_loss,
            "generations": generations,
            "predictions": predictions,
            "runtime_s": round(time.time() - started, 1),
            "gpu": gpu,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__ if peft else None,
        }
        write_json_atomic(os.path.join(output_dir, "report.json"), report)
        say("wrote %s" % display_path(os.path.join(output_dir, "report.json")))
        if mlflow_log and final_eval_loss is not None:
            mlflow_log.metrics({"final_eval_loss": final_eval_loss}, config["epochs"])
        status = "FINISHED"
    except Exception as e:
        kind = out_of_memory_kind(e, torch)
        if kind:
            raise OutOfMemory(out_of_memory_message(e, config, trainer.state.global_step, kind)) from None
        if isinstance(e, Stopped):
            status = "KILLED"
        raise
    finally:
        if mlflow_log:
            mlflow_log.end(status)


# ---------------------------------------------------------------------------


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Fine-tune a chat model on a correctly training bundle.")
    parser.add_argument("--dry-run", action="store_true",
                        help="check config and data with the standard library only, print a summary, and exit")
    parser.add_argument("--config", default=os.path.join(here, "config.json"),
                        help="bundle config (default: config.json beside train.py)")
    args = parser.parse_args(argv)

    try:
        config, train, val, warnings = load_bundle(args.config)
    except Problems as e:
        for problem in e.problems:
            sys.stderr.write("%s\n" % problem)
        sys.stderr.write("%d problem(s) in the bundle of %s; fix them and run again (nothing was trained)\n" % (len(e.problems), display_path(args.config)))
        return EXIT_INVALID
    for message in warnings:
        sys.stderr.write(message + "\n")
    if args.dry_run:
        print_summary(config, train, val)
        say("dry run ok")
        return EXIT_OK

    print_summary(config, train, val)
    try:
        run_training(config, train, val, os.environ)
    except SetupError as e:
        sys.stderr.write("error: %s\n" % e)
        return EXIT_FAILED
    except OutOfMemory as e:
        sys.stderr.write("error: %s\n" % e)
        return EXIT_OUT_OF_MEMORY
    except Stopped as e:
        sys.stderr.write("%s\n" % e)
        return EXIT_STOPPED
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; relaunch to resume from the last checkpoint\n")
        return EXIT_INTERRUPTED
    say("done")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
