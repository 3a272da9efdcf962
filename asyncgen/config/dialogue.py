"""Settings for the dialogue pipeline (the MultiWOZ-seeded generator of the report).

The report's scenario space (regions, categories, services, combinations, time slots,
emotions, resolution statuses) lives here as defaults and is repeated in full in
`default.yaml`, so every list can be read and overridden in config.
"""

from typing import Literal, Self

from pydantic import Field, model_validator

from asyncgen.config.base import Settings, require_values, require_weights

REGIONS = [
    "Tokyo", "Delhi", "Shanghai", "Sao Paulo", "Mumbai", "Beijing", "Cairo", "Mexico City",
    "Dhaka", "Osaka", "Karachi", "Chongqing", "Istanbul", "Buenos Aires", "Kolkata",
    "Kinshasa", "Lagos", "Manila", "Rio de Janeiro", "Guangzhou", "Los Angeles", "Moscow",
    "Paris", "Bangkok", "Jakarta", "London", "Lima", "New York", "Shenzhen", "Bangalore",
    "Ho Chi Minh City", "Hyderabad", "Bogota", "Tianjin", "Santiago", "Sydney", "Berlin",
    "Madrid", "Toronto", "Johannesburg", "Dubai", "Singapore", "Tehran", "Baghdad", "Riyadh",
    "Rome", "Cape Town", "Casablanca", "Barcelona", "Seoul", "Melbourne", "Copenhagen",
    "Zurich", "Kuala Lumpur",
]  # fmt: skip

GENERAL_CATEGORIES = [
    "account_management", "cancellation_general", "complaint", "refund_request_general",
    "payment_issues", "general_inquiry", "feedback", "technical_support",
    "lost_and_found_general",
]  # fmt: skip

SERVICE_CATEGORIES: dict[str, list[str]] = {
    "restaurant": [
        "dining_reservation", "dietary_requirements", "table_modification",
        "special_occasion", "menu_inquiry", "order_status", "reservation_cancellation",
    ],
    "hotel": [
        "room_reservation", "check_in_out", "amenity_inquiry", "room_service",
        "booking_modification", "housekeeping_request", "reservation_cancellation",
    ],
    "train": [
        "journey_planning", "schedule_inquiry", "ticket_booking", "platform_information",
        "ticket_change", "ticket_cancellation", "seat_selection",
    ],
    "attraction": [
        "ticket_availability", "opening_hours", "guided_tour", "venue_information",
        "group_booking", "ticket_cancellation", "accessibility_inquiry",
    ],
    "taxi": [
        "ride_booking", "pickup_location", "fare_inquiry", "driver_tracking",
        "ride_cancellation", "ride_feedback", "service_type_inquiry",
    ],
    "hospital": [
        "appointment_booking", "department_inquiry", "medical_information",
        "emergency_services", "appointment_cancellation", "insurance_inquiry",
        "medical_record_request",
    ],
    "bus": [
        "route_information", "schedule_inquiry", "ticket_booking", "stop_location",
        "ticket_change", "ticket_cancellation", "seat_selection",
    ],
    "flight": [
        "flight_booking", "cancellation_flight", "ticket_change", "baggage_inquiry",
        "check_in", "seat_selection", "flight_status", "upgrade_request",
        "refund_request_flight", "lounge_access", "boarding_pass_issue", "special_meals",
        "pet_transportation",
    ],
}  # fmt: skip

CORE_SERVICES = ["hotel", "restaurant", "train", "attraction", "taxi", "bus", "hospital", "flight"]

# Pairings, triples and quadruples that occur together in one real trip or errand.
COMBINATIONS: dict[str, list[list[str]]] = {
    "double": [
        ["hospital", "taxi"], ["flight", "hotel"], ["restaurant", "taxi"],
        ["hotel", "restaurant"], ["train", "hotel"], ["attraction", "restaurant"],
        ["attraction", "taxi"], ["train", "taxi"], ["bus", "attraction"],
        ["flight", "taxi"], ["hotel", "taxi"], ["bus", "hotel"], ["hospital", "hotel"],
        ["train", "attraction"], ["flight", "train"], ["bus", "restaurant"],
    ],
    "triple": [
        ["hospital", "taxi", "hotel"], ["flight", "train", "taxi"],
        ["flight", "hotel", "taxi"], ["hotel", "restaurant", "taxi"],
        ["train", "hotel", "restaurant"], ["attraction", "restaurant", "taxi"],
        ["bus", "attraction", "restaurant"], ["flight", "hotel", "restaurant"],
        ["train", "hotel", "attraction"], ["hospital", "hotel", "restaurant"],
        ["bus", "hotel", "attraction"], ["flight", "bus", "hotel"],
    ],
    "quadruple": [
        ["flight", "train", "hotel", "taxi"], ["flight", "hotel", "restaurant", "taxi"],
        ["train", "hotel", "attraction", "restaurant"],
        ["hotel", "restaurant", "attraction", "taxi"],
        ["flight", "hotel", "attraction", "taxi"], ["hospital", "taxi", "hotel", "restaurant"],
        ["bus", "hotel", "attraction", "restaurant"], ["flight", "bus", "hotel", "attraction"],
    ],
}  # fmt: skip

SERVICE_WEIGHTS = {"single": 0.30, "double": 0.35, "triple": 0.25, "quadruple": 0.10}
COUNT_CLASSES = {"single": 1, "double": 2, "triple": 3, "quadruple": 4}

# Travel time slots as [start_hour, end_hour) on a 24-hour clock.
TIME_SLOTS: dict[str, tuple[int, int]] = {
    "Early Morning": (5, 8),
    "Morning": (8, 12),
    "Afternoon": (12, 17),
    "Evening": (17, 21),
    "Night": (21, 24),
    "Late Night": (0, 5),
}

USER_EMOTIONS = [
    "Frustrated", "Angry", "Confused", "Worried", "Disappointed", "Happy", "Anxious",
    "Impatient", "Skeptical", "Desperate", "Overwhelmed", "Hopeful", "Satisfied", "Stressed",
    "Suspicious", "Tired", "Excited", "Indifferent", "Grateful", "Demanding",
]  # fmt: skip

ASSISTANT_EMOTIONS = [
    "Professional", "Informative", "Reassuring", "Diplomatic", "Patient", "Efficient",
    "Accommodating", "Solution-focused", "Methodical", "Proactive", "Analytical", "Composed",
    "Detail-oriented", "Responsive", "Thorough", "Systematic", "Precise", "Objective",
    "Resourceful", "Knowledgeable",
]  # fmt: skip

RESOLUTION_STATUSES = {"Resolved": 0.4, "Failed": 0.3, "Escalated": 0.3}

# The report's names for the same lists (its code refers to them so).
PREDEFINED_REGIONS = REGIONS
LOGICAL_COMBINATIONS = COMBINATIONS
USER_EMOTION_LIST = USER_EMOTIONS
ASSISTANT_EMOTION_LIST = ASSISTANT_EMOTIONS
travel_time_slots = TIME_SLOTS  # the report's own (lower-case) name


class DialogueSettings(Settings):
    """The report's CLI parameters and scenario space, every list overridable in YAML."""

    output_file: str = "generated_dialogues.json"
    hash_file: str = "dialogue_hashes.json"
    embedding_file: str = "dialogue_embeddings.npy"
    similarity_threshold: float = Field(default=0.9, gt=0, le=1)
    dataset_name: str = "pfb30/multi_woz_v22"
    dataset_path: str | None = None
    dataset_split: str = "train"
    persona_path: str | None = None
    allow_base_reuse: bool = False
    anonymize_base: bool = True
    min_turns: tuple[int, int] = (5, 10)
    max_turns: tuple[int, int] = (7, 20)
    max_retries: int = Field(default=3, ge=0)
    retry_backoff: float = Field(default=1.0, ge=0)
    scenario_max_tokens: int = Field(default=150, gt=0)
    dialogue_max_tokens: int = Field(default=3000, gt=0)
    model: str | None = None
    mix_block_size: int = Field(default=20, ge=1)
    emotions_per_speaker: tuple[int, int] = (1, 2)
    persona_selection: Literal["either", "cluster", "summary"] = "either"
    regions: list[str] = Field(default_factory=lambda: list(REGIONS))
    general_categories: list[str] = Field(default_factory=lambda: list(GENERAL_CATEGORIES))
    service_categories: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in SERVICE_CATEGORIES.items()}
    )
    core_services: list[str] = Field(default_factory=lambda: list(CORE_SERVICES))
    combinations: dict[str, list[list[str]]] = Field(
        default_factory=lambda: {k: [list(c) for c in v] for k, v in COMBINATIONS.items()}
    )
    service_weights: dict[str, float] = Field(default_factory=lambda: dict(SERVICE_WEIGHTS))
    time_slots: dict[str, tuple[int, int]] = Field(default_factory=lambda: dict(TIME_SLOTS))
    user_emotions: list[str] = Field(default_factory=lambda: list(USER_EMOTIONS))
    assistant_emotions: list[str] = Field(default_factory=lambda: list(ASSISTANT_EMOTIONS))
    resolution_statuses: dict[str, float] = Field(default_factory=lambda: dict(RESOLUTION_STATUSES))
    apply_noise: bool = False
    grounding: Literal["none", "goals"] = Field(
        default="none",
        description="goals: the base dialogue's frames give the user's goal; turns carry "
        "the dialogue state (docs/quality.md)",
    )

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        for name in ("min_turns", "max_turns", "emotions_per_speaker"):
            low, high = getattr(self, name)
            if low < 1 or low > high:
                raise ValueError(f"{name} must be a range 1 <= A <= B, got {low} {high}")
        lists = ("regions", "general_categories", "core_services", "user_emotions")
        require_values(self, *lists, "assistant_emotions", "time_slots")
        self._check_weights()
        self._check_services()
        return self

    def _check_weights(self) -> None:
        require_weights(self, "service_weights", "resolution_statuses")
        unknown = set(self.service_weights) - set(COUNT_CLASSES)
        if unknown:
            raise ValueError(f"service_weights has unknown classes {sorted(unknown)}")
        for slot, (start, end) in self.time_slots.items():
            if not 0 <= start < end <= 24:
                raise ValueError(f"time slot {slot!r} must satisfy 0 <= start < end <= 24")

    def _check_services(self) -> None:
        core = set(self.core_services)
        for cls, combos in self.combinations.items():
            size = COUNT_CLASSES.get(cls)
            if size is None:
                raise ValueError(f"combinations has unknown class {cls!r}")
            for combo in combos:
                if len(combo) != size or len(set(combo)) != size or not set(combo) <= core:
                    raise ValueError(f"combination {combo} is not {size} distinct core services")
        for cls, weight in self.service_weights.items():
            if weight > 0 and cls != "single" and not self.combinations.get(cls):
                raise ValueError(f"service_weights gives {cls} weight but no combinations")
