"""Test hooks for train.py runs under torchtest, active only when their variables are set.

CORRECTLY_TEST_STEP_SLEEP=SECONDS slows every training step, so that a test can
kill or stop the run mid-epoch; CORRECTLY_TEST_OOM_AT_STEP=N makes step N raise
torch's CUDA out-of-memory error, as a real GPU would.
"""

import os

_sleep = float(os.environ.get("CORRECTLY_TEST_STEP_SLEEP") or 0)
_oom = int(os.environ.get("CORRECTLY_TEST_OOM_AT_STEP") or 0)

if _sleep or _oom:
    import time

    import torch
    import transformers

    _training_step = transformers.Trainer.training_step

    def training_step(self, *args, **kwargs):
        if _oom and self.state.global_step + 1 >= _oom:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (torchtest hook)")
        if _sleep:
            time.sleep(_sleep)
        return _training_step(self, *args, **kwargs)

    transformers.Trainer.training_step = training_step
