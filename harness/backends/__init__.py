"""Backends: how a model is loaded and wrapped with LoRA.

- `hf`: transformers + peft (+ bitsandbytes for nf4), trained by trl's SFTTrainer.
- `unsloth`: Unsloth's FastLanguageModel / FastModel, trained by the same SFTTrainer (Unsloth patches it).

`capability.check` runs before anything heavy is imported and answers why a request cannot run here.
"""

from harness.backends.capability import check, gpu_capability  # noqa: F401
