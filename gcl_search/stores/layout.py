"""IndexLayout: what an index holds, in what order, and how it is searched.

The settled layout (design.md section 3): every document carries ONE concatenated vector
`D = [d_1; ...; d_F]` (field vectors in layout order) in inner-product space. A query
`Q = [w_1 q_1; ...; w_F q_F]` then scores `Q . D = sum_f w_f q_f . d_f` with one approximate search, for any
weights chosen per request. That search only finds CANDIDATES: the dense score itself (by default the seed's
fused score, `gcl_search.fields.vectors.multi_field_scores`) is computed exactly from each candidate's stored
field vectors on a pool of `rescore_depth` candidates (`knn_exact` says when the ANN score already is the
dense score, and the pool can be just the page).

`impute_missing` (new layouts): the block of a field a document LACKS holds the unit mean of the document's
present fields of the same dimension instead of zeros. `Q . D` then approximates the fused score's
renormalisation over present fields (recall of the fused top 10 from a 200-candidate pool: 0.988 worst of 7
weightings vs 0.969 with zero blocks, design.md section 3). The stored per-field vectors, the presence list
and every similarity a hit reports stay exact: an imputed block is never read as a field vector.

Per-field vectors, a fused (training-weights) vector and a preset vector are optional extras
(`LayoutOptions.per_field_vectors`, `fused_weights`, `preset_weights`). The preset vector (new layouts,
`preset_fused`) is the seed's fused unit vector `normalize(sum_f a_f d_f)` at the preset weights: requests
whose weights are the preset's (up to a factor) and whose weighted fields share one query vector `q` get
`q . P` = the fused score exactly, from an HNSW over `dim` instead of `concat_dim` dimensions (`knn_plan`
picks it; bench_search measures it). Indices written before `preset_fused` existed hold `sum_f a_f d_f`.

The layout is recorded in the index (`_meta.gcl_search` in OpenSearch, `meta.json` in the local store) so that
ingest and search can refuse a config that does not match what was indexed (`check_compatible`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gcl_search.errors import ConfigError, DimensionMismatch

if TYPE_CHECKING:
    from gcl_search.config import Config
    from gcl_search.records import Document

LAYOUT_VERSION = 1
ATTRIBUTE_TYPES = ("keyword", "float", "integer", "boolean")
ENGINES = ("lucene", "faiss", "nmslib")
# Names of the vector targets a `knn` call can search, besides a dense field's own name.
CONCAT = "_concat"
FUSED = "_fused"
PRESET = "_preset"
# Options a layout written before they existed lacks, and the value that describes such an index.
_LEGACY_OPTIONS = {"impute_missing": False, "preset_fused": False}


@dataclass(frozen=True)
class DenseField:
    """One document field that is embedded.

    Args:
        name: the field name (a FieldSpec name); also the name of its per-field vector when one is stored.
        dim: vector dimension.
        encoder: the encoder's name (its `[encoders.<name>]` key), so search embeds with the same one.
        modality: "text" or "image".
    """

    name: str
    dim: int
    encoder: str
    modality: str = "text"

    def __post_init__(self) -> None:
        if not self.name or self.name.startswith("_"):
            raise ConfigError(f"dense field name {self.name!r} must be non-empty and not start with '_' "
                              "(reserved for the store's own fields)")
        if self.dim < 1:
            raise ConfigError(f"dense field {self.name!r}: dim = {self.dim} must be >= 1")


@dataclass(frozen=True)
class AttributeField:
    """A stored attribute that filters can use.

    Args:
        name: the attribute key in `Document.attributes`.
        type: "keyword" (exact strings, term filters), "float", "integer" (term and range filters) or
            "boolean".
    """

    name: str
    type: str = "keyword"

    def __post_init__(self) -> None:
        if self.type not in ATTRIBUTE_TYPES:
            raise ConfigError(f"attribute {self.name!r}: type {self.type!r} is not known; use one of: "
                              f"{', '.join(ATTRIBUTE_TYPES)}")


@dataclass(frozen=True)
class LayoutOptions:
    """How vectors are stored and searched.

    Args:
        concat: store the concatenated inner-product vector (the settled design; needed by `knn(CONCAT)`).
        per_field_vectors: also store one vector per dense field (cosine == inner product on unit vectors);
            only worth it if something searches a single field (measured in benchmarks/bench_layout.py).
        fused_weights: when set, also store `normalize(sum_f a_f d_f)` with these training-time weights `a_f`
            (renormalised over the fields a document has). All dense fields must then share one dimension.
        preset_weights: when set, also store `sum_f a_f d_f` (zeros when the document has none of these
            fields) with these weights `a_f >= 0`; the fields with `a_f > 0` must share one encoder. Requests
            whose weights are `c * a_f` search it instead of the concatenated vector (`IndexLayout.knn_plan`).
        preset_ef_search: HNSW beam of a search on the preset vector (a dim-d graph built for one weighting
            needs far less than the concatenated vector's ef_search for the same recall: bench_search).
        engine: k-NN engine for OpenSearch. "lucene" unless the user explicitly chooses otherwise (faiss and
            nmslib need the plugin's native libraries).
        m: HNSW graph degree.
        ef_construction: HNSW build-time candidate list size.
        ef_search: HNSW query-time beam (OpenSearch uses max(ef_search, candidates)); on OpenSearch this, not
            oversample, decides recall (benchmarks/results/layout.txt).
        oversample: with a lexical component, the search client asks each search for
            `ceil((offset + k) * oversample)` candidates, the set the fusion normalises over (a dense-only
            request asks for `offset + k`).
        rescore_depth: ANN candidates whose dense score is computed exactly when the ANN score is not that
            score (`knn_exact`); the best `offset + k` (or the lexical depth) of them are kept. 200: recall@10
            >= 0.99 of the fused score at 7 weightings on Icecat (benchmarks/results/search.txt).
        impute_missing: an absent field's block of the concatenated vector is the unit mean of the
            document's present fields (see the module docstring); False: zeros (indices written before).
        preset_fused: the preset vector is `normalize(sum_f a_f d_f)` (a_f renormalised over present
            fields); False: `sum_f a_f d_f` (indices written before).
        analyzer: the text fields' analyzer ("standard" or "english", `gcl_search.stores.bm25`); an index-time
            choice, so queries are analysed the same way. Indexes from before it was recorded: "standard".
        catch_all: also index the concatenation of the text fields as one field (the "combined" lexical
            mode). Indexes from before it was recorded: False.
    """

    concat: bool = True
    per_field_vectors: bool = False
    fused_weights: Mapping[str, float] | None = None
    preset_weights: Mapping[str, float] | None = None
    preset_ef_search: int = 200
    engine: str = "lucene"
    m: int = 16
    ef_construction: int = 200
    ef_search: int = 1600
    oversample: float = 3.0
    analyzer: str = "standard"
    catch_all: bool = False
    rescore_depth: int = 200
    impute_missing: bool = True
    preset_fused: bool = True

    def __post_init__(self) -> None:
        from gcl_search.stores.bm25 import check_analyzer

        check_analyzer(self.analyzer)
        if self.engine not in ENGINES:
            raise ConfigError(f"engine {self.engine!r} is not known; use lucene (default), faiss or nmslib")
        if self.m < 2 or self.ef_construction < 1 or self.ef_search < 1:
            raise ConfigError(f"HNSW parameters m={self.m}, ef_construction={self.ef_construction}, "
                              f"ef_search={self.ef_search} must be m >= 2 and ef_* >= 1")
        if not (math.isfinite(self.oversample) and self.oversample >= 1):
            raise ConfigError(f"oversample = {self.oversample} must be a finite number >= 1")
        if self.preset_ef_search < 1:
            raise ConfigError(f"preset_ef_search = {self.preset_ef_search} must be >= 1")
        if not 1 <= self.rescore_depth <= 10_000:
            raise ConfigError(f"rescore_depth = {self.rescore_depth} must be in 1..10000")
        preset = self.preset_weights
        if preset is not None:
            bad = [f"{name}={a}" for name, a in preset.items() if not (math.isfinite(a) and a >= 0)]
            if bad or not any(a > 0 for a in preset.values()):
                raise ConfigError(f"preset_weights {dict(preset)} must be finite, >= 0 and not all 0"
                                  + (f" (bad: {', '.join(bad)})" if bad else ""))


@dataclass(frozen=True)
class IndexLayout:
    """The shape of an index: dense fields (in concatenation order), BM25 text fields, attributes, options.

    Args:
        dense_fields: embedded fields, in the order of the concatenated vector.
        text_fields: fields indexed for BM25 (keys of `Document.texts`).
        attributes: filterable attributes. Other attributes are stored and returned but cannot be filtered on.
        options: storage/search options.
    """

    dense_fields: tuple[DenseField, ...]
    text_fields: tuple[str, ...] = ()
    attributes: tuple[AttributeField, ...] = ()
    options: LayoutOptions = field(default_factory=LayoutOptions)

    def __post_init__(self) -> None:
        names = [f.name for f in self.dense_fields]
        if not names:
            raise ConfigError("an index layout needs at least one dense field")
        for kind, values in (("dense field", names), ("text field", list(self.text_fields)),
                             ("attribute", [a.name for a in self.attributes])):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ConfigError(f"{kind} {dupes[0]!r} is listed twice in the index layout")
        fused = self.options.fused_weights
        if fused is not None:
            unknown = sorted(set(fused) - set(names))
            if unknown:
                raise ConfigError(f"fused_weights names {unknown[0]!r}, which is not a dense field ({names})")
            if len({f.dim for f in self.dense_fields}) > 1:
                raise ConfigError("fused_weights needs every dense field to have the same dimension; "
                                  "drop the fused vector or use one encoder")
        preset = self.options.preset_weights
        if preset is not None:
            unknown = sorted(set(preset) - set(names))
            if unknown:
                raise ConfigError(f"preset_weights names {unknown[0]!r}, which is not a dense field "
                                  f"({names})")
            weighted = [f for f in self.dense_fields if preset.get(f.name, 0) > 0]
            if len({(f.encoder, f.dim) for f in weighted}) > 1:
                raise ConfigError(f"preset_weights weights fields of several encoders or dimensions "
                                  f"({sorted({(f.encoder, f.dim) for f in weighted})}); "
                                  "a preset vector needs one query vector for all its fields: weight only "
                                  "fields of one encoder")

    @property
    def preset_dim(self) -> int:
        """Dimension of the preset vector (the shared dimension of its weighted fields)."""
        preset = self.options.preset_weights or {}
        return next(f.dim for f in self.dense_fields if preset.get(f.name, 0) > 0)

    @property
    def field_names(self) -> tuple[str, ...]:
        """Dense field names in concatenation order."""
        return tuple(f.name for f in self.dense_fields)

    @property
    def concat_dim(self) -> int:
        """Dimension of the concatenated vector: sum of the field dimensions."""
        return sum(f.dim for f in self.dense_fields)

    @property
    def offsets(self) -> dict[str, slice]:
        """Field name -> its slice of the concatenated vector."""
        out, start = {}, 0
        for f in self.dense_fields:
            out[f.name] = slice(start, start + f.dim)
            start += f.dim
        return out

    def attribute(self, name: str) -> AttributeField:
        """The filterable attribute `name` (ConfigError listing the declared ones if it is not declared)."""
        for a in self.attributes:
            if a.name == name:
                return a
        known = ", ".join(a.name for a in self.attributes) or "none"
        raise ConfigError(f"{name!r} is not a filterable attribute of this index (declared: {known}); "
                          "declare it in the index layout and re-create the index")

    def concat_document(self, doc: Document) -> tuple[np.ndarray, tuple[str, ...]]:
        """The document's concatenated vector (float32, (concat_dim,)) and the fields it has, in layout order.

        Raises:
            DimensionMismatch: a vector has the wrong shape (the message names the document and field).
            ConfigError: the document has a vector for a field the layout does not know.
        """
        unknown = sorted(set(doc.vectors) - set(self.field_names))
        if unknown:
            raise ConfigError(f"document {doc.doc_id!r}: vector field {unknown[0]!r} is not in the index "
                              f"layout ({', '.join(self.field_names)})")
        out = np.zeros(self.concat_dim, dtype=np.float32)
        present = []
        for f, sl in zip(self.dense_fields, self.offsets.values()):
            vec = doc.vectors.get(f.name)
            if vec is None:
                continue
            vec = np.asarray(vec, dtype=np.float32)
            if vec.shape != (f.dim,):
                raise DimensionMismatch(f"document {doc.doc_id!r}: field {f.name!r} has a vector of shape "
                                        f"{vec.shape}, the index expects ({f.dim},); re-encode with the "
                                        f"encoder {f.encoder!r}")
            out[sl] = vec
            present.append(f.name)
        if self.options.impute_missing and 0 < len(present) < len(self.dense_fields):
            self._impute(out, present)
        return out, tuple(present)

    def _impute(self, out: np.ndarray, present: Sequence[str]) -> None:
        """Fill each absent field's block with the unit mean of the present fields of its dimension."""
        offsets = self.offsets
        for f in self.dense_fields:
            if f.name in present:
                continue
            same = [out[offsets[g.name]] for g in self.dense_fields if g.name in present and g.dim == f.dim]
            mean = np.sum(same, axis=0, dtype=np.float64) if same else None
            norm = 0.0 if mean is None else float(np.linalg.norm(mean))
            if norm > 0:
                out[offsets[f.name]] = (mean / norm).astype(np.float32)

    def query_vector(self, query_vectors: Mapping[str, np.ndarray],
                     weights: Mapping[str, float]) -> np.ndarray:
        """`Q = [w_1 q_1; ...; w_F q_F]`: the concatenated query for `knn(CONCAT)`.

        Args:
            query_vectors: dense field name -> the query embedded by that field's encoder, (dim,).
            weights: dense field name -> weight; a field left out (or weight 0) contributes nothing.

        Returns:
            float32 (concat_dim,). `Q . D` equals `sum_f w_f q_f . d_f` over the fields the document has (with
            `impute_missing`, absent fields add `w_f q_f . m` for the document's unit mean m).
        """
        out = np.zeros(self.concat_dim, dtype=np.float32)
        for f, sl in zip(self.dense_fields, self.offsets.values()):
            w = float(weights.get(f.name, 0.0))
            if w == 0.0:
                continue
            if f.name not in query_vectors:
                raise ConfigError(f"weight {w} for field {f.name!r} but no query vector for it; embed the "
                                  f"query with the encoder {f.encoder!r}")
            vec = np.asarray(query_vectors[f.name], dtype=np.float32)
            if vec.shape != (f.dim,):
                raise DimensionMismatch(f"query vector for {f.name!r} has shape {vec.shape}, the index "
                                        f"expects ({f.dim},)")
            out[sl] = w * vec
        return out

    def fused_vector(self, doc_vectors: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """`normalize(sum_f a_f d_f)` over the fields present (None: no fused vector or no weighted field)."""
        weights = self.options.fused_weights
        if weights is None:
            return None
        total = _weighted_sum(weights, doc_vectors, self.dense_fields[0].dim)
        norm = float(np.linalg.norm(total))
        return total / norm if norm > 0 else None

    def preset_vector(self, doc_vectors: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """`normalize(sum_f a_f d_f)` over the fields present (`preset_fused`; `sum_f a_f d_f` otherwise);
        zeros when no weighted field is present; None: the layout has no preset."""
        weights = self.options.preset_weights
        if weights is None:
            return None
        total = _weighted_sum(weights, doc_vectors, self.preset_dim)
        norm = float(np.linalg.norm(total)) if self.options.preset_fused else 0.0
        return total / np.float32(norm) if norm > 0 else total

    def knn_plan(self, query_vectors: Mapping[str, np.ndarray], weights: Mapping[str, float],
                 dense_score: str = "fused") -> tuple[str, np.ndarray]:
        """The knn target and query vector for a request: (PRESET, q, or c * q for a legacy preset) when the
        weights are the preset's
        (weights == c * preset_weights with c > 0) and every preset field's query vector is one and the same
        q; else (CONCAT, `query_vector(query_vectors, weights)`). `knn_exact` says whether the knn score is
        then the dense score itself (`dense_score` only matters there).
        """
        preset = self.options.preset_weights
        if preset is not None:  # a third of the dimensions; a pool when not the score (knn_exact)
            q = self._preset_query(preset, query_vectors, weights)
            if q is not None:
                return PRESET, q
        return CONCAT, self.query_vector(query_vectors, weights)

    def knn_exact(self, target: str, dense_score: str) -> bool:
        """Whether the knn score on `target` (as `knn_plan` builds its query) ranks exactly by the dense
        score `dense_score`; if not, the search rescores a pool of `rescore_depth` candidates."""
        if target == PRESET:
            return self.options.preset_fused == (dense_score == "fused")
        return target == CONCAT and dense_score == "sum" and not self.options.impute_missing

    def _preset_query(self, preset: Mapping[str, float], query_vectors: Mapping[str, np.ndarray],
                      weights: Mapping[str, float]) -> np.ndarray | None:
        a = [float(preset.get(name, 0.0)) for name in self.field_names]
        w = [float(weights.get(name, 0.0)) for name in self.field_names]
        c = sum(w) / sum(a)
        if not c > 0 or any(abs(w_f - c * a_f) > 1e-9 * max(w_f, c * a_f) for w_f, a_f in zip(w, a)):
            return None
        vectors = [query_vectors.get(name) for name, a_f in zip(self.field_names, a) if a_f > 0]
        first = vectors[0]
        if first is None or any(v is None or not np.array_equal(v, first) for v in vectors[1:]):
            return None
        q = np.asarray(first, dtype=np.float32)
        if q.shape != (self.preset_dim,):
            raise DimensionMismatch(f"query vector has shape {q.shape}, the preset vector expects "
                                    f"({self.preset_dim},)")
        if self.options.preset_fused:  # the fused score does not scale with the weights
            return q.copy()
        return (np.float32(c) * q).astype(np.float32)

    def to_meta(self) -> dict:
        """A JSON-able dict for `_meta.gcl_search` / meta.json (inverse: `from_meta`)."""
        options = asdict(self.options)
        for key in ("fused_weights", "preset_weights"):
            if options[key] is not None:
                options[key] = dict(options[key])
        return {"layout_version": LAYOUT_VERSION,
                "dense_fields": [asdict(f) for f in self.dense_fields],
                "text_fields": list(self.text_fields),
                "attributes": [asdict(a) for a in self.attributes],
                "options": options}

    @classmethod
    def from_meta(cls, meta: Mapping[str, object], where: str = "index") -> IndexLayout:
        """Rebuild a layout written by `to_meta`.

        Raises:
            ConfigError: the meta is missing, from a newer layout version, or malformed (names `where`).
        """
        version = meta.get("layout_version") if isinstance(meta, Mapping) else None
        if version != LAYOUT_VERSION:
            raise ConfigError(f"{where}: layout version {version!r} is not {LAYOUT_VERSION}; the index was "
                              "not created by this gcl-search version (re-create it)")
        try:
            options = {**_LEGACY_OPTIONS, **meta["options"]}
            return cls(dense_fields=tuple(DenseField(**f) for f in meta["dense_fields"]),
                       text_fields=tuple(meta["text_fields"]),
                       attributes=tuple(AttributeField(**a) for a in meta["attributes"]),
                       options=LayoutOptions(**options))
        except (KeyError, TypeError) as err:
            raise ConfigError(f"{where}: malformed gcl_search layout metadata ({err!r}); "
                              "re-create the index") from err

    def check_compatible(self, other: IndexLayout, where: str = "index") -> None:
        """Refuse to write or search `where` (laid out as `self`) with a config that gives `other`.

        The dense fields must match in name, order, dimension and encoder; the text fields and filterable
        attributes must match too. Options (HNSW parameters, oversampling) may differ.

        Raises:
            DimensionMismatch: a field's dimension differs.
            ConfigError: fields, their order, encoders, text fields or attributes differ.
        """
        mine, theirs = self.dense_fields, other.dense_fields
        if [f.name for f in mine] != [f.name for f in theirs]:
            raise ConfigError(f"{where} was built with dense fields {list(self.field_names)} but the config "
                              f"has {list(other.field_names)}; use a matching config or re-index into a new "
                              "index")
        for a, b in zip(mine, theirs):
            if a.dim != b.dim:
                raise DimensionMismatch(f"{where}: field {a.name!r} has dimension {a.dim} in the index but "
                                        f"{b.dim} in the config (encoder {b.encoder!r}); re-index into a new "
                                        "index or use the original encoder")
            if a.encoder != b.encoder or a.modality != b.modality:
                raise ConfigError(f"{where}: field {a.name!r} was encoded with {a.encoder!r} ({a.modality}) "
                                  f"but the config uses {b.encoder!r} ({b.modality}); re-index or fix the "
                                  "config")
        same_attrs = set(self.attributes) == set(other.attributes)
        if tuple(self.text_fields) != tuple(other.text_fields) or not same_attrs:
            raise ConfigError(f"{where}: text fields / attributes {list(self.text_fields)} / "
                              f"{[a.name for a in self.attributes]} differ from the config's "
                              f"{list(other.text_fields)} / {[a.name for a in other.attributes]}; re-index "
                              "into a new index or fix the config")


def _weighted_sum(weights: Mapping[str, float], doc_vectors: Mapping[str, np.ndarray],
                  dim: int) -> np.ndarray:
    """float32 `sum_f a_f d_f` over the fields present with `a_f > 0` (zeros when there is none)."""
    total = np.zeros(dim, dtype=np.float32)
    for name, a in weights.items():
        if name in doc_vectors and a > 0:
            total += float(a) * np.asarray(doc_vectors[name], dtype=np.float32)
    return total


def layout_from_config(config: Config, dims: Mapping[str, int], text_fields: Sequence[str] | None = None,
                       attributes: Sequence[AttributeField] = (), options: LayoutOptions | None = None
                       ) -> IndexLayout:
    """Build the IndexLayout for a Config's document fields.

    Args:
        config: the loaded config; its `fields` give the dense fields in order.
        dims: encoder name -> output dimension (from the loaded encoders, `Encoder.dim`).
        text_fields: BM25 fields; default: `[index] text_fields`, else every text-modality field.
        attributes: filterable attributes.
        options: layout options (default: LayoutOptions(), with `preset_weights` = the fields' weights when
            the config's `[index] preset_vector` is set).

    Raises:
        ConfigError: an encoder's dimension is not given.
    """
    dense = []
    for spec in config.fields:
        if spec.encoder not in dims:
            raise ConfigError(f"no dimension known for encoder {spec.encoder!r} (field {spec.name!r}); "
                              "load the encoder first")
        dense.append(DenseField(spec.name, int(dims[spec.encoder]), spec.encoder, spec.modality))
    if text_fields is None:
        text_fields = config.text_field_names()
    if options is None:
        preset = {spec.name: spec.weight for spec in config.fields if spec.weight > 0}
        options = LayoutOptions(preset_weights=preset if config.index.preset_vector else None,
                                analyzer=config.index.analyzer, catch_all=config.index.catch_all)
    return IndexLayout(tuple(dense), tuple(text_fields), tuple(attributes), options)
