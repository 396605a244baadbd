"""Secrets never survive masking: registered values and recognisable shapes alike."""

from __future__ import annotations

import logging

from finance_pipeline.http.errors import AuthenticationError
from finance_pipeline.http.masking import MaskingFilter, mask, register_secret


def test_webhook_key_is_masked_even_when_never_registered() -> None:
    text = "POST https://portal.bitrix24.ru/rest/12/k3yVa1ue9/crm.item.list failed"
    assert "k3yVa1ue9" not in mask(text)
    assert "/rest/12/***/crm.item.list" in mask(text)


def test_query_and_header_credentials_are_masked() -> None:
    masked = mask("GET /v1/transactions?api_token=tok123456&start=0 {'X-API-Key': 'abcd-efgh'}")
    assert "tok123456" not in masked and "abcd-efgh" not in masked
    assert "start=0" in masked


def test_registered_secret_masked_everywhere_including_url_encoded() -> None:
    register_secret("s3cr3t/with+chars")
    text = "x s3cr3t/with+chars y s3cr3t%2Fwith%2Bchars z"
    assert "s3cr3t" not in mask(text)


def test_errors_and_log_records_are_masked(caplog) -> None:
    register_secret("apikey-visible-0001")
    error = AuthenticationError("salesman", "/developer/v3/invoice/list?apikey-visible-0001", "no")
    assert "apikey-visible-0001" not in str(error)
    logger = logging.getLogger("finance_pipeline.test_masking")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="finance_pipeline.test_masking"):
        logger.info("calling with %s", "apikey-visible-0001")
    assert "apikey-visible-0001" not in caplog.text
    assert "***" in caplog.text


def test_a_webhook_url_secret_keeps_its_host_readable() -> None:
    """Which portal failed is what a reader needs; only the key inside the URL is the secret."""
    register_secret("https://portal.bitrix24.ru/rest/1/w3bh00kKey77/")
    masked = mask("POST https://portal.bitrix24.ru/rest/1/w3bh00kKey77/batch: 401")
    assert masked == "POST https://portal.bitrix24.ru/rest/1/***/batch: 401"
    # The key alone (a request line without the host, a repr) is masked too.
    assert mask("key=w3bh00kKey77 path /rest/1/w3bh00kKey77/x") == "key=*** path /rest/1/***/x"


def test_a_url_secret_of_unknown_shape_keeps_only_scheme_and_host() -> None:
    secret = "https://hook-user:pa55w0rd9@hooks.example.com/in/t0k3nValue42?sig=s1gnature9"
    register_secret(secret)
    masked = mask(f"calling {secret} failed")
    assert masked == "calling https://***@hooks.example.com/***?*** failed"
    for part in ("pa55w0rd9", "t0k3nValue42", "s1gnature9"):
        assert part not in mask(f"{part} alone")
