"""The semantic distractor: extract intent and slots, pick a noise layer, rewrite in voice."""

from __future__ import annotations

import random
from typing import Any

import orjson

from asyncgen.config import DistractorSettings
from asyncgen.interaction.distractor.layers import (
    choose_layer,
    choose_strategies,
    strategy_guide,
)
from asyncgen.interaction.distractor.surface import DistractorModel
from asyncgen.interaction.distractor.types import NoiseResult, NoisyVersion
from asyncgen.interaction.jsonout import MalformedOutputError, ask_json, json_request
from asyncgen.interaction.personas.model import profile_json, summary
from asyncgen.llm.types import ChatClient, ChatRequest, ModelHandle
from asyncgen.prompts import load_prompt


class SemanticDistractorModel:
    """LLM-driven noise: surface noise, incomplete information or semantic ambiguity.

    A rewrite that stays malformed after `max_retries` re-asks falls back to rule-based
    surface noise, recorded as `fallback: rule_based` in that version's metadata.
    """

    distractor_type = "semantic"

    def __init__(
        self,
        settings: DistractorSettings | None = None,
        client: ChatClient | None = None,
        *,
        handle: ModelHandle | None = None,
        seed: int = 0,
        max_retries: int = 2,
    ) -> None:
        """Configure layers and the model.

        Args:
            settings: `layer_weights`, `strategies`, `num_noisy_versions`.
            client: the transport; bound later by the generator when None.
            handle: the model for extraction and rewriting.
            seed: seeds `apply_noise` calls made without an rng, and the fallback.
            max_retries: re-asks per call when the answer is not the JSON asked for.
        """
        self.settings = settings or DistractorSettings()
        self.client = client
        self._given_client = client is not None
        self.handle = handle or ModelHandle(provider="openai", model="gpt-4o-mini")
        self.max_retries = max_retries
        self.fallback = DistractorModel(self.settings, seed=seed)
        self._rng = random.Random(seed)

    def release_client(self, client: ChatClient) -> None:
        """The generator that bound `client` closed it: forget it (a client given at
        construction is the caller's and stays)."""
        if not self._given_client and self.client is client:
            self.client = None

    def bind_client(self, client: ChatClient) -> None:
        """Use `client` (the binding generator's) when none was given at construction."""
        if not self._given_client:
            self.client = client  # the generator using it now: never a closed earlier one

    async def extract_intent(self, text: str) -> dict[str, Any]:
        """`{intent, slots}` of a user message (`unknown` when the model never says)."""
        request = _request("intent_extraction", text=text)
        try:
            data = await self._ask(request, ("intent",))
        except MalformedOutputError:
            return {"intent": "unknown", "slots": {}}
        slots = data.get("slots")
        return {"intent": str(data["intent"]), "slots": slots if isinstance(slots, dict) else {}}

    async def noise(
        self,
        text: str,
        persona_features: dict[str, str],
        *,
        persona_id: str | None = None,
        rng: random.Random,
    ) -> NoiseResult:
        """`num_noisy_versions` rewrites, each with its own layer and strategies."""
        intent = await self.extract_intent(text)
        versions = [
            await self._version(text, persona_features, persona_id, intent, rng)
            for _ in range(self.settings.num_noisy_versions)
        ]
        return NoiseResult(text, versions)

    async def apply_noise(self, text: str, persona_features: dict[str, str]) -> str:
        """The spec's call: one noisy version of `text`."""
        return (await self.noise(text, persona_features, rng=self._rng)).sent.noisy_text

    async def _version(
        self,
        text: str,
        features: dict[str, str],
        persona_id: str | None,
        intent: dict[str, Any],
        rng: random.Random,
    ) -> NoisyVersion:
        layer = choose_layer(self.settings.layer_weights, rng)
        strategies = choose_strategies(layer, self.settings.strategies, rng)
        request = _request(
            "semantic_noise",
            layer=layer,
            strategies=", ".join(strategies),
            strategy_guide=strategy_guide(strategies),
            summary=summary(features),
            profile_json=profile_json(features),
            request_json=_dumps({"layer": layer, "strategies": strategies}),
            intent_json=_dumps(intent),
            text=text,
        )
        details: dict[str, Any] = {"intent": intent["intent"], "slots": intent["slots"]}
        try:
            noisy = await self._rewrite(request, text)
        except MalformedOutputError as exc:
            fallback = self.fallback.version(text, features, persona_id=persona_id, rng=rng)
            details.update(fallback="rule_based", fallback_reason=str(exc))
            return NoisyVersion(
                fallback.noisy_text,
                fallback.noise_type,
                fallback.applied_strategies,
                fallback.edits,
                details,
            )
        return NoisyVersion(noisy, layer, strategies, [], details)

    async def _rewrite(self, request: ChatRequest, clean: str) -> str:
        data = await self._ask(request, ("noisy_text",), differ_from=clean)
        return str(data["noisy_text"]).strip()

    async def _ask(
        self, request: ChatRequest, required: tuple[str, ...], differ_from: str | None = None
    ) -> dict[str, Any]:
        """Send, re-asking on malformed JSON (or an empty or unchanged rewrite)."""
        if self.client is None:
            raise RuntimeError("SemanticDistractorModel has no client; pass one or bind_client")

        def check(data: dict[str, Any], raw: str) -> None:
            text = str(data.get(required[0]) or "").strip()
            if not text or (differ_from is not None and text == differ_from.strip()):
                raise MalformedOutputError(f"{request.kind} answer is empty or unchanged", raw=raw)

        answer = await ask_json(
            self.client,
            request,
            self.handle,
            required=required,
            max_retries=self.max_retries,
            check=check,
        )
        return answer.data


def _request(name: str, **values: Any) -> ChatRequest:
    return json_request(load_prompt(name), max_tokens=256, temperature=0.9, **values)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
