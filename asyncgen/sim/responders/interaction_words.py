"""Word banks for the interaction responders: domain vocabulary and sentence parts.

Answers are assembled from topic words (taken from the user's request) and domain terms
more than from shared boilerplate, so simulated conversations on different requests do
not look alike to an embedding model (a real model's answers would not either).
"""

from __future__ import annotations

DOMAIN_TERMS: dict[str, tuple[str, ...]] = {
    "software": (
        "stack trace", "unit test", "dependency", "endpoint", "schema", "commit", "timeout",
        "container", "linter", "fixture", "cache", "index", "queue", "retry", "profiler", "branch",
    ),
    "data and analytics": (
        "cohort", "baseline", "median", "outlier", "join key", "dashboard", "sample size",
        "confidence interval", "pivot", "feature", "histogram", "metric", "segment", "null value",
    ),
    "education": (
        "learning objective", "rubric", "worksheet", "warm-up", "exit ticket", "group task",
        "reading level", "assessment", "lesson hook", "homework", "seating plan", "glossary",
    ),
    "healthcare": (
        "care plan", "dosage", "handover", "vital signs", "chart", "consent", "triage note",
        "discharge summary", "allergy list", "follow-up visit", "hand hygiene", "fluid balance",
    ),
    "finance": (
        "ledger", "accrual", "cash buffer", "invoice", "reconciliation", "forecast", "expense line",
        "interest rate", "fee", "variance", "budget category", "tax bracket", "receipt",
    ),
    "marketing": (
        "headline", "call to action", "audience segment", "open rate", "landing page", "brief",
        "tagline", "conversion", "campaign", "testimonial", "keyword", "content pillar",
    ),
    "law": (
        "clause", "jurisdiction", "liability", "notice period", "precedent", "exhibit",
        "indemnity", "signature block", "deadline", "statute", "term sheet", "redline",
    ),
    "logistics": (
        "pallet", "route", "lead time", "carrier", "manifest", "pick list", "dock slot",
        "bill of lading", "safety stock", "cold chain", "delivery window", "backorder",
    ),
    "research": (
        "hypothesis", "sample", "control group", "effect size", "citation", "protocol",
        "pre-registration", "codebook", "limitation", "peer review", "dataset", "abstract",
    ),
    "design": (
        "contrast ratio", "grid", "typeface", "wireframe", "prototype", "spacing", "icon set",
        "user flow", "component", "mood board", "affordance", "hierarchy",
    ),
    "media": (
        "lede", "source", "quote", "angle", "word count", "headline", "fact check", "b-roll",
        "embargo", "byline", "pull quote", "running order",
    ),
    "hospitality": (
        "menu card", "prep list", "cover count", "allergen", "shift", "mise en place",
        "reservation", "upsell", "guest note", "portion size", "supplier", "turnover",
    ),
    "construction": (
        "load", "rebar", "formwork", "permit", "snag", "site plan", "tolerance", "scaffold",
        "bill of quantities", "inspection", "cure time", "method statement",
    ),
    "retail": (
        "planogram", "markdown", "footfall", "shrinkage", "basket size", "till", "endcap",
        "stock count", "loyalty card", "price tag", "display", "returns desk",
    ),
    "personal life": (
        "routine", "shopping list", "calendar", "habit", "budget", "packing list", "playlist",
        "reminder", "weekend", "recipe", "checklist", "goal",
    ),
}  # fmt: skip
LEADS = (
    "First,", "Next,", "Then", "After that,", "Finally,", "Before anything else,",
    "If time allows,",
    "As a rule of thumb,", "In practice,", "To keep it simple,", "For a quick win,", "Ideally,",
    "Where possible,", "On day one,", "Once that works,", "As a check,", "If it still fails,",
)  # fmt: skip
VERBS = (
    "list", "check", "compare", "sketch", "measure", "test", "write down", "group", "rank",
    "trim", "label", "review", "schedule", "automate", "document", "split", "estimate",
    "validate", "draft", "share", "simplify", "double-check", "prioritise", "track",
)  # fmt: skip
LINKS = ("for", "around", "behind", "in", "of", "tied to", "that drives")
QUALIFIERS = (
    "against last month's numbers", "with one concrete example", "in a shared doc",
    "before you change anything", "with the people affected", "in order of impact",
    "using a simple spreadsheet", "in under ten minutes", "with a clear owner",
    "so it can be repeated", "while it is still cheap to change", "on a small case first",
    "and keep the old version", "with a deadline attached", "in plain words",
    "before the next review", "so nothing is missed", "with two alternatives",
    "and note why", "at the end of each week", "with a quick sanity check",
)  # fmt: skip
ASPECTS = (
    "", "", "", "the costs of ", "the timeline for ", "the risks in ", "documenting ",
    "measuring ", "onboarding someone to ", "automating ", "explaining to my manager ",
    "a quick fix for ", "a long-term plan for ", "the trade-offs of ", "a template for ",
)  # fmt: skip
