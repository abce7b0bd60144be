"""Every dataset analysis, in one place: ``s2s evaluate`` runs them in this order (``--only``/``--skip`` select).

Adding one: write a module beside this one with an :class:`~s2s_core.analysis.dataset.base.Analysis`
subclass, register its results file in :mod:`s2s_core.results`, and add the class to :data:`ANALYSES` (or call
:func:`register` from your own code). docs/ARCHITECTURE.md ("Adding a lens") walks through an example.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from s2s_core.analysis.dataset.accuracy import AccuracyAnalysis
from s2s_core.analysis.dataset.ae_patterns import AePatternsAnalysis
from s2s_core.analysis.dataset.base import Analysis
from s2s_core.analysis.dataset.channel_zeroing import ChannelZeroingAnalysis
from s2s_core.analysis.dataset.class_sensitivity import ClassSensitivityAnalysis
from s2s_core.analysis.dataset.cross_accuracy import CrossAccuracyAnalysis
from s2s_core.analysis.dataset.ground_truth import GroundTruthAnalysis
from s2s_core.analysis.dataset.inversion import InversionAnalysis
from s2s_core.analysis.dataset.lab import LabAnalysis
from s2s_core.analysis.dataset.nmi import NmiAnalysis
from s2s_core.analysis.dataset.noise import NoiseAnalysis
from s2s_core.analysis.dataset.per_class import PerClassAnalysis
from s2s_core.analysis.dataset.per_image import PerImageAnalysis
from s2s_core.analysis.dataset.randomisation import RandomisationAnalysis
from s2s_core.analysis.dataset.recon_quality import ReconQualityAnalysis
from s2s_core.analysis.dataset.s2s_control import S2SControlAnalysis
from s2s_core.errors import ConfigError

ANALYSES: dict[str, type[Analysis]] = {
    cls.name: cls
    for cls in (AccuracyAnalysis, CrossAccuracyAnalysis, PerClassAnalysis, NoiseAnalysis, NmiAnalysis, LabAnalysis,
                ReconQualityAnalysis, AePatternsAnalysis, GroundTruthAnalysis, PerImageAnalysis, S2SControlAnalysis,
                ChannelZeroingAnalysis, InversionAnalysis, RandomisationAnalysis, ClassSensitivityAnalysis)
}


def register(cls: type[Analysis]) -> type[Analysis]:
    """Add an analysis class (usable as a decorator); a name already taken -> ConfigError."""
    if not cls.name or cls.name in ANALYSES and ANALYSES[cls.name] is not cls:
        raise ConfigError(f"analysis name {cls.name!r} is empty or already registered")
    ANALYSES[cls.name] = cls
    return cls


def names() -> list[str]:
    return list(ANALYSES)


def default_tables() -> set[str]:
    """The results keys that ``s2s evaluate`` writes without ``--only`` (opt-in analyses left out)."""
    return {key for cls in select() for key in cls.tables_written}


def select(only: Iterable[str] | None = None, skip: Iterable[str] = ()) -> list[type[Analysis]]:
    """The analyses to run, in registry order: ``only`` (default: every analysis whose ``default`` is true) minus
    ``skip``; unknown names -> ConfigError."""
    only = list(only) if only is not None else None
    skip = list(skip)
    unknown = [n for n in [*(only or []), *skip] if n not in ANALYSES]
    if unknown:
        raise ConfigError(f"unknown analysis {', '.join(map(repr, unknown))}; known: {', '.join(ANALYSES)}")
    chosen = [cls for name, cls in ANALYSES.items()
              if (cls.default if only is None else name in only) and name not in skip]
    if not chosen:
        raise ConfigError("no analysis selected: --only and --skip leave nothing to run")
    return chosen


def option_fields() -> dict[str, dataclasses.Field]:
    """Every setting any analysis declares (its ``Options`` dataclass), by name, in registry order: what
    ``s2s evaluate`` makes its flags of. Two analyses that declare one name must agree on its default."""
    fields: dict[str, dataclasses.Field] = {}
    for cls in ANALYSES.values():
        for f in dataclasses.fields(cls.Options):
            if f.name in fields and fields[f.name].default != f.default:
                raise ConfigError(f"analysis {cls.name!r} declares option {f.name!r} with another default "
                                  f"({f.default!r}) than an earlier analysis ({fields[f.name].default!r})")
            fields.setdefault(f.name, f)
    return fields


def check_options(values: Mapping[str, object]) -> None:
    """An unknown setting name -> ConfigError naming the known ones."""
    known = option_fields()
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown evaluation option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def options_for(cls: type[Analysis], values: Mapping[str, object]):
    """``cls.Options`` with the settings of ``values`` it declares (the rest at their defaults)."""
    own = {f.name for f in dataclasses.fields(cls.Options)}
    return cls.Options(**{k: v for k, v in values.items() if k in own})
