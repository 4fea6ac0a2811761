"""Webhook secrets from settings, and the signature check on the raw body."""

import json

import pytest
from pydantic import ValidationError

from ingest.config import Settings
from ingest.domain.webhooks import WebhookSecrets, signature, signature_matches

SHOPIFY_SECRET = "sample-shopify-client-secret-A"


class TestSignatures:
    def test_the_samples_signature_matches_its_raw_body(self, shopify_1021, woocommerce_1052, webhook_secrets):
        assert signature_matches(shopify_1021.raw, shopify_1021.headers["X-Shopify-Hmac-Sha256"],
                                 webhook_secrets.of("shopify", "fernbrook"))
        assert signature_matches(woocommerce_1052.raw, woocommerce_1052.headers["X-WC-Webhook-Signature"],
                                 webhook_secrets.of("woocommerce", "shop"))

    def test_a_changed_body_does_not_match(self, shopify_1021, webhook_secrets):
        forged = shopify_1021.raw.replace(b'"27.99"', b'"0.01"')
        assert not signature_matches(forged, shopify_1021.headers["X-Shopify-Hmac-Sha256"],
                                     webhook_secrets.of("shopify", "fernbrook"))

    def test_a_re_serialised_body_does_not_match(self, woocommerce_1052, webhook_secrets):
        reserialised = json.dumps(json.loads(woocommerce_1052.raw), ensure_ascii=False).encode()
        assert not signature_matches(reserialised, woocommerce_1052.headers["X-WC-Webhook-Signature"],
                                     webhook_secrets.of("woocommerce", "shop"))

    @pytest.mark.parametrize("given", [None, "", "not base64!", "c2hvcnQ="])
    def test_a_missing_or_malformed_signature_does_not_match(self, shopify_1021, given):
        assert not signature_matches(shopify_1021.raw, given, (SHOPIFY_SECRET,))

    def test_another_accounts_secret_does_not_match(self, shopify_1021, webhook_secrets):
        assert not signature_matches(shopify_1021.raw, shopify_1021.headers["X-Shopify-Hmac-Sha256"],
                                     webhook_secrets.of("shopify", "other"))

    def test_an_account_without_secrets_matches_nothing(self, shopify_1021):
        assert not signature_matches(shopify_1021.raw, signature(shopify_1021.raw, ""), ())

    def test_either_of_two_secrets_matches_during_rotation(self, shopify_1021):
        secrets = WebhookSecrets.parse(f"shopify:fernbrook:new-secret,shopify:fernbrook:{SHOPIFY_SECRET}")
        assert signature_matches(shopify_1021.raw, shopify_1021.headers["X-Shopify-Hmac-Sha256"],
                                 secrets.of("shopify", "fernbrook"))
        assert signature_matches(b"{}", signature(b"{}", "new-secret"), secrets.of("shopify", "fernbrook"))


class TestSecretsFromSettings:
    def test_the_comma_form_allows_colons_in_the_secret(self):
        secrets = WebhookSecrets.parse("shopify:fernbrook:a:b:c, woocommerce:shop:s2")
        assert secrets.of("shopify", "fernbrook") == ("a:b:c",)
        assert secrets.of("woocommerce", "shop") == ("s2",)

    def test_the_json_form_takes_one_secret_or_two(self):
        secrets = WebhookSecrets.parse('{"shopify:fernbrook": ["new", "old"], "woocommerce:shop": "s"}')
        assert secrets.of("shopify", "fernbrook") == ("new", "old")
        assert secrets.of("woocommerce", "shop") == ("s",)

    def test_empty_means_no_account_accepts_webhooks(self):
        assert WebhookSecrets.parse("").accounts() == []

    @pytest.mark.parametrize("text", [
        "shopify:fernbrook", "ebay:acct:s3cr3t-value", '{"shopify": "s3cr3t-value"}', "{bad json s3cr3t-value",
        "shopify:a:s3cr3t-value,shopify:a:s3cr3t-value2,shopify:a:s3cr3t-value3",
    ])
    def test_a_bad_setting_is_refused_without_quoting_the_secret(self, text):
        with pytest.raises(ValueError) as refused:
            WebhookSecrets.parse(text)
        assert "s3cr3t" not in str(refused.value)

    def test_the_repr_shows_accounts_not_secrets(self, webhook_secrets):
        assert SHOPIFY_SECRET not in repr(webhook_secrets) and "fernbrook" in repr(webhook_secrets)

    def test_settings_keep_the_secrets_hidden(self, monkeypatch):
        monkeypatch.setenv("INGEST_WEBHOOK_SECRETS", f"shopify:fernbrook:{SHOPIFY_SECRET}")
        settings = Settings(KAFKA_BOOTSTRAP_SERVERS="k:9092", MONGODB_URL="mongodb://m", OMS_API_KEYS="ops:x" * 3)
        assert SHOPIFY_SECRET not in repr(settings) and SHOPIFY_SECRET not in settings.model_dump_json()
        assert settings.parsed_webhook_secrets().of("shopify", "fernbrook") == (SHOPIFY_SECRET,)
        assert settings.woocommerce_statuses() == ("processing", "on-hold")

    def test_a_malformed_setting_stops_startup_without_printing_it(self, monkeypatch):
        monkeypatch.setenv("INGEST_WEBHOOK_SECRETS", "shopify:s3cr3t-without-account")
        with pytest.raises(ValidationError) as refused:
            Settings(KAFKA_BOOTSTRAP_SERVERS="k:9092", MONGODB_URL="mongodb://m", OMS_API_KEYS="ops:x" * 3)
        assert "webhook_secrets" in str(refused.value) and "s3cr3t" not in str(refused.value)
