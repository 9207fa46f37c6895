"""Drives Settle's PayPal emulator with PayPal's official Python server SDK (paypal-server-sdk 2.4.0 on PyPI), unchanged
but for its base URL.

Usage: python3 paypal_sdk.py <emulator base URL> <client id> <client secret>. Prints "ok" and exits 0 when every call
behaved as PayPal documents it; raises otherwise.
"""
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

from paypalserversdk.configuration import Configuration, Environment, Server

base, client_id, client_secret = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]

# The SDK only knows its two fixed hosts (Configuration.environments, read by get_base_uri): point the sandbox entry
# at the emulator. This is the only change; everything below is the SDK as published.
Configuration.environments[Environment.SANDBOX] = {Server.DEFAULT: base}

from paypalserversdk.exceptions.error_exception import ErrorException  # noqa: E402
from paypalserversdk.exceptions.o_auth_provider_exception import OAuthProviderException  # noqa: E402
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials  # noqa: E402
from paypalserversdk.models.amount_with_breakdown import AmountWithBreakdown  # noqa: E402
from paypalserversdk.models.checkout_payment_intent import CheckoutPaymentIntent  # noqa: E402
from paypalserversdk.models.money import Money  # noqa: E402
from paypalserversdk.models.order_request import OrderRequest  # noqa: E402
from paypalserversdk.models.payment_source import PaymentSource  # noqa: E402
from paypalserversdk.models.paypal_wallet import PaypalWallet  # noqa: E402
from paypalserversdk.models.paypal_wallet_experience_context import PaypalWalletExperienceContext  # noqa: E402
from paypalserversdk.models.purchase_unit_request import PurchaseUnitRequest  # noqa: E402
from paypalserversdk.models.refund_request import RefundRequest  # noqa: E402
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient  # noqa: E402


def client(secret):
    return PaypalServersdkClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(o_auth_client_id=client_id, o_auth_client_secret=secret),
        environment=Environment.SANDBOX,
    )


def issues(error):
    return [detail.issue for detail in (error.details or [])]


def order_request(currency="USD", value="10.00", custom_id="pay_sdk_1"):
    return OrderRequest(
        intent=CheckoutPaymentIntent.CAPTURE,
        purchase_units=[
            PurchaseUnitRequest(
                amount=AmountWithBreakdown(currency_code=currency, value=value),
                custom_id=custom_id,
                invoice_id="INV-" + uuid.uuid4().hex[:12],
                reference_id="order-sdk",
            )
        ],
        payment_source=PaymentSource(
            paypal=PaypalWallet(
                experience_context=PaypalWalletExperienceContext(
                    return_url="https://shop.example/return", cancel_url="https://shop.example/cancel", user_action="PAY_NOW"
                )
            )
        ),
    )


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def approve_like_a_buyer(link):
    """GETs the approval page, then POSTs its form's Approve button; answers the 303's Location."""
    page = urllib.request.urlopen(link).read().decode()
    assert 'value="approve"' in page, page
    token = urllib.parse.parse_qs(urllib.parse.urlparse(link).query)["token"][0]
    form = urllib.parse.urlencode({"token": token, "action": "approve"}).encode()
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(urllib.request.Request(base + "/checkoutnow?token=" + token, data=form, method="POST"))
        raise AssertionError("approving did not redirect")
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 303, redirect.code
        return redirect.headers["Location"]


sdk = client(client_secret)

# OAuth 2 client credentials, through the SDK's own auth manager.
token = sdk.oauth_2.fetch_token()
assert token.token_type == "Bearer" and token.access_token and token.expires_in > 0, vars(token)
try:
    client("not-the-secret").oauth_2.fetch_token()
    raise AssertionError("a wrong client secret got a token")
except OAuthProviderException as error:
    assert error.response_code == 401 and error.error == "invalid_client", error

# Create (idempotent on PayPal-Request-Id), then read.
request_id = str(uuid.uuid4())
created = sdk.orders.create_order({"body": order_request(), "paypal_request_id": request_id, "prefer": "return=representation"})
assert created.status_code == 201, created.status_code
order = created.body
assert len(order.id) == 17 and order.id.isalnum() and order.id.upper() == order.id, order.id
assert order.status == "PAYER_ACTION_REQUIRED", order.status
assert order.purchase_units[0].custom_id == "pay_sdk_1" and order.purchase_units[0].amount.value == "10.00"
payer_action = next(link.href for link in order.links if link.rel == "payer-action")
assert payer_action.startswith(base + "/checkoutnow?token=" + order.id), payer_action
again = sdk.orders.create_order({"body": order_request(), "paypal_request_id": request_id, "prefer": "return=representation"})
assert again.status_code == 200 and again.body.id == order.id, (again.status_code, again.body.id)
read = sdk.orders.get_order({"id": order.id}).body
assert read.status == "PAYER_ACTION_REQUIRED" and read.purchase_units[0].amount.currency_code == "USD"

# Not approved yet: no capture.
try:
    sdk.orders.capture_order({"id": order.id, "paypal_request_id": str(uuid.uuid4())})
    raise AssertionError("an unapproved order was captured")
except ErrorException as error:
    assert error.response_code == 422 and issues(error) == ["ORDER_NOT_APPROVED"], error

# The buyer approves on the emulator's page and comes back with token and PayerID.
back = urllib.parse.urlparse(approve_like_a_buyer(payer_action))
query = urllib.parse.parse_qs(back.query)
assert back.netloc == "shop.example" and back.path == "/return", back
assert query["token"] == [order.id] and query["PayerID"][0], query
assert sdk.orders.get_order({"id": order.id}).body.status == "APPROVED"

# Capture; the same request id replays it, another one is refused.
capture_request_id = str(uuid.uuid4())
captured = sdk.orders.capture_order({"id": order.id, "paypal_request_id": capture_request_id, "prefer": "return=representation"})
assert captured.status_code == 201, captured.status_code
assert captured.body.status == "COMPLETED", captured.body.status
capture = captured.body.purchase_units[0].payments.captures[0]
assert capture.status == "COMPLETED" and capture.amount.value == "10.00" and capture.custom_id == "pay_sdk_1", vars(capture)
replayed = sdk.orders.capture_order({"id": order.id, "paypal_request_id": capture_request_id})
assert replayed.status_code == 200 and replayed.body.purchase_units[0].payments.captures[0].id == capture.id
try:
    sdk.orders.capture_order({"id": order.id, "paypal_request_id": str(uuid.uuid4())})
    raise AssertionError("an order was captured twice")
except ErrorException as error:
    assert error.response_code == 422 and issues(error) == ["ORDER_ALREADY_CAPTURED"], error
fetched = sdk.payments.get_captured_payment({"capture_id": capture.id}).body
assert fetched.id == capture.id and fetched.status == "COMPLETED" and fetched.supplementary_data.related_ids.order_id == order.id

# A partial refund, then reading it; more than what is left is refused.
refunded = sdk.payments.refund_captured_payment({
    "capture_id": capture.id,
    "body": RefundRequest(amount=Money(currency_code="USD", value="2.50"), note_to_payer="Partial refund"),
    "paypal_request_id": str(uuid.uuid4()),
    "prefer": "return=representation",
})
assert refunded.status_code == 201 and refunded.body.status == "COMPLETED", refunded.status_code
assert refunded.body.amount.value == "2.50" and refunded.body.amount.currency_code == "USD"
refund = sdk.payments.get_refund({"refund_id": refunded.body.id}).body
assert refund.id == refunded.body.id and refund.status == "COMPLETED" and refund.amount.value == "2.50"
assert sdk.payments.get_captured_payment({"capture_id": capture.id}).body.status == "PARTIALLY_REFUNDED"
try:
    sdk.payments.refund_captured_payment({
        "capture_id": capture.id, "body": RefundRequest(amount=Money(currency_code="USD", value="7.51")),
        "paypal_request_id": str(uuid.uuid4()),
    })
    raise AssertionError("more than the capture was refunded")
except ErrorException as error:
    assert error.response_code == 422 and issues(error) == ["REFUND_AMOUNT_EXCEEDED"], error

# Amounts are checked as PayPal checks them.
for currency, value, expected in [("JPY", "1000.00", "DECIMAL_PRECISION"), ("USD", "10.001", "DECIMAL_PRECISION"),
                                  ("KWD", "1.000", "CURRENCY_NOT_SUPPORTED")]:
    try:
        sdk.orders.create_order({"body": order_request(currency, value), "paypal_request_id": str(uuid.uuid4())})
        raise AssertionError(f"{value} {currency} was accepted")
    except ErrorException as error:
        assert error.response_code == 422 and issues(error) == [expected], (currency, value, error)
assert sdk.orders.create_order({"body": order_request("JPY", "1000"), "paypal_request_id": str(uuid.uuid4())}).body.status \
    == "PAYER_ACTION_REQUIRED"

try:
    sdk.orders.get_order({"id": "0000000000000000X"})
    raise AssertionError("an unknown order was found")
except ErrorException as error:
    assert error.response_code == 404 and error.name == "RESOURCE_NOT_FOUND", error

print("ok")
