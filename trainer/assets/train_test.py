"""Unit tests for the parts of train.py that need no torch.

Run from this folder: python3 -m unittest -v train_test
(trainer/trainpy_test.go runs them as part of `go test ./trainer/`).
"""

import contextlib
import io
import json
import os
import re
import shutil
import stat
import sys
import signal
import tempfile
import types
import unittest
from contextlib import redirect_stderr, redirect_stdout
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import train  # noqa: E402

IGNORE = train.IGNORE_INDEX


def chatml_render(messages, add_generation_prompt):
    """A character-level stand-in for a ChatML tokenizer: one id per character."""
    text = ""
    for m in messages:
        text += "<|im_start|>%s\n%s<|im_end|>\n" % (m["role"], m["content"])
    if add_generation_prompt:
        text += "<|im_start|>assistant\n"
    return [ord(c) for c in text]


def labelled_text(ids, labels):
    return "".join(chr(i) for i, label in zip(ids, labels) if label != IGNORE)


def conversation(*pairs):
    return [{"role": role, "content": content} for role, content in pairs]


class BuildLabelsTest(unittest.TestCase):
    def test_loss_covers_only_the_answer_and_its_end_marker(self):
        messages = conversation(("system", "Fix it."), ("user", "I am agree."), ("assistant", "I agree."))
        ids, labels, truncated = train.build_labels(chatml_render, messages, 4096)
        self.assertEqual(ids, chatml_render(messages, False))
        self.assertEqual(labelled_text(ids, labels), "I agree.<|im_end|>\n")
        self.assertFalse(truncated)
        for i, label in zip(ids, labels):
            self.assertIn(label, (IGNORE, i))

    def test_every_assistant_turn_is_trained_and_no_user_turn(self):
        messages = conversation(("user", "one"), ("assistant", "ANSWER1"), ("user", "two"), ("assistant", "ANSWER2"))
        ids, labels, _ = train.build_labels(chatml_render, messages, 4096)
        self.assertEqual(labelled_text(ids, labels), "ANSWER1<|im_end|>\nANSWER2<|im_end|>\n")

    def test_boundary_tokenized_differently_keeps_the_common_prefix(self):
        # A tokenizer that merges the generation prompt's last token with the
        # first answer character, as BPE can do across a boundary.
        def render(messages, add_generation_prompt):
            ids = chatml_render(messages, add_generation_prompt)
            if add_generation_prompt:
                ids[-1] = 9999
            return ids

        messages = conversation(("user", "hi"), ("assistant", "Hello"))
        ids, labels, _ = train.build_labels(render, messages, 4096)
        self.assertEqual(labelled_text(ids, labels), "\nHello<|im_end|>\n")

    def test_cut_at_max_len_keeps_the_start_of_the_answer(self):
        messages = conversation(("user", "hi"), ("assistant", "A long answer"))
        prompt_len = len(chatml_render(messages[:1], True))
        ids, labels, truncated = train.build_labels(chatml_render, messages, prompt_len + 3)
        self.assertEqual(len(ids), prompt_len + 3)
        self.assertEqual(len(labels), prompt_len + 3)
        self.assertEqual(labelled_text(ids, labels), "A l")
        self.assertTrue(truncated)

    def test_prompt_longer_than_max_len_drops_the_example(self):
        messages = conversation(("user", "x" * 100), ("assistant", "y"))
        self.assertIsNone(train.build_labels(chatml_render, messages, 50))


class PadFeaturesTest(unittest.TestCase):
    def test_pads_right_with_pad_id_ignored_labels_and_zero_mask(self):
        batch = train.pad_features([
            {"input_ids": [1, 2, 3], "labels": [IGNORE, 2, 3]},
            {"input_ids": [4], "labels": [4]},
        ], pad_id=0)
        self.assertEqual(batch["input_ids"], [[1, 2, 3], [4, 0, 0]])
        self.assertEqual(batch["labels"], [[IGNORE, 2, 3], [4, IGNORE, IGNORE]])
        self.assertEqual(batch["attention_mask"], [[1, 1, 1], [1, 0, 0]])

    def test_rounds_length_up_to_multiple(self):
        batch = train.pad_features([{"input_ids": [1] * 9, "labels": [1] * 9}], pad_id=7, multiple=8)
        self.assertEqual(len(batch["input_ids"][0]), 16)
        self.assertEqual(batch["input_ids"][0][9:], [7] * 7)
        self.assertEqual(sum(batch["attention_mask"][0]), 9)


class EpochLossesTest(unittest.TestCase):
    def test_step_weighted_train_loss_and_eval_loss_per_epoch(self):
        history = [
            {"loss": 4.0, "epoch": 0.25, "step": 1},
            {"loss": 2.0, "epoch": 1.0, "step": 4},   # 3 steps at 2.0
            {"eval_loss": 1.5, "epoch": 1.0, "step": 4},
            {"loss": 1.0, "epoch": 1.5, "step": 6},
            {"loss": 0.5, "epoch": 2.0, "step": 8},
            {"eval_loss": 1.25, "epoch": 2.0, "step": 8},
            {"train_runtime": 10.0, "train_loss": 1.6, "epoch": 2.0, "step": 8},
        ]
        got = train.epoch_losses(history)
        self.assertEqual([r["epoch"] for r in got], [1, 2])
        self.assertAlmostEqual(got[0]["train_loss"], (4.0 + 3 * 2.0) / 4)
        self.assertEqual(got[0]["eval_loss"], 1.5)
        self.assertAlmostEqual(got[1]["train_loss"], 0.75)
        self.assertEqual(got[1]["eval_loss"], 1.25)

    def test_float_noise_around_epoch_boundaries_stays_in_its_epoch(self):
        history = [
            {"loss": 1.0, "epoch": 0.9999999999, "step": 3},
            {"eval_loss": 2.0, "epoch": 1.0000000001, "step": 3},
            {"loss": 3.0, "epoch": 1.3333, "step": 4},
        ]
        got = train.epoch_losses(history)
        self.assertEqual(got, [
            {"epoch": 1, "train_loss": 1.0, "eval_loss": 2.0},
            {"epoch": 2, "train_loss": 3.0, "eval_loss": None},
        ])

    def test_no_losses_gives_empty_list(self):
        self.assertEqual(train.epoch_losses([]), [])


class WriteJsonAtomicTest(unittest.TestCase):
    def test_replaces_the_file_and_leaves_no_temporary(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "out", "report.json")
            train.write_json_atomic(path, {"a": 1})
            train.write_json_atomic(path, {"a": 2, "text": "안녕"})
            with open(path, encoding="utf-8") as f:
                self.assertEqual(json.load(f), {"a": 2, "text": "안녕"})
            self.assertEqual(os.listdir(os.path.dirname(path)), ["report.json"])


class HfTokenTest(unittest.TestCase):
    def test_environment_token_wins(self):
        self.assertEqual(train.hf_token({"HF_TOKEN": " hf_env \n", "HF_TOKEN_FILE": "/nonexistent"}), "hf_env")

    def test_token_file_is_read_and_stripped(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "token")
            with open(path, "w") as f:
                f.write("hf_secret\n")
            os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
            self.assertEqual(train.hf_token({"HF_TOKEN_FILE": path}), "hf_secret")

    def test_none_without_token(self):
        self.assertIsNone(train.hf_token({}))

    def test_empty_token_file_is_an_error(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "token")
            open(path, "w").close()
            with self.assertRaisesRegex(train.SetupError, "is empty"):
                train.hf_token({"HF_TOKEN_FILE": path})

    def test_missing_token_file_is_an_error(self):
        with self.assertRaisesRegex(train.SetupError, "HF_TOKEN_FILE /nonexistent/token"):
            train.hf_token({"HF_TOKEN_FILE": "/nonexistent/token"})

    def test_readable_by_others_warns_without_showing_the_token(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "token")
            with open(path, "w") as f:
                f.write("hf_secret")
            os.chmod(path, 0o644)
            err = io.StringIO()
            with redirect_stderr(err):
                self.assertEqual(train.hf_token({"HF_TOKEN_FILE": path}), "hf_secret")
            self.assertIn("chmod 600", err.getvalue())
            self.assertNotIn("hf_secret", err.getvalue())


def fake_get_last_checkpoint(folder):
    """Stands in for transformers.trainer_utils.get_last_checkpoint."""
    found = [n for n in os.listdir(folder) if n.startswith("checkpoint-") and os.path.isdir(os.path.join(folder, n))]
    if not found:
        return None
    return os.path.join(folder, max(found, key=lambda n: int(n.split("-")[1])))


class CheckpointTest(unittest.TestCase):
    def make(self, root, name, state):
        path = os.path.join(root, name)
        os.makedirs(path)
        if state is not None:
            with open(os.path.join(path, "trainer_state.json"), "w") as f:
                f.write(state)
        return path

    def test_half_written_newer_checkpoints_are_removed(self):
        with tempfile.TemporaryDirectory() as d:
            good = self.make(d, "checkpoint-10", '{"global_step": 10}')
            self.make(d, "checkpoint-20", None)
            self.make(d, "checkpoint-30", '{"global_st')
            err = io.StringIO()
            with redirect_stderr(err):
                self.assertEqual(train.last_complete_checkpoint(d, fake_get_last_checkpoint), good)
            self.assertEqual(sorted(os.listdir(d)), ["checkpoint-10"])
            self.assertEqual(err.getvalue().count("not saved completely"), 2)

    def test_no_checkpoint_gives_none(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertIsNone(train.last_complete_checkpoint(d, fake_get_last_checkpoint))

    def test_complete_newest_checkpoint_is_kept(self):
        with tempfile.TemporaryDirectory() as d:
            self.make(d, "checkpoint-5", "{}")
            newest = self.make(d, "checkpoint-9", "{}")
            self.assertEqual(train.last_complete_checkpoint(d, fake_get_last_checkpoint), newest)
            self.assertEqual(len(os.listdir(d)), 2)


class TrainingArgumentsTest(unittest.TestCase):
    def test_renames_eval_strategy_for_old_transformers(self):
        kwargs, dropped = train.training_arguments({"evaluation_strategy", "seed"}, {"eval_strategy": "epoch", "seed": 1})
        self.assertEqual(kwargs, {"evaluation_strategy": "epoch", "seed": 1})
        self.assertEqual(dropped, [])

    def test_drops_unknown_keywords(self):
        kwargs, dropped = train.training_arguments({"eval_strategy"}, {"eval_strategy": "no", "data_seed": 3})
        self.assertEqual(kwargs, {"eval_strategy": "no"})
        self.assertEqual(dropped, ["data_seed"])


class SmallHelpersTest(unittest.TestCase):
    def test_left_pad_ends_every_prompt_in_the_last_column(self):
        ids, mask, width = train.left_pad([[5, 6, 7], [8]], pad_id=0)
        self.assertEqual(ids, [[5, 6, 7], [0, 0, 8]])
        self.assertEqual(mask, [[1, 1, 1], [0, 0, 1]])
        self.assertEqual(width, 3)

    def test_warmup_steps_round_up(self):
        self.assertEqual(train.warmup_steps(100, 0.03), 3)
        self.assertEqual(train.warmup_steps(10, 0.03), 1)
        self.assertEqual(train.warmup_steps(10, 0), 0)

    def test_dtype_keyword_follows_the_transformers_version(self):
        self.assertEqual(train.dtype_kwargs("4.46.3", "bf16"), {"torch_dtype": "bf16"})
        self.assertEqual(train.dtype_kwargs("4.56.0", "bf16"), {"dtype": "bf16"})
        self.assertEqual(train.dtype_kwargs("5.12.1", "bf16"), {"dtype": "bf16"})
        self.assertEqual(train.dtype_kwargs("5.0.0.dev0", "bf16"), {"dtype": "bf16"})

    def test_beat_touches_the_progress_file_at_most_once_a_second(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "progress")
            clock = [100.0]
            beat = train.Beat(path, clock=lambda: clock[0])
            beat()
            self.assertTrue(os.path.exists(path))
            os.utime(path, (1, 1))
            clock[0] += 0.5
            beat()
            self.assertEqual(os.stat(path).st_mtime, 1)  # throttled
            beat(force=True)
            self.assertGreater(os.stat(path).st_mtime, 1)
            train.Beat(None)()  # no file named: nothing happens

    def test_prediction_record_drops_the_answer_from_the_prompt(self):
        messages = conversation(("user", "I am agree."), ("assistant", "I agree."))
        self.assertEqual(train.prediction_record(7, messages, "I agree!"),
                         {"index": 7, "messages": messages[:1], "reference": "I agree.", "prediction": "I agree!"})

    def test_auto_target_modules_means_all_linear(self):
        self.assertEqual(train.lora_target_modules("auto"), "all-linear")
        self.assertEqual(train.lora_target_modules(["q_proj"]), ["q_proj"])

    def test_generation_input_takes_last_user_and_final_answer(self):
        messages = conversation(("system", "s"), ("user", "u1"), ("assistant", "a1"), ("user", "u2"), ("assistant", "a2"))
        prompt, user, reference = train.generation_input(messages)
        self.assertEqual(prompt, messages[:-1])
        self.assertEqual(user, "u2")
        self.assertEqual(reference, "a2")

    def test_fold_system_prepends_system_text_to_first_user_message(self):
        messages = conversation(("system", "Fix it."), ("user", "I am agree."), ("assistant", "I agree."))
        self.assertEqual(train.fold_system(messages), conversation(("user", "Fix it.\n\nI am agree."), ("assistant", "I agree.")))
        self.assertEqual(messages[1]["content"], "I am agree.")  # input left alone
        plain = conversation(("user", "a"), ("assistant", "b"))
        self.assertEqual(train.fold_system(plain), plain)

    def test_steps_per_epoch_rounds_up(self):
        cfg = {"batch_size": 4, "gradient_accumulation_steps": 2}
        self.assertEqual(train.steps_per_epoch(17, cfg), 3)
        self.assertEqual(train.steps_per_epoch(1, cfg), 1)


class CheckExampleTest(unittest.TestCase):
    def test_accepts_usable_examples(self):
        for obj in (
            {"messages": conversation(("user", "a"), ("assistant", "b"))},
            {"messages": conversation(("system", "s"), ("user", "a"), ("assistant", "b")), "meta": 1},
            {"messages": conversation(("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d"))},
        ):
            self.assertIsNone(train.check_example(obj), obj)

    def test_names_the_problem(self):
        cases = [
            ([], "JSON object"),
            ({}, 'missing "messages"'),
            ({"messages": "hi"}, "must be a list"),
            ({"messages": []}, "is empty"),
            ({"messages": ["hi"]}, "messages[0] must be an object"),
            ({"messages": [{"content": "x"}]}, 'messages[0] has no "role"'),
            ({"messages": [{"role": "bot", "content": "x"}]}, 'messages[0].role is "bot"'),
            ({"messages": [{"role": "user"}]}, 'messages[0] has no "content"'),
            ({"messages": [{"role": "user", "content": 3}]}, "content must be a string"),
            ({"messages": conversation(("user", "a"), ("system", "s"), ("assistant", "b"))}, "messages[1] is a system message"),
            ({"messages": conversation(("system", "s"), ("assistant", "b"))}, "no user message"),
            ({"messages": conversation(("assistant", "b"), ("user", "a"), ("assistant", "b"))}, "must start with a \"user\""),
            ({"messages": conversation(("user", "a"))}, 'the last message is "user"'),
            ({"messages": conversation(("user", "a"), ("assistant", " \n"))}, "final assistant message is empty"),
        ]
        for obj, want in cases:
            got = train.check_example(obj)
            self.assertIsNotNone(got, obj)
            self.assertIn(want, got, obj)


class LoadConfigTest(unittest.TestCase):
    def write(self, text):
        d = tempfile.mkdtemp()
        self.addCleanup(lambda: __import__("shutil").rmtree(d))
        path = os.path.join(d, "config.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_fills_defaults_and_learning_rate_by_method(self):
        cfg, warnings = train.load_config(self.write('{"base_model": "m", "method": "full", "seed": null}'))
        self.assertEqual(warnings, [])
        self.assertEqual(cfg["learning_rate"], 2e-5)
        self.assertEqual(cfg["seed"], 42)
        self.assertEqual(cfg["max_seq_len"], 1024)
        self.assertEqual(cfg["gradient_accumulation_steps"], 1)
        self.assertEqual(cfg["num_generations"], 3)
        self.assertEqual(cfg["output_dir"], "output")
        self.assertEqual(cfg["lora"], {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "auto"})
        cfg, _ = train.load_config(self.write('{"base_model": "m"}'))
        self.assertEqual(cfg["method"], "lora")
        self.assertEqual(cfg["learning_rate"], 2e-4)

    def test_reports_each_bad_value_at_its_line(self):
        path = self.write('{\n  "base_model": "m",\n  "epochs": true,\n  "learning_rate": NaN,\n  "lora": {\n    "r": 1.5\n  }\n}\n')
        with self.assertRaises(train.Problems) as ctx:
            train.load_config(path, "config.json")
        got = [str(p) for p in ctx.exception.problems]
        self.assertEqual(len(got), 3, got)
        self.assertTrue(got[0].startswith("config.json:3: epochs must be a whole number"), got)
        self.assertTrue(got[1].startswith("config.json:4: learning_rate must be a number"), got)
        self.assertTrue(got[2].startswith("config.json:6: lora.r must be a whole number"), got)


class FakeMlflow(object):
    def __init__(self, fail):
        self.fail = fail
        self.calls = []

    def _record(self, name, *args, **kwargs):
        if self.fail:
            raise ConnectionError("refused")
        self.calls.append((name, args, kwargs))

    def start_run(self, **kwargs):
        self._record("start_run", **kwargs)

    def log_params(self, params):
        self._record("log_params", params)

    def log_metrics(self, metrics, step=None):
        self._record("log_metrics", metrics, step=step)

    def end_run(self, status=None):
        self._record("end_run", status=status)


class MlflowLogTest(unittest.TestCase):
    def test_unreachable_server_warns_once_and_stops_logging(self):
        fake = FakeMlflow(fail=True)
        log = train.MlflowLog(fake)
        err = io.StringIO()
        with redirect_stderr(err):
            log.start("run", {"a": 1})
            log.metrics({"eval_loss": 1.0}, 1)
            log.end("FINISHED")
        self.assertEqual(err.getvalue().count("warning: mlflow"), 1, err.getvalue())
        self.assertFalse(log.active)

    def test_logs_params_and_metrics_without_missing_values(self):
        fake = FakeMlflow(fail=False)
        log = train.MlflowLog(fake)
        log.start("run", {"a": 1})
        log.metrics({"train_loss": 2.0, "eval_loss": None}, 1)
        log.end("FINISHED")
        self.assertEqual([c[0] for c in fake.calls], ["start_run", "log_params", "log_metrics", "end_run"])
        self.assertEqual(fake.calls[2][1], ({"train_loss": 2.0},))

    def test_open_needs_a_tracking_uri(self):
        self.assertIsNone(train.MlflowLog.open({}))

    def test_open_caps_retries_and_warns_when_mlflow_is_missing(self):
        env = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:1"}
        saved = sys.modules.get("mlflow")
        sys.modules["mlflow"] = None  # import mlflow raises ImportError
        try:
            err = io.StringIO()
            with redirect_stderr(err):
                self.assertIsNone(train.MlflowLog.open(env))
        finally:
            if saved is None:
                del sys.modules["mlflow"]
            else:
                sys.modules["mlflow"] = saved
        self.assertIn("mlflow is not installed", err.getvalue())
        self.assertEqual(env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"], "2")


class RunTrainingTest(unittest.TestCase):
    def test_missing_torch_says_how_to_install(self):
        saved = sys.modules.get("torch")
        sys.modules["torch"] = None
        try:
            with self.assertRaisesRegex(train.SetupError, "pip install -r requirements.txt"):
                train.run_training({"method": "lora"}, [], [], {})
        finally:
            if saved is None:
                del sys.modules["torch"]
            else:
                sys.modules["torch"] = saved


# ---------------------------------------------------------------------------
# The real run's control flow, against stand-ins for torch, transformers and
# peft. They mimic only the calls train.py makes (signatures as in
# transformers 4.46 / peft 0.13); what they check is train.py's own wiring:
# data encoding, collation, callbacks, resume, final save and report.json.


class StubTensor(object):
    def __init__(self, data):
        self.data = data

    def __getitem__(self, index):
        item = self.data[index]
        return StubTensor(item) if isinstance(item, list) else item

    def __len__(self):
        return len(self.data)

    def __iter__(self):
        return iter(StubTensor(row) if isinstance(row, list) else row for row in self.data)

    def tolist(self):
        return self.data


class StubParam(object):
    def __init__(self, requires_grad, dtype):
        self.requires_grad = requires_grad
        self.dtype = dtype
        self.device = "cpu"
        self.data = self

    def float(self):
        return StubParam(self.requires_grad, "torch.float32")


class StubModel(object):
    def __init__(self, dtype):
        self.config = types.SimpleNamespace(use_cache=True)
        self.params = [StubParam(True, dtype)]
        self.peft_config = None
        self.generated = []

    def parameters(self):
        return iter(self.params)

    def eval(self):
        return self

    def print_trainable_parameters(self):
        print("trainable params: 1")

    def generate(self, input_ids, attention_mask, max_new_tokens, do_sample, pad_token_id):
        assert do_sample is False and len(attention_mask) == len(input_ids)
        rows = []
        for ids, mask in zip(input_ids.data, attention_mask.data):
            assert len(ids) == len(mask)
            # left padding: the prompt ends at the last column
            assert mask[-1] == 1 and all(m == 0 for m in mask[:mask.index(1)])
            self.generated.append([t for t, m in zip(ids, mask) if m])
            answer = "Fixed %d." % len(self.generated)
            rows.append(ids + [ord(c) for c in answer][:max_new_tokens])
        self.max_new_tokens = max_new_tokens
        return StubTensor(rows)


class StubTokenizer(object):
    def __init__(self, template):
        self.chat_template = template
        self.eos_token = "</s>"
        self.pad_token_id = None

    @property
    def pad_token(self):
        return self.eos_token if self.pad_token_id is not None else None

    @pad_token.setter
    def pad_token(self, value):
        self.pad_token_id = 0

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is True
        if self.chat_template == "no-system" and any(m["role"] == "system" for m in messages):
            raise ValueError("System role not supported")
        return chatml_render(messages, add_generation_prompt)

    def decode(self, ids, skip_special_tokens):
        return "".join(chr(i) for i in (ids.tolist() if hasattr(ids, "tolist") else ids))

    def save_pretrained(self, folder):
        os.makedirs(folder, exist_ok=True)
        open(os.path.join(folder, "tokenizer.json"), "w").close()


class StubTrainingArguments(object):
    def __init__(self, output_dir, overwrite_output_dir=False, num_train_epochs=3, per_device_train_batch_size=8,
                 per_device_eval_batch_size=8, gradient_accumulation_steps=1, learning_rate=5e-5, warmup_steps=0,
                 lr_scheduler_type="linear", weight_decay=0.0, logging_strategy="steps", logging_steps=500,
                 logging_first_step=False, eval_strategy="no", save_strategy="steps", save_total_limit=None, seed=42,
                 data_seed=None, bf16=False, fp16=False, report_to=None, remove_unused_columns=True,
                 prediction_loss_only=False, label_names=None, disable_tqdm=None, dataloader_pin_memory=True):
        self.__dict__.update(dict((k, v) for k, v in locals().items() if k != "self"))


class StubCallback(object):
    def on_train_begin(self, args, state, control, **kwargs):
        pass

    def on_step_end(self, args, state, control, **kwargs):
        pass

    def on_save(self, args, state, control, **kwargs):
        pass

    def on_log(self, args, state, control, logs=None, **kwargs):
        pass

    def on_epoch_end(self, args, state, control, **kwargs):
        pass

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        pass


class StubPrinterCallback(StubCallback):
    pass


def stub_get_last_checkpoint(folder):
    found = [n for n in os.listdir(folder) if re.match(r"^checkpoint-\d+$", n) and os.path.isdir(os.path.join(folder, n))]
    if not found:
        return None
    return os.path.join(folder, max(found, key=lambda n: int(n.split("-")[1])))


class StubTrainer(object):
    """Runs epochs of fake steps the way transformers.Trainer calls its callbacks."""

    instances = []

    def __init__(self, model, args, train_dataset, eval_dataset, data_collator, callbacks):
        self.model, self.args = model, args
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.collate = data_collator
        self.callbacks = [StubPrinterCallback()] + list(callbacks)
        self.state = types.SimpleNamespace(epoch=None, global_step=0, max_steps=0, log_history=[],
                                           is_world_process_zero=True, logging_steps=args.logging_steps)
        self.control = types.SimpleNamespace(should_log=False, should_save=False, should_training_stop=False)
        self.on_step = None  # test hook: called with the step number after each step
        self.batches = []
        self.resumed_from = None
        StubTrainer.instances.append(self)

    def remove_callback(self, cls):
        self.callbacks = [c for c in self.callbacks if not isinstance(c, cls)]

    def _event(self, name, **kwargs):
        for cb in self.callbacks:
            result = getattr(cb, name)(self.args, self.state, self.control, **kwargs)
            if result is not None:
                self.control = result

    def _log(self, logs):
        logs = dict(logs, epoch=self.state.epoch, step=self.state.global_step)
        self.state.log_history.append(logs)
        self._event("on_log", logs=logs)

    def train(self, resume_from_checkpoint=None):
        a = self.args
        bs = a.per_device_train_batch_size
        batches = [self.train_dataset[i:i + bs] for i in range(0, len(self.train_dataset), bs)]
        per_epoch = -(-len(batches) // a.gradient_accumulation_steps)
        self.state.max_steps = per_epoch * a.num_train_epochs
        if resume_from_checkpoint:
            self.resumed_from = resume_from_checkpoint
            with open(os.path.join(resume_from_checkpoint, "trainer_state.json")) as f:
                saved = json.load(f)
            self.state.global_step, self.state.log_history = saved["global_step"], saved["log_history"]
        last_logged = self.state.global_step
        self._event("on_train_begin")
        for epoch in range(self.state.global_step // per_epoch, a.num_train_epochs):
            for step in range(per_epoch):
                for batch in batches[step * a.gradient_accumulation_steps:(step + 1) * a.gradient_accumulation_steps]:
                    self.batches.append(self.collate(batch))
                self.state.global_step += 1
                self.state.epoch = epoch + (step + 1) / float(per_epoch)
                if self.on_step:
                    self.on_step(self.state.global_step)
                self._event("on_step_end")
                if self.control.should_save:
                    self._checkpoint()
                    self.control.should_save = False
                if self.control.should_training_stop:
                    return
                if self.state.global_step % a.logging_steps == 0 or (a.logging_first_step and self.state.global_step == 1):
                    self.control.should_log = True
                if self.control.should_log:
                    assert self.state.global_step > last_logged, "logged twice at one step"
                    self._log({"loss": 3.0 - epoch, "learning_rate": 1e-4})
                    last_logged = self.state.global_step
                    self.control.should_log = False
            self._event("on_epoch_end")
            if self.control.should_log:
                assert self.state.global_step > last_logged, "logged twice at one step"
                self._log({"loss": 3.0 - epoch, "learning_rate": 1e-4})
                last_logged = self.state.global_step
                self.control.should_log = False
            if a.eval_strategy == "epoch":
                metrics = self.evaluate()
                self._event("on_evaluate", metrics=metrics)
            self._checkpoint()
        self.state.log_history.append({"train_loss": 9.0, "epoch": self.state.epoch, "step": self.state.global_step})

    def _checkpoint(self):
        ckpt = os.path.join(self.args.output_dir, "checkpoint-%d" % self.state.global_step)
        os.makedirs(ckpt, exist_ok=True)
        with open(os.path.join(ckpt, "trainer_state.json"), "w") as f:
            json.dump({"global_step": self.state.global_step, "log_history": self.state.log_history}, f)

    def evaluate(self):
        loss = 2.5 - 0.5 * round(self.state.epoch or 0)
        self._log({"eval_loss": loss})
        return {"eval_loss": loss}

    def save_model(self, folder):
        os.makedirs(folder, exist_ok=True)
        name = "adapter_model.safetensors" if self.model.peft_config else "model.safetensors"
        open(os.path.join(folder, name), "w").close()


def stub_modules(template="chatml", cuda=False):
    torch = types.ModuleType("torch")
    torch.__version__ = "2.5.1+stub"
    torch.float32, torch.bfloat16, torch.float16, torch.long = "torch.float32", "torch.bfloat16", "torch.float16", "torch.long"

    class OutOfMemoryError(RuntimeError):
        pass

    torch.cuda = types.SimpleNamespace(is_available=lambda: cuda, is_bf16_supported=lambda: True,
                                       get_device_name=lambda i: "Stub GPU", OutOfMemoryError=OutOfMemoryError)

    def tensor(data, dtype=None, device=None):
        assert dtype == "torch.long"
        return StubTensor(data)

    torch.tensor = tensor
    torch.ones_like = lambda t: StubTensor([[1] * len(row) for row in t.data])
    torch.inference_mode = contextlib.nullcontext

    transformers = types.ModuleType("transformers")
    transformers.__version__ = "4.46.3+stub"
    transformers.set_seed = lambda seed: None
    transformers.AutoTokenizer = types.SimpleNamespace(from_pretrained=lambda name, token=None: StubTokenizer(template))
    transformers.AutoModelForCausalLM = types.SimpleNamespace(from_pretrained=lambda name, torch_dtype=None, token=None: StubModel(torch_dtype))
    transformers.Trainer = StubTrainer
    transformers.TrainerCallback = StubCallback
    transformers.TrainingArguments = StubTrainingArguments
    trainer_callback = types.ModuleType("transformers.trainer_callback")
    trainer_callback.PrinterCallback = StubPrinterCallback
    trainer_utils = types.ModuleType("transformers.trainer_utils")
    trainer_utils.get_last_checkpoint = stub_get_last_checkpoint
    transformers.trainer_callback, transformers.trainer_utils = trainer_callback, trainer_utils

    peft = types.ModuleType("peft")
    peft.__version__ = "0.13.2+stub"
    peft.TaskType = types.SimpleNamespace(CAUSAL_LM="CAUSAL_LM")
    peft.LoraConfig = lambda **kw: kw

    def get_peft_model(model, config):
        assert config["task_type"] == "CAUSAL_LM"
        model.peft_config = config
        model.params.append(StubParam(False, model.params[0].dtype))
        return model

    peft.get_peft_model = get_peft_model
    return {"torch": torch, "transformers": transformers, "transformers.trainer_callback": trainer_callback,
            "transformers.trainer_utils": trainer_utils, "peft": peft, "mlflow": None}


class RealRunFlowTest(unittest.TestCase):
    def run_hooked(self, cfg, tr, va, on_step, **stub_options):
        """run_stubbed with a hook called after each training step of the first trainer."""
        modules = stub_modules(**stub_options)
        real_init = StubTrainer.__init__

        def init(trainer, *a, **kw):
            real_init(trainer, *a, **kw)
            trainer.on_step = on_step

        out, err = io.StringIO(), io.StringIO()
        with mock.patch.dict(sys.modules, modules), mock.patch.object(StubTrainer, "__init__", init), \
                redirect_stdout(out), redirect_stderr(err):
            try:
                train.run_training(cfg, tr, va, {})
            finally:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
        return out.getvalue(), err.getvalue()

    def test_test_part_is_predicted_in_order_in_batches(self):
        cfg, tr, va, _ = self.bundle({"base_model": "stub/model", "epochs": 1, "batch_size": 2, "max_new_tokens": 32}, test_n=3)
        self.run_stubbed(cfg, tr, va)
        model = StubTrainer.instances[0].model
        self.assertEqual(model.max_new_tokens, 32)
        with open(os.path.join(self.dir, "output", "predictions.jsonl"), encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        self.assertEqual([r["index"] for r in rows], [0, 1, 2])
        for i, r in enumerate(rows):
            self.assertEqual(r["messages"], conversation(("system", "Fix it."), ("user", "I am agree %d." % i)))
            self.assertEqual(r["reference"], "I agree %d." % i)
        # the 2 validation samples were generated first, then the test part
        self.assertEqual([r["prediction"] for r in rows], ["Fixed 3.", "Fixed 4.", "Fixed 5."])
        self.assertEqual(self.report()["predictions"], {"file": "predictions.jsonl", "examples": 3})
        self.assertEqual(self.report()["test_examples"], 3)

    def test_term_saves_a_checkpoint_at_that_step_and_stops(self):
        cfg, tr, va, _ = self.bundle({"base_model": "stub/model", "epochs": 2, "batch_size": 1}, train_n=6)

        def on_step(n):
            if n == 4:
                os.kill(os.getpid(), signal.SIGTERM)
                os.kill(os.getpid(), signal.SIGTERM)  # a second TERM changes nothing

        with self.assertRaisesRegex(train.Stopped, "after step 4 of 12: checkpoint .*checkpoint-4 saved"):
            self.run_hooked(cfg, tr, va, on_step)
        ckpts = os.path.join(self.dir, "output", "checkpoints")
        self.assertIn("checkpoint-4", os.listdir(ckpts))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "output", "report.json")))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "output", "final")))

    def test_out_of_memory_says_what_to_lower(self):
        cfg, tr, va, _ = self.bundle({"base_model": "stub/model", "epochs": 1, "batch_size": 2})
        modules = stub_modules(cuda=True)
        oom = modules["torch"].cuda.OutOfMemoryError

        def on_step(n):
            raise oom("CUDA out of memory. Tried to allocate 2.00 GiB")

        with self.assertRaisesRegex(train.OutOfMemory, "out of GPU memory at step 1 .*batch_size 2, max_seq_len 1024: lower batch_size or max_seq_len"):
            with mock.patch.dict(sys.modules, modules):
                self.run_hooked(cfg, tr, va, on_step, cuda=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(lambda: shutil.rmtree(self.dir))
        StubTrainer.instances = []

    def bundle(self, config, train_n=5, val_n=2, system=True, test_n=0):
        os.makedirs(os.path.join(self.dir, "data"))
        if test_n:
            config = dict(config, test_file="data/test.jsonl")
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(config, f)
        for name, n in (("train.jsonl", train_n), ("val.jsonl", val_n), ("test.jsonl", test_n)):
            with open(os.path.join(self.dir, "data", name), "w") as f:
                for i in range(n):
                    pairs = [("user", "I am agree %d." % i), ("assistant", "I agree %d." % i)]
                    if system:
                        pairs.insert(0, ("system", "Fix it."))
                    f.write(json.dumps({"messages": conversation(*pairs)}) + "\n")
        return train.load_bundle(os.path.join(self.dir, "config.json"))

    def run_stubbed(self, cfg, tr, va, environ=None, **stub_options):
        out, err = io.StringIO(), io.StringIO()
        with mock.patch.dict(sys.modules, stub_modules(**stub_options)), redirect_stdout(out), redirect_stderr(err):
            train.run_training(cfg, tr, va, environ if environ is not None else {})
        return out.getvalue(), err.getvalue()

    def report(self):
        with open(os.path.join(self.dir, "output", "report.json"), encoding="utf-8") as f:
            return json.load(f)

    def test_lora_run_writes_adapter_and_report(self):
        cfg, tr, va, _ = self.bundle({"base_model": "stub/model", "epochs": 2, "batch_size": 2, "num_generations": 5})
        out, err = self.run_stubbed(cfg, tr, va)
        trainer = StubTrainer.instances[0]
        args = trainer.args
        self.assertEqual((args.eval_strategy, args.save_strategy, args.save_total_limit), ("epoch", "epoch", 2))
        self.assertEqual(args.output_dir, os.path.join(self.dir, "output", "checkpoints"))
        self.assertFalse(args.bf16 or args.fp16)  # no CUDA here
        self.assertTrue(args.prediction_loss_only)
        self.assertEqual(trainer.model.peft_config["target_modules"], "all-linear")
        self.assertTrue(all(p.dtype == "torch.float32" for p in trainer.model.params if p.requires_grad))
        self.assertFalse(any(isinstance(c, StubPrinterCallback) for c in trainer.callbacks))

        batch = trainer.batches[0]
        self.assertEqual(len(batch["input_ids"].data), 2)
        first = batch["labels"].data[0]
        self.assertEqual(labelled_text(batch["input_ids"].data[0], first), "I agree 0.<|im_end|>\n")

        self.assertTrue(os.path.isfile(os.path.join(self.dir, "output", "final", "adapter_model.safetensors")))
        self.assertTrue(os.path.isfile(os.path.join(self.dir, "output", "final", "tokenizer.json")))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "output", "final.tmp")))
        report = self.report()
        self.assertEqual(sorted(report), sorted([
            "base_model", "method", "epochs", "train_examples", "val_examples", "test_examples", "losses", "final_eval_loss",
            "generations", "predictions", "runtime_s", "gpu", "torch", "transformers", "peft"]))
        self.assertEqual(report["losses"], [
            {"epoch": 1, "train_loss": 3.0, "eval_loss": 2.0},
            {"epoch": 2, "train_loss": 2.0, "eval_loss": 1.5},
        ])
        self.assertEqual(report["final_eval_loss"], 1.5)
        self.assertEqual((report["train_examples"], report["val_examples"]), (5, 2))
        self.assertEqual(report["generations"], [
            {"input": "I am agree 0.", "reference": "I agree 0.", "output": "Fixed 1."},
            {"input": "I am agree 1.", "reference": "I agree 1.", "output": "Fixed 2."},
        ])
        self.assertIsNone(report["predictions"])  # no test part
        self.assertFalse(os.path.exists(os.path.join(self.dir, "output", "predictions.jsonl")))
        self.assertEqual((report["gpu"], report["peft"]), ("cpu", "0.13.2+stub"))
        self.assertIn("epoch 1.00/2 step 3/6 loss 3.0000", out)
        self.assertIn("epoch 2 eval_loss 1.5000", out)

    def test_relaunch_resumes_from_last_checkpoint_and_keeps_earlier_losses(self):
        cfg, tr, va, _ = self.bundle({"base_model": "stub/model", "epochs": 2, "batch_size": 2})
        self.run_stubbed(cfg, tr, va)
        ckpts = os.path.join(self.dir, "output", "checkpoints")
        shutil.rmtree(os.path.join(ckpts, "checkpoint-6"))
        os.makedirs(os.path.join(ckpts, "checkpoint-6"))  # killed while saving
        out, err = self.run_stubbed(cfg, tr, va)
        second = StubTrainer.instances[1]
        self.assertEqual(second.resumed_from, os.path.join(ckpts, "checkpoint-3"))
        self.assertIn("not saved completely", err)
        self.assertEqual(len(second.batches), 3)  # only the second epoch ran again
        self.assertEqual([row["epoch"] for row in self.report()["losses"]], [1, 2])

    def test_each_epoch_closes_its_loss_window(self):
        # 25 steps an epoch, logged every 2: the epoch's last step is logged at
        # the epoch's end, so that epoch 2's train loss holds no epoch-1 step.
        cfg, tr, va, _ = self.bundle({"base_model": "stub/model", "epochs": 2, "batch_size": 1}, train_n=25)
        self.run_stubbed(cfg, tr, va)
        trainer = StubTrainer.instances[0]
        self.assertEqual(trainer.args.logging_steps, 2)
        loss_steps = [e["step"] for e in trainer.state.log_history if "loss" in e]
        self.assertIn(25, loss_steps)
        self.assertIn(50, loss_steps)
        self.assertEqual([(r["epoch"], r["train_loss"]) for r in self.report()["losses"]], [(1, 3.0), (2, 2.0)])

    def test_full_method_loads_fp32_and_saves_model(self):
        cfg, tr, va, _ = self.bundle({"base_model": "stub/model", "method": "full", "epochs": 1, "batch_size": 4})
        self.run_stubbed(cfg, tr, va, cuda=True)
        trainer = StubTrainer.instances[0]
        self.assertIsNone(trainer.model.peft_config)
        self.assertEqual(trainer.model.params[0].dtype, "torch.float32")
        self.assertTrue(trainer.args.bf16)
        self.assertEqual(len(trainer.batches[0]["input_ids"].data[0]) % 8, 0)  # padded to a multiple of 8 on CUDA
        self.assertTrue(os.path.isfile(os.path.join(self.dir, "output", "final", "model.safetensors")))
        self.assertEqual((self.report()["gpu"], self.report()["method"]), ("Stub GPU", "full"))

    def test_template_without_system_role_gets_system_text_in_user_turn(self):
        cfg, tr, va, _ = self.bundle({"base_model": "stub/model", "epochs": 1})
        out, err = self.run_stubbed(cfg, tr, va, template="no-system")
        self.assertIn("rejects system messages", err)
        ids = StubTrainer.instances[0].batches[0]["input_ids"].data[0]
        self.assertIn("Fix it.\n\nI am agree", "".join(chr(i) for i in ids))

    def test_no_validation_data_skips_eval_and_generations(self):
        cfg, tr, va, _ = self.bundle({"base_model": "stub/model", "epochs": 1}, val_n=0)
        self.run_stubbed(cfg, tr, va)
        self.assertEqual(StubTrainer.instances[0].args.eval_strategy, "no")
        report = self.report()
        self.assertIsNone(report["final_eval_loss"])
        self.assertEqual(report["generations"], [])
        self.assertEqual(report["losses"][0]["eval_loss"], None)

    def test_token_reaches_downloads_but_not_output(self):
        cfg, tr, va, _ = self.bundle({"base_model": "stub/model", "epochs": 1})
        seen = {}
        modules = stub_modules()

        def from_pretrained(name, token=None):
            seen["token"] = token
            return StubTokenizer("chatml")

        modules["transformers"].AutoTokenizer = types.SimpleNamespace(from_pretrained=from_pretrained)
        out, err = io.StringIO(), io.StringIO()
        with mock.patch.dict(sys.modules, modules), redirect_stdout(out), redirect_stderr(err):
            train.run_training(cfg, tr, va, {"HF_TOKEN": "hf_stub_secret"})
        self.assertEqual(seen["token"], "hf_stub_secret")
        self.assertNotIn("hf_stub_secret", out.getvalue() + err.getvalue())


if __name__ == "__main__":
    unittest.main()
