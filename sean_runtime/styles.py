"""Per-region style codes and the edits that make SEAN useful: swap, interpolate, average, fill.

A Styles holds, for each image of a batch, one code per class ([B, K, S]) and whether that code was
measured from pixels of the class ([B, K]). A class with no pixels on the encoder's pooling grid has an
all-zero code, which the generator renders as that class's bias style; the edits below never copy such
a code over a real one. Every edit returns a new Styles; the arrays of a Styles are read-only.

Where an edit needs a class that the reference image lacks, `fallback` says what to use instead:
  "own"    keep the edited image's own code for that class (the default);
  "error"  raise InputError naming the class and the images;
  Styles   take the code from these styles (e.g. per-class means from `mean_styles`), batch 1 or B;
           where they lack the class too, the image keeps its own code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sean_core.errors import InputError

ClassRef = str | int  # a class name or id
# Interpolation weights: [0, 1] blends two styles; one step beyond each end extrapolates.
ALPHA_RANGE = (-1.0, 2.0)
# The encoder's codes are tanh outputs in [-1, 1], and edits within ALPHA_RANGE stay within a few
# units; codes read from JSON past this bound come from elsewhere, and the generator would turn them
# into NaN or infinite pixels (1e30 does), so from_json refuses them and names the codes.
MAX_ABS_JSON_CODE = 100.0
DEFAULT_FALLBACK = "own"  # every edit's default, the HTTP API's and Triton's included
FALLBACK_NAMES = (DEFAULT_FALLBACK, "error")
JSON_FIELDS = ("codes", "present", "class_names")  # to_json's object; class_names is optional in from_json


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False, repr=False)
class Styles:
    """codes [B, K, S] float32, present [B, K] bool, class_names (K names)."""

    codes: np.ndarray
    present: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        try:
            with np.errstate(over="ignore"):  # a value past float32's range becomes inf, refused below
                codes = np.array(self.codes, dtype=np.float32, copy=True)
            present = np.array(self.present, dtype=bool, copy=True)
        except (TypeError, ValueError) as exc:  # text, ragged lists
            raise InputError(f"style codes must be numbers [B, K, S] and presence flags [B, K]: {exc}") from None
        names = _class_names(self.class_names)
        if codes.ndim != 3:
            raise InputError(f"style codes must be [B, K, S], got shape {codes.shape}")
        if present.shape != codes.shape[:2]:
            raise InputError(f"presence flags {present.shape} do not match codes {codes.shape} ([B, K] vs [B, K, S])")
        if len(names) != codes.shape[1]:
            raise InputError(f"{len(names)} class names for {codes.shape[1]} classes of style codes")
        if not np.isfinite(codes).all():
            raise InputError("style codes contain NaN or infinite values")
        object.__setattr__(self, "codes", _readonly(codes))
        object.__setattr__(self, "present", _readonly(present))
        object.__setattr__(self, "class_names", names)

    def __reduce__(self) -> tuple[type, tuple[np.ndarray, np.ndarray, tuple[str, ...]]]:
        """Pickled and copied through the constructor, which checks the arrays and makes them read-only again
        (numpy's own pickling gives writable copies)."""
        return type(self), (self.codes, self.present, self.class_names)

    def __repr__(self) -> str:
        """Styles(batch=2, code length=64, classes present=3/8: background, blob, stripes)."""
        present = [name for name, seen in zip(self.class_names, self.present.any(axis=0), strict=True) if seen]
        shown = ", ".join(present[:8]) + (", ..." if len(present) > 8 else "")
        return (
            f"Styles(batch={self.batch_size}, code length={self.style_dim}, "
            f"classes present={len(present)}/{self.num_classes}{': ' + shown if shown else ''})"
        )

    # --- shape and indexing -------------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return self.codes.shape[0]

    @property
    def num_classes(self) -> int:
        return self.codes.shape[1]

    @property
    def style_dim(self) -> int:
        return self.codes.shape[2]

    def __len__(self) -> int:
        return self.batch_size

    def __getitem__(self, index: int | slice | Sequence[int]) -> Styles:
        """Images of the batch, kept as a batch: styles[0] has batch size 1."""
        if isinstance(index, (bool, np.bool_)):  # numpy reads True as a new axis, not as image 1
            raise InputError(f"index Styles by image number or slice, not by {index!r}")
        try:
            rows = np.atleast_1d(np.arange(self.batch_size)[index])
        except (IndexError, TypeError, ValueError) as exc:
            if isinstance(index, (int, np.integer)):  # out of range: an IndexError ends `for style in styles`
                raise
            raise InputError(f"Styles of {self.batch_size} image(s) have no images {index!r:.80} ({exc})") from None
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise InputError(f"index Styles by image number, slice or list of numbers, not by {index!r:.80}")
        return Styles(self.codes[rows], self.present[rows], self.class_names)

    @classmethod
    def concat(cls, items: Iterable[Styles]) -> Styles:
        """One batch from several Styles of the same classes and code length."""
        items = list(items)
        if not items:
            raise InputError("cannot concatenate an empty list of styles")
        first = items[0]
        for other in items[1:]:
            first._check_compatible(other, "concatenate")
        return cls(
            np.concatenate([s.codes for s in items]), np.concatenate([s.present for s in items]), first.class_names
        )

    def class_id(self, cls: ClassRef) -> int:
        """A class name or id -> id, with an error listing the known names."""
        if isinstance(cls, (int, np.integer)) and not isinstance(cls, bool):
            if 0 <= int(cls) < self.num_classes:
                return int(cls)
            raise InputError(f"class id {cls} is outside 0..{self.num_classes - 1}")
        if not isinstance(cls, str):
            raise InputError(f"a class is a name or an integer id, got {cls!r:.80} ({type(cls).__name__})")
        if cls in self.class_names:
            return self.class_names.index(cls)
        raise InputError(f"unknown class {cls!r}; the classes are: {', '.join(self.class_names)}")

    def class_ids(self, classes: ClassRef | Iterable[ClassRef] | None) -> list[int]:
        """None -> every class; one class or a list of them -> their ids (duplicates dropped)."""
        if classes is None:
            return list(range(self.num_classes))
        if isinstance(classes, (str, int, np.integer)):
            classes = [classes]
        if not isinstance(classes, Iterable) or isinstance(classes, (bytes, dict)):
            raise InputError(f"classes must be a class name or id, or a list of them, got {classes!r:.80}")
        ids = [self.class_id(c) for c in classes]
        if not ids:
            raise InputError("no class given to edit")
        return list(dict.fromkeys(ids))

    # --- JSON (the HTTP API, the editor, files) ------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The styles of one image as JSON-ready lists: {codes: [K][S], present: [K], class_names: [K]}.

        Codes are float32 written as exact decimals, so from_json gives back the same bits.
        """
        if self.batch_size != 1:
            raise InputError(f"to_json writes the styles of one image; pick one with styles[i] (not {self.batch_size})")
        return {
            "codes": self.codes[0].tolist(),
            "present": self.present[0].tolist(),
            "class_names": list(self.class_names),
        }

    @classmethod
    def from_json(cls, data: Any, class_names: Sequence[str], style_dim: int | None = None) -> Styles:
        """to_json's form (class_names optional; when given, they must be these) -> Styles of batch 1.

        Codes must be finite numbers within +-MAX_ABS_JSON_CODE: the encoder gives [-1, 1].
        """
        names = _class_names(class_names)
        if not isinstance(data, dict) or "codes" not in data or "present" not in data:
            raise InputError("styles must be an object {codes: [[...] per class], present: [true|false per class]}")
        unknown = sorted(set(data) - set(JSON_FIELDS))
        if unknown:
            raise InputError(f"styles has unknown field(s) {', '.join(map(repr, unknown))}; it takes "
                             f"{', '.join(JSON_FIELDS[:-1])} and {JSON_FIELDS[-1]}")
        given = data.get("class_names")
        if given is not None and (not isinstance(given, list) or tuple(given) != names):
            raise InputError(f"styles are for classes {given!r}, but the package has {list(names)}")
        codes, present = data["codes"], data["present"]
        rows = len(codes) if isinstance(codes, list) else -1
        width = len(codes[0]) if rows > 0 and isinstance(codes[0], list) else -1
        if rows != len(names) or width < 1 or any(not isinstance(r, list) or len(r) != width for r in codes):
            raise InputError(f"styles.codes must be {len(names)} lists (one per class) of equally many numbers")
        if style_dim is not None and width != style_dim:
            raise InputError(f"styles.codes have {width} numbers per class; this package's style length is {style_dim}")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for r in codes for v in r):
            raise InputError("styles.codes must hold numbers only")
        if not isinstance(present, list) or len(present) != len(names) or any(not isinstance(v, bool) for v in present):
            raise InputError(f"styles.present must be {len(names)} booleans (one per class)")
        return cls(_json_codes(codes)[None], np.asarray(present, dtype=bool)[None], names)

    # --- edits -------------------------------------------------------------------------------------
    def swap(
        self, classes: ClassRef | Iterable[ClassRef], other: Styles, fallback: Fallback = DEFAULT_FALLBACK
    ) -> Styles:
        """The codes of `classes` taken from `other` (batch 1: for every image; batch B: image by image)."""
        _check_fallback(fallback)
        ids = self.class_ids(classes)
        ref_codes, ref_present = self._reference(other, ids, fallback, "swap")
        codes, present = self.codes.copy(), self.present.copy()
        codes[:, ids] = ref_codes
        present[:, ids] = ref_present
        return Styles(codes, present, self.class_names)

    def interpolate(
        self,
        other: Styles,
        alpha: float | Sequence[float] | np.ndarray,
        classes: ClassRef | Iterable[ClassRef] | None = None,
        fallback: Fallback = DEFAULT_FALLBACK,
    ) -> Styles:
        """(1 - alpha) * own + alpha * other for `classes` (all by default); alpha a number or one per image.

        alpha in [0, 1] blends; ALPHA_RANGE allows one step of extrapolation beyond each end, and weights
        outside it are refused (they push codes far from anything the generator was trained on).
        Only classes with a code of their own change: one the image lacks stays absent (see fill_missing).
        """
        _check_fallback(fallback)
        ids = self.class_ids(classes)
        weights = self._alpha(alpha)
        ref_codes, _ = self._reference(other, ids, fallback, "interpolate")
        own = self.codes[:, ids]
        mixed = own + weights[:, None, None] * (ref_codes - own)
        keep = self.present[:, ids]
        codes = self.codes.copy()
        codes[:, ids] = np.where(keep[..., None], mixed, own)
        return Styles(codes, self.present, self.class_names)

    def fill_missing(self, fallback: Styles, classes: ClassRef | Iterable[ClassRef] | None = None) -> Styles:
        """Absent classes get the fallback's code (e.g. per-class means); present ones are left alone."""
        ids = self.class_ids(classes)
        fb = self._broadcast(fallback, "fill from")
        take = ~self.present[:, ids] & fb.present[:, ids]
        codes, present = self.codes.copy(), self.present.copy()
        codes[:, ids] = np.where(take[..., None], fb.codes[:, ids], self.codes[:, ids])
        present[:, ids] = self.present[:, ids] | take
        return Styles(codes, present, self.class_names)

    def mean(self) -> Styles:
        """Per-class mean over the images of this batch where the class is present -> batch 1."""
        return mean_styles([self])

    # --- helpers -----------------------------------------------------------------------------------
    def _alpha(self, alpha: float | Sequence[float] | np.ndarray) -> np.ndarray:
        """Interpolation weights -> float32 [B], each a real number in ALPHA_RANGE."""
        low, high = ALPHA_RANGE
        rule = f"alpha must be a number in [{low:g}, {high:g}] or a list of {self.batch_size} (one per image)"
        if isinstance(alpha, (bool, str, bytes)):
            raise InputError(f"{rule}, got {alpha!r:.80}")
        try:
            weights = np.asarray(alpha)
        except (ValueError, TypeError) as exc:  # ragged nested lists
            raise InputError(f"{rule}, got {alpha!r:.80}") from exc
        if weights.dtype.kind not in "iuf" or weights.ndim > 1:
            raise InputError(f"{rule}, got {alpha!r:.80}")
        weights = weights.astype(np.float64)  # range-checked before the cast to float32, which could overflow
        weights = np.broadcast_to(weights, (self.batch_size,)) if weights.ndim == 0 else weights
        if weights.shape != (self.batch_size,):
            raise InputError(f"{rule}, got {weights.shape[0]} weights")
        if not (np.isfinite(weights) & (weights >= low) & (weights <= high)).all():
            raise InputError(f"{rule}, got {np.asarray(alpha).tolist()!r:.80}")
        return weights.astype(np.float32)

    def _check_compatible(self, other: Styles, action: str) -> None:
        if not isinstance(other, Styles):
            raise InputError(f"cannot {action} {type(other).__name__}: expected Styles (from Synthesizer.encode)")
        if other.class_names != self.class_names or other.style_dim != self.style_dim:
            raise InputError(
                f"cannot {action} styles of different models: {other.num_classes} classes x {other.style_dim} "
                f"vs {self.num_classes} x {self.style_dim} (or other class names); encode both with one package"
            )

    def _broadcast(self, other: Styles, action: str) -> Styles:
        """`other` with this batch size: batch 1 is repeated, batch B is taken image by image."""
        self._check_compatible(other, action)
        if other.batch_size == self.batch_size:
            return other
        if other.batch_size == 1:
            rows = np.zeros(self.batch_size, dtype=np.int64)
            return Styles(other.codes[rows], other.present[rows], other.class_names)
        raise InputError(
            f"cannot {action} styles of {other.batch_size} images into a batch of {self.batch_size}: "
            f"pass styles of 1 image (used for all) or of {self.batch_size} (one per image)"
        )

    def _reference(self, other: Styles, ids: list[int], fallback: Fallback, action: str) -> tuple[np.ndarray, ...]:
        """Codes [B, n, S] and presence [B, n] of `other` for classes `ids`, with the fallback applied."""
        ref = self._broadcast(other, action)
        codes = ref.codes[:, ids].copy()
        present = ref.present[:, ids].copy()
        lacking = ~present
        if not lacking.any():
            return codes, present
        if isinstance(fallback, Styles):
            fb = self._broadcast(fallback, f"{action} with fallback")
            use_fb = lacking & fb.present[:, ids]
            codes[use_fb] = fb.codes[:, ids][use_fb]
            present |= use_fb
            lacking &= ~use_fb
        elif fallback == "error":
            b, c = np.nonzero(lacking)
            names = sorted({self.class_names[ids[j]] for j in c})
            raise InputError(
                f"cannot {action}: the reference style lacks class(es) {names} for image(s) "
                f"{sorted(set(b.tolist()))}; pick a reference showing them, or use fallback 'own' or mean styles"
            )
        codes[lacking] = self.codes[:, ids][lacking]
        present[lacking] = self.present[:, ids][lacking]
        return codes, present


Fallback = str | Styles  # "own", "error", or styles to take missing codes from


def _class_names(names: object) -> tuple[str, ...]:
    """Class names given as a list or tuple -> a tuple of str; one string (which would split into letters) or
    anything else is refused."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise InputError(f"class_names must be a list of names, got {names!r:.80}")
    return tuple(str(n) for n in names)


def _check_fallback(fallback: object) -> None:
    """Checked before any edit, whether or not a class turns out to be missing."""
    if not isinstance(fallback, Styles) and (not isinstance(fallback, str) or fallback not in FALLBACK_NAMES):
        raise InputError(f"fallback must be 'own', 'error' or Styles (e.g. mean_styles(...)), got {fallback!r:.80}")


def _json_codes(rows: list[list[int | float]]) -> np.ndarray:
    """JSON numbers [K][S] -> float32 [K, S], each finite and within +-MAX_ABS_JSON_CODE."""
    try:
        codes = np.asarray(rows, dtype=np.float64)
    except OverflowError:  # an integer past float64's range, e.g. 10**400
        codes = np.full((1, 1), np.inf)
    if np.isnan(codes).any():
        raise InputError("style codes contain NaN values")
    largest = float(np.abs(codes).max())
    if not largest <= MAX_ABS_JSON_CODE:
        raise InputError(
            f"styles.codes hold values up to {largest:.3g}, far outside the encoder's range [-1, 1]; codes within "
            f"+-{MAX_ABS_JSON_CODE:g} are accepted: send codes from an encoder (/v1/encode, Synthesizer.encode)"
        )
    return codes.astype(np.float32)


def mean_styles(items: Styles | Iterable[Styles]) -> Styles:
    """Per-class mean style over many images -> Styles of batch 1.

    Each class is averaged over the images where it is present; a class present in none stays absent
    (zero code), so using the result as a fallback never invents a style.
    """
    batch = items if isinstance(items, Styles) else Styles.concat(items)
    weights = batch.present.astype(np.float64)  # [B, K]
    counts = weights.sum(axis=0)  # [K]
    sums = np.einsum("bk,bks->ks", weights, batch.codes.astype(np.float64))
    means = sums / np.maximum(counts, 1.0)[:, None]
    return Styles(means[None].astype(np.float32), (counts > 0)[None], batch.class_names)
