"""The environment contract: mode selection, defaults, and errors that name the variable."""

from __future__ import annotations

import pytest

from finance_pipeline.config import Mode, load_settings
from finance_pipeline.errors import ConfigError


def test_no_credentials_means_sandbox_with_its_own_warehouse() -> None:
    settings = load_settings({})
    assert settings.mode is Mode.sandbox
    assert settings.warehouse_path == "data/sandbox.duckdb"


def test_any_credentials_mean_live_and_unconfigured_sources_are_skipped() -> None:
    settings = load_settings({"ADESK_API_TOKEN": "tok-abcdef"})
    assert settings.mode is Mode.live
    assert settings.warehouse_path == "data/warehouse.duckdb"
    assert settings.configured("adesk") and not settings.configured("bitrix24")
    adesk = settings.source("adesk")
    assert adesk is not None and adesk.values["ADESK_BASE_URL"] == "https://api.adesk.ru"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"BITRIX24_WEBHOOK_URL": "https://portal.bitrix24.ru/rest/abc/"}, "BITRIX24_WEBHOOK_URL"),
        ({"BITRIX24_WEBHOOK_URL": "not a url"}, "BITRIX24_WEBHOOK_URL"),
        ({"ADESK_API_TOKEN": "t0ken-1", "ADESK_BASE_URL": "api.adesk.ru"}, "ADESK_BASE_URL"),
        ({"APIPAY_API_KEY": ""}, "APIPAY_API_KEY"),
        ({"SALESMAN_BASE_URL": "https://crm.example.ru"}, "SALESMAN_LOGIN"),
        ({"FINANCE_PIPELINE_MODE": "production"}, "FINANCE_PIPELINE_MODE"),
        ({"ADESK_API_TOKEN": "t0ken-1", "ADESK_RATE_LIMIT": "fast"}, "ADESK_RATE_LIMIT"),
        # Rules that used to be checked only at run start, now at load time too.
        ({"ADESK_API_TOKEN": "t0ken-1", "ADESK_BASE_URL": "https://api.adesk.ru/v1"}, "ADESK_BASE_URL"),
        (
            {
                "SALESMAN_BASE_URL": "https://crm.example.ru/developer/v3/",
                "SALESMAN_LOGIN": "buh@example.ru",
                "SALESMAN_API_KEY": "key-0123456789",
            },
            "SALESMAN_BASE_URL",
        ),
    ],
)
def test_bad_values_are_rejected_naming_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert variable in str(info.value)


def test_webhook_url_is_normalised_and_its_key_never_printed() -> None:
    settings = load_settings({"BITRIX24_WEBHOOK_URL": "http://127.0.0.1:9/rest/7/Key0123456"})
    bitrix24 = settings.source("bitrix24")
    assert bitrix24 is not None
    assert bitrix24.values["BITRIX24_WEBHOOK_URL"] == "http://127.0.0.1:9/rest/7/Key0123456/"
    with pytest.raises(ConfigError) as info:
        load_settings({"BITRIX24_WEBHOOK_URL": "ftp://portal/rest/7/Key0123456/"})
    assert "Key0123456" not in str(info.value)


def test_rate_limit_overrides() -> None:
    settings = load_settings(
        {"ADESK_API_TOKEN": "tok-abcdef", "ADESK_RATE_LIMIT": "1.5", "ADESK_RATE_BURST": "3"}
    )
    adesk = settings.source("adesk")
    assert adesk is not None
    assert adesk.rate_limit.rate == 1.5 and adesk.rate_limit.burst == 3


def test_every_variable_is_declared_once_and_validated_by_the_same_function_at_run_start() -> None:
    from finance_pipeline.sources.registry import SOURCES

    names = [v.name for source in SOURCES for v in source.variables]
    assert len(names) == len(set(names))
    adesk = next(s for s in SOURCES if s.name == "adesk")
    resource = adesk.resource_class(api_token="t0ken-1", api_base_url="https://api.adesk.ru/v2")
    with pytest.raises(ConfigError) as info:
        resource.accepted_values()
    assert "ADESK_BASE_URL" in str(info.value)


@pytest.mark.parametrize(
    ("source", "fields"),
    [
        (
            "salesman",
            {
                "crm_base_url": "https://crm.example.ru",
                "login": "runstart.login@example.ru",
                "api_key": "runStartSalesmanKey7",
            },
        ),
        ("adesk", {"api_token": "runStartAdeskToken7"}),
        ("apipay", {"api_key": "runStartApipayKey7"}),
    ],
)
def test_secrets_a_resource_accepts_at_run_start_are_masked(
    source: str, fields: dict[str, str]
) -> None:
    """In live mode a secret reaches the run as a resolved EnvVar the definitions never loaded:
    accepting it (the one place values are validated) registers it for masking."""
    from finance_pipeline.http.masking import mask
    from finance_pipeline.sources.registry import BY_NAME

    declaration = BY_NAME[source]
    declaration.resource_class(**fields).accepted_values()
    for variable in declaration.credential_variables:
        secret = fields[variable.field]
        assert secret not in mask(f"the API said {secret} was wrong")
