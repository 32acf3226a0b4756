"""`unsloth`: Unsloth's FastLanguageModel / FastModel, trained by the same SFTTrainer (Unsloth patches it).

Unsloth patches transformers, trl and peft when it is imported, so it must be imported before
them, in a process of its own (`process_env`). Its compile switches (`UnslothSettings`, the request's
`unsloth` section, `--unsloth-compile`) are recorded per run.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from harness.backends.base import Backend, BackendFlag, PublishedClaim

if TYPE_CHECKING:
    from harness.config import RunRequest
    from harness.weights import ResolvedWeights

COMPILE_ENV = {
    "default": {},
    "block_off": {"UNSLOTH_BLOCK_COMPILE": "0"},  # its per-layer regional compile off, the rest on
    "all_off": {"UNSLOTH_COMPILE_DISABLE": "1"},  # every torch.compile of Unsloth's off
}


class UnslothSettings(BaseModel):
    """The request's `unsloth` section (in the run key)."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    compile: Literal["default", "block_off", "all_off"] = "default"
    # default: Unsloth as shipped; block_off: UNSLOTH_BLOCK_COMPILE=0; all_off: UNSLOTH_COMPILE_DISABLE=1


def compile_env(settings: UnslothSettings) -> dict[str, str]:
    return dict(COMPILE_ENV[settings.compile])


CLAIM = PublishedClaim(
    text="Unsloth's published claim: about 2x faster training and about 70% less memory, measured on QLoRA (4-bit)"
    " with batch 2, gradient accumulation 4 and LoRA rank 32.",
    settings={"quant": "nf4", "per_device_batch": 2, "grad_accum": 4, "lora_rank": 32},
    step_ratio=0.5,
    step_label="Unsloth claim: 2x faster (0.5)",
    memory_ratio=0.3,
    memory_label="Unsloth claim: 70% less memory (0.3)",
)


class Unsloth(Backend):
    name = "unsloth"
    description = "Unsloth (patched transformers/peft/trl, its own kernels and checkpointing)"
    packages: ClassVar[tuple[str, ...]] = ("unsloth", "unsloth_zoo", "triton")
    modules: ClassVar[tuple[str, ...]] = ("unsloth",)
    site_packages: ClassVar[tuple[str, ...]] = ()  # in the shared bundle (../shared/device/build-site.sh)
    needs_gpu: ClassVar[bool] = True
    min_compute_capability: ClassVar[tuple[int, int] | None] = (7, 0)  # Triton kernels; Quadro M6000 is 5.2
    checkpointing_modes: ClassVar[tuple[str, ...]] = ("unsloth",)  # activations offloaded to host memory
    offloaded_checkpointing: ClassVar[tuple[str, ...]] = ("unsloth",)  # layer inputs in host memory, not the GPU's
    forkable: ClassVar[bool] = False  # it patches transformers/peft/trl on import: a fresh interpreter each run
    never_preload: ClassVar[tuple[str, ...]] = ("unsloth",)
    compile_caches: ClassVar[dict[str, str]] = {
        "unsloth": "UNSLOTH_COMPILE_LOCATION",  # unsloth_zoo: where it writes unsloth_compiled_cache
    }
    child_env: ClassVar[dict[str, str]] = {"UNSLOTH_DISABLE_STATISTICS": "1"}
    recorded_env: ClassVar[tuple[str, ...]] = (
        "UNSLOTH_BLOCK_COMPILE", "UNSLOTH_COMPILE_DISABLE", "UNSLOTH_DISABLE_STATISTICS",
    )  # fmt: skip
    shown_packages: ClassVar[tuple[str, ...]] = ("unsloth", "unsloth_zoo")
    settings_field: ClassVar[str | None] = "unsloth"
    settings_model: ClassVar[type[BaseModel] | None] = UnslothSettings
    flags: ClassVar[tuple[BackendFlag, ...]] = (
        BackendFlag("--unsloth-compile", "unsloth.compile", choices=("default", "block_off", "all_off")),
    )
    claim: ClassVar[PublishedClaim | None] = CLAIM
    title: ClassVar[str] = "Unsloth"
    candidate_column: ClassVar[str | None] = "unsloth"

    def candidate_fact(self, candidate: Any) -> str:
        """Whether Unsloth has a native patch for the candidate's architecture (`unsloth_native`)."""
        return "native" if candidate.unsloth_native else "generic"

    def effective_facts(self, load_info: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        """`Effective.unsloth_path` (native or generic) and `unsloth_env` (the compile switches it ran with)."""
        return {"unsloth_path": load_info.get("unsloth_path"), "unsloth_env": env or None}

    def checkpointing_read_back(self, model: Any) -> str | None:
        """ "unsloth" when its offloading variant is armed (its `prepare_model_for_training` marks
        `_offloaded_gradient_checkpointing` on the modules)."""
        if any(getattr(m, "_offloaded_gradient_checkpointing", False) for m in model.modules()):
            return "unsloth"
        return None

    def process_env(self, request: RunRequest) -> dict[str, str]:
        env = {"UNSLOTH_DISABLE_STATISTICS": "1", **compile_env(request.unsloth)}  # type: ignore[attr-defined]
        os.environ.update(env)
        import unsloth  # noqa: F401  (patches transformers, trl and peft globally)

        return env

    def _loader(self, request: RunRequest) -> Any:
        from unsloth import FastLanguageModel, FastModel

        return FastLanguageModel if request.candidate.unsloth_native else FastModel

    def load(self, request: RunRequest, weights: ResolvedWeights, device: str, dtype: Any) -> tuple[Any, Any, dict]:
        from harness.backends.common import prepare_tokenizer

        loader = self._loader(request)
        model, tok = loader.from_pretrained(
            model_name=str(weights.model_dir),
            max_seq_length=request.train.max_length,
            dtype=dtype,
            load_in_4bit=request.quant == "nf4",  # explicit: Unsloth defaults to 4-bit
            load_in_8bit=False,
            full_finetuning=False,
            trust_remote_code=request.trust_remote_code and request.candidate.trust_remote_code,
        )
        info = prepare_tokenizer(tok)
        info["unsloth_path"] = "native" if request.candidate.unsloth_native else "generic"
        info["unsloth_loader"] = loader.__name__
        info["model_class"] = type(model).__name__
        return model, tok, info

    def add_adapter(self, model: Any, request: RunRequest) -> tuple[Any, dict]:
        gc = request.train.gradient_checkpointing
        model = self._loader(request).get_peft_model(
            model,
            r=request.lora.rank,
            lora_alpha=request.lora.alpha,
            lora_dropout=request.lora.dropout,
            target_modules=request.lora.target_modules or request.candidate.lora_target_modules,
            bias=request.lora.bias,
            use_gradient_checkpointing=gc if gc == "unsloth" else bool(gc),
            random_state=request.train.seed,
        )
        return model, {"lora_targets": sorted(model.peft_config["default"].target_modules)}

    def to_inference(self, model: Any, request: RunRequest) -> None:
        self._loader(request).for_inference(model)

    def to_training(self, model: Any, request: RunRequest) -> None:
        self._loader(request).for_training(model)
