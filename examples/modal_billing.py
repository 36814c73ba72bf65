"""The Modal billing agent, with keybrake: each invocation gets its own short-lived, capped vault key.

Runs as a Modal app when `modal` is installed (`modal run modal_billing.py`), or as a plain script against
any keybrake (`python3 modal_billing.py`, defaults to local mode on http://127.0.0.1:8787).
The Stripe secret never reaches this code: only KEYBRAKE_API_KEY, the issuer token, does.
Needs Python 3 with stripe and httpx: `pip install stripe httpx` (Debian: apt-get install python3-stripe python3-httpx).
"""
import os

import httpx
import stripe

KEYBRAKE_URL = os.environ.get("KEYBRAKE_URL", "http://127.0.0.1:8787")


def charge_customer(customer_id: str, amount_cents: int) -> dict:
    # Issue a short-lived vault key for this invocation only.
    r = httpx.post(
        f"{KEYBRAKE_URL}/vault/keys",
        headers={"Authorization": f"Bearer {os.environ['KEYBRAKE_API_KEY']}"},
        json={
            "vendor": "stripe",
            "daily_usd_cap": 50.0,  # cap per invocation
            "allowed_endpoints": ["POST /v1/payment_intents"],
            "expires_in": "5m",  # short: the function runs in seconds
            "agent_run_label": f"modal-billing/{customer_id}",
        },
    )
    r.raise_for_status()
    vault_key = r.json()["vault_key"]

    stripe.api_key = vault_key
    stripe.api_base = f"{KEYBRAKE_URL}/stripe"
    return stripe.PaymentIntent.create(
        amount=amount_cents,
        currency="usd",
        customer=customer_id,
        idempotency_key=f"modal-{customer_id}-{amount_cents}",
    )


try:  # On Modal: one vault key per invocation, however wide the .map() fans out.
    import modal

    app = modal.App("billing-agent")
    charge_customer = app.function(secrets=[modal.Secret.from_name("keybrake-secret")])(charge_customer)

    @app.local_entrypoint()
    def main():
        customer_ids = ["cus_123", "cus_456"]
        print(list(charge_customer.map(customer_ids, kwargs={"amount_cents": 2999})))
except ImportError:
    pass


if __name__ == "__main__":
    # Without Modal: one charge inside the cap, then a data bug (a 9,999.00 USD charge) that hits it.
    print("charged", charge_customer("cus_123", 2999)["id"])
    try:
        charge_customer("cus_456", 999900)
    except stripe.error.RateLimitError as e:
        print("refused by keybrake:", e.http_status, e.json_body["error"]["code"])
