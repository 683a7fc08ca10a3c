"""Device profiles: which catalog models to install for a language pair on a RAM budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import LanguageError, ModelError
from .catalog import Catalog, CatalogEntry, Profile, to_flores
from .memory import RUNTIME_BASE_MB, estimated_ram_mb

ENGLISH = "eng_Latn"
# Roles a profile fills, with the catalog kinds that can fill each.
ROLE_KINDS = {
    "vad": ("vad",),
    "asr": ("asr-streaming", "asr-segment"),
    "mt": ("mt",),
    "tts": ("tts",),
    "direct": ("direct-st",),
}


@dataclass
class Selection:
    """Catalog models chosen for a profile and a language pair, with the reasons."""

    profile: Profile
    source: str
    target: str
    mode: str  # cascade | direct | transcribe-only | bundle
    roles: dict[str, CatalogEntry] = field(default_factory=dict)
    budget_mb: float = 0.0

    @property
    def models(self) -> list[CatalogEntry]:
        return list(dict.fromkeys(self.roles.values()))

    @property
    def ram_mb(self) -> float:
        return RUNTIME_BASE_MB + sum(estimated_ram_mb(m)[0] for m in self.models)

    @property
    def disk_bytes(self) -> int:
        return sum(m.disk_bytes for m in self.models)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile.id,
            "mode": self.mode,
            "source": self.source,
            "target": self.target,
            "models": {
                role: {
                    "id": e.id,
                    "ram_mb": round(estimated_ram_mb(e)[0]),
                    "ram_measured": estimated_ram_mb(e)[1],
                    "disk_mb": round(e.disk_bytes / 2**20, 1),
                    "license": e.license,
                    "license_verified": e.license_verified,
                    "non_commercial": e.non_commercial,
                }
                for role, e in self.roles.items()
            },
            "ram_mb": round(self.ram_mb),
            "budget_mb": round(self.budget_mb),
            "disk_mb": round(self.disk_bytes / 2**20),
        }


def _candidates(
    catalog: Catalog, profile: Profile, role: str, *languages: str
) -> list[CatalogEntry]:
    found: list[CatalogEntry] = []
    for pattern in profile.prefer.get(role, ()):
        for entry in catalog.matching(pattern):
            fits_kind = any(entry.has_kind(k) for k in ROLE_KINDS[role])
            covered = (
                entry.translates(*languages)
                if role == "mt"
                else all(entry.covers(lang) for lang in languages)
            )
            if fits_kind and covered and entry not in found:
                found.append(entry)
    return found


def select(
    catalog: Catalog,
    profile: Profile,
    source: str = ENGLISH,
    target: str = ENGLISH,
    budget_mb: float | None = None,
) -> Selection:
    """Pick, role by role, the first preferred model that covers the languages and fits.

    The budget (the profile's ``budget_mb``: the device's RAM less what the OS keeps)
    covers the runtime and the models. Machine translation
    falls back to direct speech translation (Whisper) when the target is English and no
    MT model of the profile covers the pair, or when ASR + MT leave no room for a voice.
    """
    src, tgt = to_flores(source), to_flores(target)
    if profile.bundle:
        bundle = catalog.bundles[profile.bundle]
        roles = {m: catalog.get(m) for m in bundle.models}
        return Selection(profile, src, tgt, "bundle", roles, float(profile.budget_mb))
    budget = float(budget_mb if budget_mb is not None else profile.budget_mb)
    selection = Selection(profile, src, tgt, "cascade", budget_mb=budget)
    left = budget - RUNTIME_BASE_MB

    def take(role: str, *languages: str) -> bool:
        nonlocal left
        for entry in _candidates(catalog, profile, role, *languages):
            ram, _ = estimated_ram_mb(entry)
            if ram <= left:
                selection.roles[role] = entry
                left -= ram
                return True
        return False

    def fail(role: str, *languages: str) -> ModelError:
        what = {"asr": "recognizes", "mt": "translates", "tts": "speaks", "direct": "translates"}[
            role
        ]
        pair = " to ".join(languages)
        if _candidates(catalog, profile, role, *languages):
            return ModelError(
                f"profile {profile.id}: no model that {what} {pair} fits in {budget:.0f} MB",
                "pick a larger profile or give more memory: --ram",
            )
        in_catalog = [
            e
            for kind in ROLE_KINDS[role]
            for e in catalog.covering(kind, *languages)
            if role != "mt" or e.translates(*languages)
        ]
        if in_catalog:
            return ModelError(
                f"profile {profile.id} prefers no model that {what} {pair}",
                "pick another profile (edge models recommend --ram ...) or pull a model by id",
            )
        return LanguageError(
            f"no catalog model {what} {pair}",
            "import one you have: edge models import PATH --id ID (see edge models list)",
        )

    asr_ok = take("asr", src)
    if src == tgt:
        if not asr_ok:
            raise fail("asr", src)
        selection.mode = "transcribe-only"
        take("vad")
        return selection
    if not (asr_ok and take("mt", src, tgt)):
        if tgt != ENGLISH:
            raise fail("mt" if asr_ok else "asr", *((src, tgt) if asr_ok else (src,)))
        if asr_ok:  # the direct model replaces ASR + MT: give the ASR's memory back
            left += estimated_ram_mb(selection.roles.pop("asr"))[0]
        if not take("direct", src):
            raise fail("mt" if asr_ok else "asr", *((src, tgt) if asr_ok else (src,)))
        selection.mode = "direct"
    if not take("tts", tgt):
        # ASR + MT left too little for a voice: into English, Whisper may replace both.
        if selection.mode != "cascade" or tgt != ENGLISH:
            raise fail("tts", tgt)
        for role in ("asr", "mt"):
            left += estimated_ram_mb(selection.roles.pop(role))[0]
        if not (take("direct", src) and take("tts", tgt)):
            raise fail("tts", tgt)
        selection.mode = "direct"
    take("vad")
    return selection


def recommend(
    catalog: Catalog,
    ram_mb: float,
    source: str = ENGLISH,
    target: str = ENGLISH,
    disk_mb: float | None = None,
) -> tuple[Selection, list[str]]:
    """The largest profile whose device class fits ``ram_mb`` and whose models fit the
    disk, with the lines that explain the choice."""
    profiles = sorted(
        (p for p in catalog.profiles.values() if not p.bundle and p.ram_mb <= ram_mb),
        key=lambda p: p.ram_mb,
        reverse=True,
    )
    if not profiles:
        smallest = min((p.ram_mb for p in catalog.profiles.values() if not p.bundle), default=0)
        raise ModelError(
            f"no profile for {ram_mb:.0f} MB of RAM", f"the smallest profile needs {smallest} MB"
        )
    rejected: list[str] = []
    for profile in profiles:
        try:
            selection = select(catalog, profile, source, target)
        except LanguageError:
            raise
        except ModelError as exc:
            rejected.append(f"{profile.id}: {exc.problem}")
            continue
        if disk_mb is not None and selection.disk_bytes / 2**20 > disk_mb:
            rejected.append(
                f"{profile.id}: needs {selection.disk_bytes / 2**20:.0f} MB of disk, "
                f"more than {disk_mb:.0f} MB"
            )
            continue
        return selection, explain(selection, ram_mb, rejected)
    raise ModelError(
        "no profile fits: " + "; ".join(rejected), "give more memory or disk, or another pair"
    )


def license_lines(models: list[CatalogEntry]) -> list[str]:
    """What the chosen models' licenses say about shipping them, without claiming more
    than the catalog knows: an unknown license is never described as allowing use."""
    lines = []
    nc = [e.id for e in models if e.non_commercial]
    unknown = [e.id for e in models if not e.non_commercial and not e.license_verified]
    if nc:
        lines.append(f"  license: {', '.join(nc)} may not be used commercially")
    if unknown:
        lines.append(
            f"  license: {', '.join(unknown)}: license unknown or unverified (see edge models "
            "info ID): do not assume commercial use is allowed"
        )
    if not nc and not unknown:
        lines.append(
            "  license: no model is marked non-commercial or unverified; each license's "
            "terms still apply (attribution for CC-BY, notices for Apache-2.0 and MPL-2.0)"
        )
    if any(e.backend == "piper" for e in models):
        lines.append(
            "  license: Piper voices run with piper-tts (GPL-3.0-or-later): shipping it in a "
            "device brings the GPL's source obligations (README, Licenses)"
        )
    return lines


def explain(selection: Selection, ram_mb: float, rejected: list[str]) -> list[str]:
    p = selection.profile
    lines = [
        f"profile {p.id}: {p.name} ({p.devices}); chosen for {ram_mb:.0f} MB of RAM",
    ]
    if p.description:
        lines.append(f"  {p.description}")
    for line in rejected:
        lines.append(f"  skipped larger profile {line}")
    lines.append(f"  mode: {selection.mode} {selection.source} -> {selection.target}")
    for role, entry in selection.roles.items():
        ram, measured = estimated_ram_mb(entry)
        ram_text = f"{ram:.0f} MB RAM {'measured' if measured else 'estimated'}"
        speed = f"; {entry.speed_note}" if entry.speed_note else ""
        flag = ""
        if entry.non_commercial:
            flag = " (NON-COMMERCIAL)"
        elif not entry.license_verified:
            flag = " (UNVERIFIED)"
        lines.append(
            f"  {role:6} {entry.id}: {ram_text}, {entry.disk_bytes / 2**20:.0f} MB disk, "
            f"{entry.license}{flag}{speed}"
        )
    lines.append(
        f"  total: about {selection.ram_mb:.0f} MB RAM (runtime {RUNTIME_BASE_MB:.0f} MB "
        f"included) of a {selection.budget_mb:.0f} MB budget; "
        f"{selection.disk_bytes / 2**20:.0f} MB disk"
    )
    if p.expected_speed:
        lines.append(f"  expected speed: {p.expected_speed}")
    lines += license_lines(selection.models)
    lines.append(
        f"  install: edge models pull --profile {p.id} --from {selection.source} "
        f"--to {selection.target}"
    )
    return lines
