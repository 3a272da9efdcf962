"""The interaction pipeline: personas → queries in their voice → multi-turn conversations.

Public names follow the spec (`InteractionGenerator`, `Interaction`, `Message`,
`InteractionStorage`, `AssistantModel`, `UserFeedbackModel`, `create_distractor_model`, …),
asyncio-native: `await generator.generate_interaction(...)`.
"""

from asyncgen.interaction.assistant import AssistantModel
from asyncgen.interaction.batch import BatchReport
from asyncgen.interaction.conversation import ConversationTask
from asyncgen.interaction.distractor import (
    DistractorModel,
    NoiseResult,
    NoisyVersion,
    SemanticDistractorModel,
    create_distractor_model,
)
from asyncgen.interaction.enhanced import EnhancedPersonaGenerationPipeline
from asyncgen.interaction.generator import InteractionGenerator
from asyncgen.interaction.jsonout import MalformedOutputError
from asyncgen.interaction.outcome import TaskOutcome
from asyncgen.interaction.pipeline import InteractionPipeline
from asyncgen.interaction.records import Interaction, Message
from asyncgen.interaction.storage import InteractionStorage
from asyncgen.interaction.user_model import FeedbackDecision, FeedbackTurn, UserFeedbackModel

__all__ = [
    "AssistantModel",
    "BatchReport",
    "ConversationTask",
    "DistractorModel",
    "EnhancedPersonaGenerationPipeline",
    "FeedbackDecision",
    "FeedbackTurn",
    "Interaction",
    "InteractionGenerator",
    "InteractionPipeline",
    "InteractionStorage",
    "MalformedOutputError",
    "Message",
    "NoiseResult",
    "NoisyVersion",
    "SemanticDistractorModel",
    "TaskOutcome",
    "UserFeedbackModel",
    "create_distractor_model",
]
