"""One frozen Settings object per process, read once from a YAML file and RERANK_* variables, validated."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from sidecar.profile import (  # noqa: F401 - the settings' vocabulary, importable from here
    DEFAULT_RERANKER,
    FUSION_COMBINATIONS,
    FUSIONS,
    RETRIEVAL_MODES,
    SCORE_MODES,
    Profile,
)
from sidecar.setting_values import ConfigError, coerce, field_type, one_of, typed_dataclass  # noqa: F401

log = logging.getLogger(__name__)

FUSION_KEYS = ("fusion", "fusion_combination", "fusion_weights", "fusion_rank_constant")


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 10_000_000
    max_window: int = 1000
    max_msearch_items: int = 100
    max_passages_per_request: int = 2000
    max_nesting_depth: int = 64
    max_query_chars: int = 10_000
    max_in_flight: int = 64          # per gunicorn worker, queued + running; past it 429 (0: no limit)

    def validate(self) -> Limits:
        for f in fields(self):
            value, least = getattr(self, f.name), 0 if f.name == "max_in_flight" else 1
            if value < least:
                raise ConfigError(f"limits.{f.name} must be >= {least}, got {value}")
        return self


@dataclass(frozen=True)
class AuthSettings:
    """Optional authentication of callers by the sidecar itself (off when nothing is configured).

    API keys come in `api_key_header`; users with HTTP basic auth. The sidecar's own credentials are
    removed before a request goes upstream; exempt paths (probes) need none.
    """

    api_keys: tuple[str, ...] = ()
    users: tuple[tuple[str, str], ...] = ()  # (name, password)
    api_key_header: str = "X-Api-Key"
    exempt_paths: tuple[str, ...] = ("/-/healthy", "/-/ready")
    realm: str = "rerank-sidecar"

    @property
    def enabled(self) -> bool:
        return bool(self.api_keys or self.users)

    def __repr__(self) -> str:  # secrets masked
        return (f"AuthSettings(api_keys=<{len(self.api_keys)}>, users={[name for name, _ in self.users]!r}, "
                f"api_key_header={self.api_key_header!r}, exempt_paths={self.exempt_paths!r})")


@dataclass(frozen=True)
class ModelSpec:
    """How one cross-encoder is loaded and run; profiles name it by `name` in `reranker`."""

    name: str
    backend: str | None = None          # a registered backend (rerank_backends()); None: rerank_backend
    path: str | None = None             # where to load it from (default: the name itself)
    device: str | None = None           # cpu | cuda | cuda:N (default: cuda when there is a GPU)
    max_length: int | None = None       # tokens per pair (default: the tokenizer's)
    options: Mapping[str, Any] = field(default_factory=dict)  # the backend's own, validated by it

    def validate(self, where: str, default_backend: str = "auto") -> ModelSpec:
        """The backend exists and takes these options; the options come back with its defaults filled in."""
        from sidecar.rerank.registry import OptionError, get_backend

        if self.backend is not None:
            one_of(self.backend, rerank_backends(), f"{where}.backend")
        try:
            options = get_backend(self.backend or default_backend).validate(self.options, where)
        except OptionError as exc:
            raise ConfigError(str(exc)) from None
        return replace(self, options=options)

    def __repr__(self) -> str:  # secrets masked
        from sidecar.rerank.registry import backends

        backend = backends().get(self.backend or "")
        options = backend.masked(self.options) if backend else {k: "..." for k in self.options}
        return (f"ModelSpec(name={self.name!r}, backend={self.backend!r}, path={self.path!r}, "
                f"device={self.device!r}, max_length={self.max_length!r}, options={options!r})")


def rerank_backends() -> tuple[str, ...]:
    """The backend names `rerank_backend` and `models.<name>.backend` accept: every registered one."""
    from sidecar.rerank.registry import backend_names

    return backend_names()


@dataclass(frozen=True)
class Settings:
    opensearch_url: str | None = None        # None: start localsearch (the embedded default)
    data_dir: str = "./data/localsearch"
    defaults: Profile = field(default_factory=Profile)
    profiles: tuple[Profile, ...] = ()        # explicit per-index profiles, first match wins
    zero_config: bool = True                  # rerank any index whose _meta carries the ingest contract
    limits: Limits = field(default_factory=Limits)
    upstream_timeout_s: float = 30.0
    upstream_connect_timeout_s: float = 3.0
    verify_certs: bool = True
    ca_certs: str | None = None
    setup_username: str | None = None         # only for creating search pipelines; never for callers' searches
    setup_password: str | None = None
    window_cache_ttl_s: float = 60.0
    window_cache_entries: int = 2000
    score_cache_entries: int = 200_000
    embedding_cache_entries: int = 10_000     # (bi-encoder, query text) -> vector
    # where the window, score and embedding caches live besides the process: memory (each worker its own) or
    # redis (Redis or Valkey, shared by every worker and replica: sidecar/shared_cache/)
    cache_backend: str = "memory"
    cache_url: str | None = None              # redis://[:password@]host:6379/0 (rediss:// for TLS)
    cache_timeout_ms: float = 50.0            # per Redis call: past it the shared cache counts as unavailable
    cache_retry_s: float = 5.0                # an unavailable Redis is tried again after this long, not per call
    cache_key_prefix: str = "rerank-sidecar"  # several deployments can share one Redis under different prefixes
    score_cache_ttl_s: float = 86_400.0       # shared score and embedding entries (windows: window_cache_ttl_s)
    embedding_cache_ttl_s: float = 86_400.0
    mapping_cache_ttl_s: float = 30.0
    inference_threads: int | None = None     # intra-op threads per worker (serve: cores / workers)
    rerank_backend: str = "auto"              # for models without their own entry in `models`
    models: tuple[ModelSpec, ...] = ()        # per-model backend and loading options
    batch_wait_ms: float = 2.0                # cross-request batching: how long a model call waits for company
    onnx_cache_dir: str | None = None         # exported ONNX files (default ~/.cache/rerank-sidecar/onnx)
    rerank_endpoint: bool = True              # serve the TEI-compatible POST /rerank
    rerank_endpoint_model: str | None = None  # the model /rerank uses (default: defaults.reranker)
    log_json: bool = False
    msearch_concurrency: int = 4
    auth: AuthSettings = field(default_factory=AuthSettings)

    def __repr__(self) -> str:  # secrets masked
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["setup_password"]:
            shown["setup_password"] = "***"
        if shown["cache_url"]:
            shown["cache_url"] = masked_url(shown["cache_url"])
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    def model_spec(self, name: str) -> ModelSpec:
        """The configured entry for a cross-encoder, or the defaults (backend: rerank_backend)."""
        spec = next((m for m in self.models if m.name == name), None) or ModelSpec(name)
        return spec if spec.backend else replace(spec, backend=self.rerank_backend)

    def explicit_profile(self, index: str) -> Profile | None:
        return next((p for p in self.profiles if p.matches(index)), None)

    # ---- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None, env: Mapping[str, str] | None = None,
             **overrides: Any) -> Settings:
        """File (RERANK_CONFIG or `path`), then environment, then explicit overrides (the CLI's)."""
        env = os.environ if env is None else env
        path = path or env.get("RERANK_CONFIG")
        data: dict[str, Any] = {}
        if path:
            try:
                data = yaml.safe_load(Path(path).read_text()) or {}
            except OSError as exc:
                raise ConfigError(f"config file [{path}] cannot be read: {exc.strerror}") from exc
            except yaml.YAMLError as exc:
                raise ConfigError(f"config file [{path}] is not valid YAML: {exc}") from exc
            if not isinstance(data, dict):
                raise ConfigError(f"config file [{path}] must hold a mapping at the top level")
        for key, value in _from_env(env).items():
            section = data.get(key)
            data[key] = {**section, **value} if isinstance(value, dict) and isinstance(section, dict) else value
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settings:
        data = dict(data)
        known = {f.name for f in fields(cls)}
        defaults = _profile(data.pop("defaults", {}) or {}, Profile(), "defaults")
        for key in ("reranker", "window", "score_mode", "retrieval", "budget_ms"):
            if key in data:  # top-level shortcuts for the common defaults
                defaults = _profile({key: data.pop(key)}, defaults, key)
        fusion = {key: data.pop(key) for key in FUSION_KEYS if key in data}
        if fusion:       # together: a combination may only be valid with the normalization given beside it
            defaults = _profile(fusion, defaults, "defaults")
        profiles = tuple(_profile(p, replace(defaults, pattern=_need(p, "index", f"profiles[{i}]")),
                                  f"profiles[{i}]", keep_pattern=True)
                         for i, p in enumerate(data.pop("profiles", []) or []))
        limits = typed_dataclass(Limits, data.pop("limits", {}) or {}, "limits").validate()
        default_backend = str(data.get("rerank_backend") or "auto")
        one_of(default_backend, rerank_backends(), "rerank_backend")
        models = _models(data.pop("models", {}) or {}, default_backend)
        auth = _auth(data.pop("auth", {}) or {})
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown setting [{unknown[0]}]; known settings: {sorted(known)}")
        typed = {k: coerce(k, v, field_type(cls, k)) for k, v in data.items()}
        settings = cls(defaults=defaults.validate("defaults"), profiles=profiles, limits=limits, models=models,
                       auth=auth, **typed)
        if settings.opensearch_url is not None:
            check_url(settings.opensearch_url, "opensearch_url (--opensearch, OPENSEARCH_URL)")
        if settings.upstream_timeout_s <= 0:
            raise ConfigError("upstream_timeout_s must be positive")
        if settings.batch_wait_ms < 0:
            raise ConfigError(f"batch_wait_ms must be >= 0, got {settings.batch_wait_ms}")
        if settings.embedding_cache_entries < 0 or settings.score_cache_entries < 0:
            raise ConfigError("embedding_cache_entries and score_cache_entries must be >= 0")
        _check_cache(settings)
        if settings.inference_threads is not None and settings.inference_threads < 1:
            raise ConfigError(f"inference_threads must be >= 1, got {settings.inference_threads}")
        return settings


def check_url(url: str, key: str) -> None:
    """An http(s) URL with a host (and a valid port), else a ConfigError that says how to write it."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    head, at, tail = url.rpartition("@")
    shown = (head.split("://", 1)[0] + "://" if "://" in head else "") + "***@" + tail if at else url   # no secrets
    if "://" not in url:
        raise ConfigError(f"{key} [{shown}] has no scheme: write http://{shown} (or https://{shown})")
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{key} [{shown}] must start with http:// or https://")
    try:
        parts.port   # noqa: B018 - parsing it is the check
    except ValueError:
        raise ConfigError(f"{key} [{shown}] has an invalid port") from None
    if not parts.hostname:
        raise ConfigError(f"{key} [{shown}] names no host")


CACHE_BACKENDS = ("memory", "redis")


def _check_cache(settings: Settings) -> None:
    one_of(settings.cache_backend, CACHE_BACKENDS, "cache_backend")
    if settings.cache_backend == "redis":
        if not settings.cache_url:
            raise ConfigError("cache_backend redis needs cache_url (RERANK_CACHE_URL), e.g. redis://redis:6379/0")
        scheme, sep, _ = settings.cache_url.partition("://")
        if not sep or scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(f"cache_url [{masked_url(settings.cache_url)}] must start with redis://, rediss:// "
                              "or unix://")
    for key in ("cache_timeout_ms", "cache_retry_s", "score_cache_ttl_s", "embedding_cache_ttl_s"):
        if getattr(settings, key) <= 0:
            raise ConfigError(f"{key} must be positive, got {getattr(settings, key)}")


def masked_url(url: str) -> str:
    """The URL with its password (if any) replaced, for logs, errors and repr."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}"


ENV_KEYS = {
    "OPENSEARCH_URL": "opensearch_url", "RERANK_OPENSEARCH_URL": "opensearch_url", "RERANK_DATA_DIR": "data_dir",
    "RERANK_RERANKER": "reranker", "RERANK_WINDOW": "window", "RERANK_SCORE_MODE": "score_mode",
    "RERANK_RETRIEVAL": "retrieval", "RERANK_BUDGET_MS": "budget_ms", "RERANK_FUSION": "fusion",
    "RERANK_FUSION_COMBINATION": "fusion_combination", "RERANK_FUSION_WEIGHTS": "fusion_weights",
    "RERANK_FUSION_RANK_CONSTANT": "fusion_rank_constant",
    "RERANK_UPSTREAM_TIMEOUT_S": "upstream_timeout_s", "RERANK_VERIFY_CERTS": "verify_certs",
    "RERANK_CA_CERTS": "ca_certs", "RERANK_INFERENCE_THREADS": "inference_threads",
    "RERANK_TORCH_THREADS": "inference_threads", "RERANK_LOG_JSON": "log_json",
    "RERANK_BATCH_WAIT_MS": "batch_wait_ms", "RERANK_ONNX_CACHE_DIR": "onnx_cache_dir",
    "RERANK_BACKEND": "rerank_backend", "RERANK_SETUP_USERNAME": "setup_username",
    "RERANK_SETUP_PASSWORD": "setup_password", "RERANK_AUTH_API_KEYS": "auth.api_keys",
    "RERANK_MAX_IN_FLIGHT": "limits.max_in_flight", "RERANK_CACHE_BACKEND": "cache_backend",
    "RERANK_CACHE_URL": "cache_url", "RERANK_CACHE_TIMEOUT_MS": "cache_timeout_ms",
    "RERANK_CACHE_KEY_PREFIX": "cache_key_prefix",
}


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, key in ENV_KEYS.items():
        if env.get(name):
            section, _, sub = key.partition(".")
            if sub:   # a key inside a section (auth.api_keys): merged into the file's section
                found.setdefault(section, {})[sub] = env[name]
            else:
                found[key] = env[name]
    return found


MIN_API_KEY_CHARS = 16


def _auth(data: Any) -> AuthSettings:
    """`auth: {api_keys: [...], users: {name: password}, api_key_header, exempt_paths}` from the file."""
    if not isinstance(data, Mapping):
        raise ConfigError("auth must be a mapping")
    data = dict(data)
    users = data.pop("users", None) or {}
    if not isinstance(users, Mapping):
        raise ConfigError("auth.users must be a mapping of user name to password")
    pairs = []
    for name, password in users.items():
        if not isinstance(password, str) or not password:
            raise ConfigError(f"auth.users.{name} must be a non-empty string (the password)")
        if not str(name) or ":" in str(name):
            raise ConfigError(f"auth.users: the user name [{name}] must be non-empty and hold no ':'")
        pairs.append((str(name), password))
    auth = typed_dataclass(AuthSettings, data, "auth")
    for i, key in enumerate(auth.api_keys):
        if len(key) < MIN_API_KEY_CHARS:
            raise ConfigError(f"auth.api_keys[{i}] is {len(key)} characters; an API key needs at least "
                              f"{MIN_API_KEY_CHARS}")
    if not auth.api_key_header.strip() or auth.api_key_header.lower() in ("authorization", "cookie"):
        raise ConfigError(f"auth.api_key_header cannot be [{auth.api_key_header}]")
    if any(not path.startswith("/") for path in auth.exempt_paths):
        raise ConfigError(f"auth.exempt_paths must be paths starting with '/', got {list(auth.exempt_paths)}")
    return replace(auth, users=tuple(pairs))


MODEL_KEYS = frozenset(f.name for f in fields(ModelSpec)) - {"name", "options"}


def _models(data: Any, default_backend: str) -> tuple[ModelSpec, ...]:
    """`models: {name: {backend: ..., path, device, max_length, <the backend's options>}}` from the file.

    The backend's options may also sit under `options:`; both are validated by the backend.
    """
    if not isinstance(data, Mapping):
        raise ConfigError("models must be a mapping of model name to its settings")
    specs = []
    for name, entry in data.items():
        where = f"models.{name}"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be a mapping")
        if "name" in entry:
            raise ConfigError(f"{where}.name: the key of the entry is the name")
        nested = {} if entry.get("options") is None else entry["options"]
        if not isinstance(nested, Mapping):
            raise ConfigError(f"{where}.options must be a mapping")
        common = {k: v for k, v in entry.items() if k in MODEL_KEYS}
        options = {**{k: v for k, v in entry.items() if k not in MODEL_KEYS and k != "options"}, **nested}
        spec = typed_dataclass(ModelSpec, common, where, ModelSpec(str(name)))
        specs.append(replace(spec, options=options).validate(where, default_backend))
    return tuple(specs)


def _profile(data: Any, base: Profile, where: str, keep_pattern: bool = False) -> Profile:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping")
    data = dict(data)
    if keep_pattern:
        data.pop("index", None)
    if str(data.get("window", "")).strip().lower() == "auto":
        data["window"] = None    # sized to the budget at warm-up, even where `defaults` sets a window
    if "fusion" in data and "fusion_combination" not in data:
        data["fusion_combination"] = base.kept_combination(str(data["fusion"]))
    profile = typed_dataclass(Profile, data, where, base)
    return profile.validate(where)


def _need(data: Any, key: str, where: str) -> Any:
    if not isinstance(data, Mapping) or key not in data:
        raise ConfigError(f"{where}.{key} is required (an index name or pattern)")
    return data[key]


