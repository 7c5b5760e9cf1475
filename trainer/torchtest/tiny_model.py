"""Make a tiny random chat model and its tokenizer from a bundle's own data.

    python3 tiny_model.py BUNDLE_DIR OUT_DIR

The tokenizer is a byte-level BPE trained on every message of the bundle's
data/*.jsonl (so any text encodes, Korean included), with ChatML special
tokens and a chat template that closes each assistant turn with the
end-of-sequence token. The model is a Llama of 2 layers, hidden size 32, with
random weights: it trains in seconds on a CPU. Used by the tests only.
"""

import glob
import json
import os
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
import torch

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL = ["<pad>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def texts(bundle):
    for path in sorted(glob.glob(os.path.join(bundle, "data", "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    for m in json.loads(line)["messages"]:
                        yield m["role"] + "\n" + m["content"]


def main(bundle, out):
    torch.manual_seed(0)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(texts(bundle)), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)

    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, pad_token_id=fast.pad_token_id,
                         eos_token_id=fast.eos_token_id, bos_token_id=fast.eos_token_id)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = fast.pad_token_id
    model.generation_config.eos_token_id = fast.eos_token_id
    model.save_pretrained(out)
    print("tiny model: vocab %d, %d parameters, in %s" % (len(fast), sum(p.numel() for p in model.parameters()), out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
