"""Drives Settle's Omise emulator with Omise's official Python SDK (omise on PyPI), unchanged but for its base URLs.

Usage: python3 omise_sdk.py <emulator base URL> <secret key> <public key>. Prints "ok" and exits 0 when every call
behaved as Omise documents it; raises otherwise.
"""
import sys

import omise

base, omise.api_secret, omise.api_public = sys.argv[1], sys.argv[2], sys.argv[3]
omise.api_main = base.rstrip("/") + "/"
omise.api_vault = base.rstrip("/") + "/"

token = omise.Token.create(
    name="Somchai Prasert", number="4242424242424242", expiration_month=10, expiration_year=2031, security_code=123
)
assert token.id.startswith("tokn_"), token.id
assert token.card.last_digits == "4242" and token.used is False
assert omise.Token.retrieve(token.id).id == token.id

charge = omise.Charge.create(amount=150000, currency="thb", card=token.id, return_uri="https://shop.example/back")
assert charge.status == "successful" and charge.paid, charge.status
assert omise.Charge.retrieve(charge.id).amount == 150000

refund = charge.refund(amount=5000)
assert refund.id.startswith("rfnd_") and refund.amount == 5000
assert charge.refunded_amount == 5000, charge.refunded_amount

try:
    omise.Charge.create(amount=150000, currency="thb", card=token.id, return_uri="https://shop.example/back")
    raise AssertionError("a used token was charged twice")
except omise.errors.UsedTokenError:
    pass

declined = omise.Charge.create(
    amount=150000, currency="thb", return_uri="https://shop.example/back",
    card=omise.Token.create(name="A", number="4000000000000002", expiration_month=1, expiration_year=2031, security_code=1).id,
)
assert declined.status == "failed" and declined.failure_code == "insufficient_fund", declined.status

secure = omise.Charge.create(
    amount=150000, currency="thb", return_uri="https://shop.example/back",
    card=omise.Token.create(name="A", number="4000000000003063", expiration_month=1, expiration_year=2031, security_code=1).id,
)
assert secure.status == "pending" and secure.authorize_uri.startswith(base), secure.authorize_uri

source = omise.Source.create(type="promptpay", amount=150000, currency="thb")
assert source.id.startswith("src_") and source.type == "promptpay"
promptpay = omise.Charge.create(amount=150000, currency="thb", source=source.id, return_uri="https://shop.example/back")
assert promptpay.status == "pending"
assert promptpay.source.scannable_code.image.download_uri.startswith(base)

try:
    omise.Charge.retrieve("chrg_test_nothing")
    raise AssertionError("an unknown charge was found")
except omise.errors.NotFoundError:
    pass

try:
    omise.Token.create(name="A", number="4242424242424241", expiration_month=1, expiration_year=2031, security_code=1)
    raise AssertionError("a number failing Luhn was tokenized")
except omise.errors.InvalidCardError:
    pass

omise.api_secret = "skey_test_wrong_key_123456"
try:
    omise.Charge.retrieve(charge.id)
    raise AssertionError("a wrong key was accepted")
except omise.errors.AuthenticationFailureError:
    pass

print("ok")
